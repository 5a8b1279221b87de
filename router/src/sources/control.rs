//! The control plane as a route source, and the router's reports to it.
//!
//! - **Route stream**: `GET /v1/routes?watch=true` (server-sent events, see
//!   [`RouteEvent`]). The first event is a snapshot, or the changes since the version the
//!   router resumes from (`Last-Event-ID`). Apps from it are owned by [`Source::Control`],
//!   so a snapshot replaces exactly them. On any error the client reconnects with backoff
//!   and resumes; once connected again it converges to the control plane's state.
//! - **Activity**: every `activity_interval`, and as soon as a route event has been
//!   applied, a report (`POST /v1/router/activity`): the requests each app served since
//!   the last one (the control plane puts idle apps to sleep), this router's id (random
//!   per start) and the route version it has applied (the control plane stops old
//!   processes only once every router reporting to it has applied the routes that left
//!   them). The report is also the router's heartbeat: it is sent even without traffic.
//! - **Wake**: a request for a sleeping app makes the router `POST /v1/apps/{app}/wake`
//!   (at most once per app every few seconds) and hold the request until the app has
//!   endpoints (`stack/wake.rs`).
//!
//! No call can hang: each opens its own connection within `control.connect_timeout` and
//! must be answered within `control.response_timeout` (the route stream's head; a small
//! call's whole response); a route stream then silent for 30 s is reopened. A call that
//! gives up closes its connection, logs why and counts
//! `slipway_router_control_errors_total{call, reason}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::ControlConfig;
use crate::metrics::Metrics;
use crate::shared::{ControlPlaneLink, WakeError};
use crate::spec::{ACTIVITY_PATH, Activity, ROUTES_PATH, RouteEvent, WAKE_PATH};
use crate::table::update::{Change, RouteWriter, UpdateError};
use crate::table::{Routes, Source};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A stream with no bytes for this long (the control plane sends comments every few
/// seconds) is considered dead and reopened.
const STREAM_SILENCE: Duration = Duration::from_secs(30);
/// Largest body read from an answer to a call or from an error status (they are a few
/// bytes of JSON); a longer one fails the call.
const MAX_REPLY: usize = 64 * 1024;
/// Shortest gap between two reports sent because route events were applied (a burst of
/// events makes one report, not one per event).
const MIN_ACK_GAP: Duration = Duration::from_millis(50);

/// Talks to the control plane.
#[derive(Debug)]
pub struct ControlPlane {
    base: Uri,
    token: Option<String>,
    /// Bounds opening the connection of every call.
    connect_timeout: Duration,
    /// Bounds the answer to every call (the route stream's head, a small call's response).
    response_timeout: Duration,
    metrics: Arc<Metrics>,
    /// Set once the first snapshot (or resumed changes) has been applied.
    synced: AtomicBool,
    /// Version of the last event applied (0: none).
    version: AtomicU64,
    /// This router's id in activity reports: random, new at every start.
    id: String,
    /// Notified after each applied event, so the next report goes out at once.
    applied: tokio::sync::Notify,
}

/// Which call to the control plane failed: the `call` label of
/// `slipway_router_control_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    RouteStream,
    Activity,
    Wake,
}

impl Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::RouteStream => "route_stream",
            Call::Activity => "activity",
            Call::Wake => "wake",
        }
    }
}

/// A failed exchange with the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The TCP connection could not be opened.
    #[error("connect {addr}: {source}")]
    Connect {
        /// The control plane's address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TCP connection was not open within `control.connect_timeout`.
    #[error("connect {addr}: no connection after {after:?} (control.connect_timeout)")]
    ConnectTimeout {
        /// The control plane's address.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// The control plane accepted the call but did not answer within
    /// `control.response_timeout`.
    #[error("{path}: no response after {after:?} (control.response_timeout)")]
    ResponseTimeout {
        /// What was asked.
        path: String,
        /// The timeout.
        after: Duration,
    },
    /// Network or HTTP error.
    #[error("{0}")]
    Http(String),
    /// The control plane answered with an unexpected status.
    #[error("{path}: status {status}: {body}")]
    Status {
        /// What was asked.
        path: String,
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The route stream sent nothing, not even a heartbeat, for this long.
    #[error("route stream: no data for {0:?}")]
    Silence(Duration),
    /// An event could not be parsed.
    #[error("bad event from the control plane: {0}")]
    BadEvent(String),
}

impl ControlError {
    /// The `reason` label of `slipway_router_control_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            ControlError::Connect { .. } => "connect",
            ControlError::ConnectTimeout { .. } => "connect_timeout",
            ControlError::ResponseTimeout { .. } => "response_timeout",
            ControlError::Http(_) => "http",
            ControlError::Status { .. } => "status",
            ControlError::Silence(_) => "stream_silence",
            ControlError::BadEvent(_) => "bad_event",
        }
    }
}

/// The task driving one connection to the control plane; dropping it closes the
/// connection, so a call that gave up (timeout, error, end of stream) never leaves one
/// open behind it.
struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ControlPlane {
    /// A client for `config` (already validated).
    pub fn new(config: &ControlConfig, metrics: Arc<Metrics>) -> Option<Arc<ControlPlane>> {
        let base: Uri = config.url.as_deref()?.parse().ok()?;
        Some(Arc::new(ControlPlane {
            base,
            token: config.token.clone(),
            connect_timeout: config.connect_timeout,
            response_timeout: config.response_timeout,
            metrics,
            synced: AtomicBool::new(false),
            version: AtomicU64::new(0),
            id: format!("router-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            applied: tokio::sync::Notify::new(),
        }))
    }

    /// Whether the routes have been loaded from the control plane at least once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Version of the last route event applied.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Opens a new connection, within `connect_timeout`.
    async fn connect(&self) -> Result<(SendRequest<Full<Bytes>>, Connection), ControlError> {
        let authority = self.base.authority().ok_or_else(|| ControlError::Http("control.url has no host".into()))?;
        let addr = || authority.to_string();
        let stream = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(authority.as_str())).await {
            Err(_) => return Err(ControlError::ConnectTimeout { addr: addr(), after: self.connect_timeout }),
            Ok(Err(source)) => return Err(ControlError::Connect { addr: addr(), source }),
            Ok(Ok(stream)) => stream,
        };
        stream.set_nodelay(true).map_err(|e| ControlError::Http(e.to_string()))?;
        let (sender, driver) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| ControlError::Http(format!("handshake with {authority}: {e}")))?;
        let connection = Connection(tokio::spawn(async move {
            let _ = driver.await;
        }));
        Ok((sender, connection))
    }

    /// One request, with `Last-Event-ID` when `last_event_id` is given (resuming the route
    /// stream).
    fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        accept: &str,
        last_event_id: Option<u64>,
    ) -> Result<Request<Full<Bytes>>, ControlError> {
        let authority = self.base.authority().map_or("", |a| a.as_str());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, accept)
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(version) = last_event_id {
            req = req.header("last-event-id", version.to_string());
        }
        req.body(Full::new(body)).map_err(|e| ControlError::Http(e.to_string()))
    }

    /// Sends `req` and waits for a successful response head (an error status reads the
    /// start of the body for the message). The caller bounds it.
    async fn exchange(
        sender: &mut SendRequest<Full<Bytes>>,
        path: &str,
        req: Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, ControlError> {
        let response = sender.send_request(req).await.map_err(|e| ControlError::Http(format!("{path}: {e}")))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_REPLY).collect().await;
            let body = body.map(|b| b.to_bytes()).unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(ControlError::Status { path: path.to_owned(), status, body });
        }
        Ok(response)
    }

    fn response_timeout(&self, path: &str) -> ControlError {
        ControlError::ResponseTimeout { path: path.to_owned(), after: self.response_timeout }
    }

    /// Opens the route stream: resolves at its response head, within `connect_timeout` +
    /// `response_timeout`. The returned [`Connection`] must be kept while the body is read.
    async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<u64>,
    ) -> Result<(Incoming, Connection), ControlError> {
        let (mut sender, connection) = self.connect().await?;
        let req = self.request(Method::GET, path, Bytes::new(), "text/event-stream", last_event_id)?;
        let head = Self::exchange(&mut sender, path, req);
        let response =
            tokio::time::timeout(self.response_timeout, head).await.map_err(|_| self.response_timeout(path))??;
        Ok((response.into_body(), connection))
    }

    /// A `POST` answered by one small response (activity report, wake call): connecting
    /// within `connect_timeout`, then the whole response within `response_timeout`.
    /// Failures are counted by `call` and reason.
    async fn call(&self, call: Call, path: &str, body: Bytes) -> Result<Bytes, ControlError> {
        let result = async {
            let (mut sender, _connection) = self.connect().await?;
            let req = self.request(Method::POST, path, body, "application/json", None)?;
            let answered = async {
                let response = Self::exchange(&mut sender, path, req).await?;
                let body = Limited::new(response.into_body(), MAX_REPLY).collect().await;
                body.map(|b| b.to_bytes()).map_err(|e| ControlError::Http(format!("{path}: reading the answer: {e}")))
            };
            tokio::time::timeout(self.response_timeout, answered).await.map_err(|_| self.response_timeout(path))?
        }
        .await;
        if let Err(e) = &result {
            self.count(call, e);
        }
        result
    }

    fn count(&self, call: Call, e: &ControlError) {
        self.metrics.control_errors.with_label_values(&[call.as_str(), e.reason()]).inc();
    }

    /// Asks the control plane to wake `app`.
    pub async fn wake(&self, app: &str) -> Result<(), ControlError> {
        let path = WAKE_PATH.replace("{app}", app);
        self.call(Call::Wake, &path, Bytes::new()).await.map(drop)
    }

    /// Follows the route stream forever, reconnecting with backoff. While it is down the
    /// table keeps the routes it had.
    pub(crate) async fn follow(self: Arc<Self>, writer: RouteWriter) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow_once(&writer, &mut backoff).await {
                Ok(()) => tracing::info!("route stream ended; reconnecting"),
                Err(e) => {
                    self.count(Call::RouteStream, &e);
                    tracing::warn!(error = %e, reason = e.reason(), retry_in = ?backoff, "route stream failed; reconnecting");
                }
            }
            self.metrics.control_reconnects.inc();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn follow_once(&self, writer: &RouteWriter, backoff: &mut Duration) -> Result<(), ControlError> {
        let path = format!("{ROUTES_PATH}?watch=true");
        let version = self.version();
        let last_event_id = (version > 0).then_some(version);
        // Dropping `_connection` (any return below) closes the connection.
        let (mut body, _connection) = self.open_stream(&path, last_event_id).await?;
        tracing::info!(resume_from = version, "following the control plane's route stream");
        let mut buffer = BytesMut::new();
        loop {
            let frame = match tokio::time::timeout(STREAM_SILENCE, body.frame()).await {
                Err(_) => return Err(ControlError::Silence(STREAM_SILENCE)),
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => frame.map_err(|e| ControlError::Http(format!("route stream: {e}")))?,
            };
            let Some(data) = frame.data_ref() else { continue };
            buffer.extend_from_slice(data);
            while let Some(event) = next_event(&mut buffer) {
                let Some(data) = event else { continue };
                let event: RouteEvent =
                    serde_json::from_str(&data).map_err(|e| ControlError::BadEvent(format!("{e}: {data:.200}")))?;
                self.apply(event, writer).await;
                *backoff = Duration::from_millis(100);
            }
        }
    }

    async fn apply(&self, event: RouteEvent, writer: &RouteWriter) {
        let version = event.version();
        let kind = event.kind();
        let change = match event {
            RouteEvent::Snapshot { apps, .. } => Change::Replace { version: None, apps },
            RouteEvent::Upsert { app, .. } => Change::Upsert(app),
            RouteEvent::Remove { name, .. } => Change::Remove(name),
        };
        match writer.apply(Source::Control, change).await {
            Ok(_) | Err(UpdateError::NotFound(_)) => {}
            Err(e) => {
                // The control plane validates with the same rules, so this is a bug or a
                // version skew; keep following, and say so loudly.
                self.metrics.control_refused.inc();
                tracing::error!(event = kind, version, error = %e, "route event from the control plane refused");
            }
        }
        self.version.store(version, Ordering::Release);
        self.synced.store(true, Ordering::Release);
        self.applied.notify_one();
    }

    /// Reports per-app request counts and the applied route version every `interval`,
    /// and soon after each applied route event, forever.
    pub(crate) async fn report_activity(self: Arc<Self>, routes: Arc<Routes>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: BTreeMap<String, u64> = BTreeMap::new();
        // Set once a control plane refused the newer fields (an older one): reports then
        // carry only the counts.
        let mut counts_only = false;
        let mut last_ack = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.applied.notified() => {
                    tokio::time::sleep_until(last_ack + MIN_ACK_GAP).await;
                    last_ack = tokio::time::Instant::now();
                }
            }
            // O(apps): one atomic swap per app.
            for app in routes.snapshot().apps() {
                let served = app.take_served();
                if served > 0 {
                    *pending.entry(app.name.to_string()).or_default() += served;
                }
            }
            if counts_only && pending.is_empty() {
                continue;
            }
            let mut report = Activity { apps: pending.clone(), router: None, routes_version: None };
            if !counts_only {
                report.router = Some(self.id.clone());
                report.routes_version = self.is_synced().then(|| self.version());
            }
            let body = serde_json::to_vec(&report).unwrap_or_default();
            match self.call(Call::Activity, ACTIVITY_PATH, Bytes::from(body)).await {
                Ok(_) => pending.clear(),
                Err(ControlError::Status { status: StatusCode::BAD_REQUEST, body, .. })
                    if !counts_only && body.contains("unknown field") =>
                {
                    tracing::warn!(
                        "the control plane does not take route versions in activity reports (an older \
                         version): sending request counts only; its release switches cannot wait for this router"
                    );
                    counts_only = true;
                }
                // Kept and sent with the next report.
                Err(e) => tracing::warn!(error = %e, "activity report failed"),
            }
        }
    }
}

/// The request path's view of the control plane (see `shared.rs`): off the hot path only.
impl ControlPlaneLink for ControlPlane {
    fn is_synced(&self) -> bool {
        ControlPlane::is_synced(self)
    }

    fn wake<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), WakeError>> {
        Box::pin(async move { ControlPlane::wake(self, app).await.map_err(WakeError::from) })
    }
}

/// Takes one complete server-sent event off the front of `buffer`: `Some(Some(data))` for
/// an event with data, `Some(None)` for a comment or an event without data, `None` when
/// no complete event is buffered. Line endings may be LF or CRLF.
fn next_event(buffer: &mut BytesMut) -> Option<Option<String>> {
    let (end, sep) = find_blank_line(buffer)?;
    let raw = buffer.split_to(end);
    buffer.advance(sep);
    let text = String::from_utf8_lossy(&raw);
    let mut data: Option<String> = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    Some(data)
}

/// Position and length of the first blank line (`\n\n` or `\r\n\r\n`).
fn find_blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests;
