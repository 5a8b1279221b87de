//! The HTTP client of the control plane's API (`[control]`: its URL, the router token and
//! the timeouts), shared by the route source (`sources/control.rs`: route stream, activity
//! reports, waking) and the ACME store kept in the control plane (`tls/acme/store/control.rs`).
//!
//! No call can hang: each opens its own connection within `control.connect_timeout` and
//! must be answered within `control.response_timeout`; answers are read up to
//! [`MAX_REPLY`] bytes. A call that gives up closes its connection and counts
//! `slipway_router_control_errors_total{call, reason}`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::ControlConfig;
use crate::metrics::Metrics;

/// Largest body read from an answer to a call or from an error status (a few bytes of
/// JSON, a certificate chain at most); a longer one fails the call.
pub const MAX_REPLY: usize = 64 * 1024;

/// Which call to the control plane failed: the `call` label of
/// `slipway_router_control_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// The route stream.
    RouteStream,
    /// An activity report.
    Activity,
    /// Waking a sleeping app.
    Wake,
    /// The ACME store (`acme.store.kind = "control"`).
    AcmeStore,
}

impl Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::RouteStream => "route_stream",
            Call::Activity => "activity",
            Call::Wake => "wake",
            Call::AcmeStore => "acme_store",
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
    /// An event or an answer could not be parsed.
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

    /// An unexpected `status` answering `path`, with the start of its `body`.
    pub fn status(path: &str, status: StatusCode, body: &[u8]) -> ControlError {
        let body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        ControlError::Status { path: path.to_owned(), status, body }
    }
}

/// The task driving one connection to the control plane; dropping it closes the
/// connection, so a call that gave up (timeout, error, end of stream) never leaves one
/// open behind it.
#[derive(Debug)]
pub struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The control plane's API as `[control]` configures it.
pub struct ControlClient {
    base: Uri,
    token: Option<String>,
    /// Bounds opening the connection of every call.
    connect_timeout: Duration,
    /// Bounds the answer to every call (the route stream's head, a small call's response).
    response_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for ControlClient {
    /// Without the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl ControlClient {
    /// A client for `config` (already validated), or none without `control.url`.
    pub fn new(config: &ControlConfig, metrics: Arc<Metrics>) -> Option<Arc<ControlClient>> {
        let base: Uri = config.url.as_deref()?.parse().ok()?;
        Some(Arc::new(ControlClient {
            base,
            token: config.token.clone(),
            connect_timeout: config.connect_timeout,
            response_timeout: config.response_timeout,
            metrics,
        }))
    }

    /// The router's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `control.response_timeout`.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// Opens a new connection, within `connect_timeout`.
    pub async fn connect(&self) -> Result<(SendRequest<Full<Bytes>>, Connection), ControlError> {
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

    /// One request with the router token, with `Last-Event-ID` when `last_event_id` is
    /// given (resuming the route stream).
    pub fn request(
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
    pub async fn exchange(
        sender: &mut SendRequest<Full<Bytes>>,
        path: &str,
        req: Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, ControlError> {
        let response = sender.send_request(req).await.map_err(|e| ControlError::Http(format!("{path}: {e}")))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_REPLY).collect().await;
            let body = body.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(ControlError::status(path, status, &body));
        }
        Ok(response)
    }

    /// The error of a call not answered within `response_timeout`.
    pub fn timed_out(&self, path: &str) -> ControlError {
        ControlError::ResponseTimeout { path: path.to_owned(), after: self.response_timeout }
    }

    /// A call answered by one small response, whatever its status: connecting within
    /// `connect_timeout`, then the whole response within `response_timeout`. Failures to
    /// get an answer are counted by `call` and reason; the caller judges the status.
    pub async fn send(
        &self,
        call: Call,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ControlError> {
        let result = async {
            let (mut sender, _connection) = self.connect().await?;
            let req = self.request(method, path, body, "application/json", None)?;
            let answered = async {
                let response =
                    sender.send_request(req).await.map_err(|e| ControlError::Http(format!("{path}: {e}")))?;
                let status = response.status();
                let body = Limited::new(response.into_body(), MAX_REPLY).collect().await;
                let body = body
                    .map(|b| b.to_bytes())
                    .map_err(|e| ControlError::Http(format!("{path}: reading the answer: {e}")))?;
                Ok((status, body))
            };
            tokio::time::timeout(self.response_timeout, answered).await.map_err(|_| self.timed_out(path))?
        }
        .await;
        if let Err(e) = &result {
            self.count(call, e);
        }
        result
    }

    /// [`send`](Self::send), where any status but a success is an error (counted).
    pub async fn call(&self, call: Call, method: Method, path: &str, body: Bytes) -> Result<Bytes, ControlError> {
        let (status, body) = self.send(call, method, path, body).await?;
        if !status.is_success() {
            let e = ControlError::status(path, status, &body);
            self.count(call, &e);
            return Err(e);
        }
        Ok(body)
    }

    /// Counts a failed `call`.
    pub fn count(&self, call: Call, e: &ControlError) {
        self.metrics.control_errors.with_label_values(&[call.as_str(), e.reason()]).inc();
    }
}
