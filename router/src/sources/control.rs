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
//! Every call goes through [`ControlClient`] (`control_client.rs`), so none can hang: the
//! route stream's head and a small call's whole response are bounded by
//! `control.response_timeout`; a route stream then silent for 30 s is reopened. A call that
//! gives up closes its connection, logs why and counts
//! `slipway_router_control_errors_total{call, reason}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

pub use crate::control_client::ControlError;
use crate::control_client::{Call, Connection, ControlClient};
use crate::shared::{ControlPlaneLink, WakeError};
use crate::spec::{ACTIVITY_PATH, Activity, ROUTES_PATH, RouteEvent, WAKE_PATH};
use crate::table::update::{Change, RouteWriter, UpdateError};
use crate::table::{Routes, Source};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A stream with no bytes for this long (the control plane sends comments every few
/// seconds) is considered dead and reopened.
const STREAM_SILENCE: Duration = Duration::from_secs(30);
/// Shortest gap between two reports sent because route events were applied (a burst of
/// events makes one report, not one per event).
const MIN_ACK_GAP: Duration = Duration::from_millis(50);

/// Talks to the control plane.
#[derive(Debug)]
pub struct ControlPlane {
    client: Arc<ControlClient>,
    /// Set once the first snapshot (or resumed changes) has been applied.
    synced: AtomicBool,
    /// Version of the last event applied (0: none).
    version: AtomicU64,
    /// This router's id in activity reports: random, new at every start.
    id: String,
    /// Notified after each applied event, so the next report goes out at once.
    applied: tokio::sync::Notify,
}

impl ControlPlane {
    /// The route source over `client`.
    pub fn new(client: Arc<ControlClient>) -> Arc<ControlPlane> {
        Arc::new(ControlPlane {
            client,
            synced: AtomicBool::new(false),
            version: AtomicU64::new(0),
            id: format!("router-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            applied: tokio::sync::Notify::new(),
        })
    }

    /// Whether the routes have been loaded from the control plane at least once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Version of the last route event applied.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Opens the route stream: resolves at its response head, within `connect_timeout` +
    /// `response_timeout`. The returned [`Connection`] must be kept while the body is read.
    async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<u64>,
    ) -> Result<(Incoming, Connection), ControlError> {
        let client = &self.client;
        let (mut sender, connection) = client.connect().await?;
        let req = client.request(Method::GET, path, Bytes::new(), "text/event-stream", last_event_id)?;
        let head = ControlClient::exchange(&mut sender, path, req);
        let response =
            tokio::time::timeout(client.response_timeout(), head).await.map_err(|_| client.timed_out(path))??;
        Ok((response.into_body(), connection))
    }

    /// Asks the control plane to wake `app`.
    pub async fn wake(&self, app: &str) -> Result<(), ControlError> {
        let path = WAKE_PATH.replace("{app}", app);
        self.client.call(Call::Wake, Method::POST, &path, Bytes::new()).await.map(drop)
    }

    /// Follows the route stream forever, reconnecting with backoff. While it is down the
    /// table keeps the routes it had.
    pub(crate) async fn follow(self: Arc<Self>, writer: RouteWriter) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow_once(&writer, &mut backoff).await {
                Ok(()) => tracing::info!("route stream ended; reconnecting"),
                Err(e) => {
                    self.client.count(Call::RouteStream, &e);
                    tracing::warn!(error = %e, reason = e.reason(), retry_in = ?backoff, "route stream failed; reconnecting");
                }
            }
            self.client.metrics().control_reconnects.inc();
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
                self.client.metrics().control_refused.inc();
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
            match self.client.call(Call::Activity, Method::POST, ACTIVITY_PATH, Bytes::from(body)).await {
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
