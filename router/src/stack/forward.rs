//! Forwarding a routed request to one of its app's endpoints.
//!
//! 1. Pick an endpoint (`upstream/balance.rs`), take a pooled connection or open one.
//! 2. A connect failure marks the endpoint (ejected after N in a row) and the request
//!    moves to another endpoint, at most `upstream.retries` times. The request has not
//!    been handed over yet, so its streaming body is intact.
//! 3. A pooled connection that turns out closed before the request was written gives the
//!    request back (hyper's `try_send_request`); it is sent on a fresh connection.
//! 4. Once written, a request is retried only in the keep-alive race: a bodiless GET, HEAD
//!    or OPTIONS sent on a connection that sat idle in the pool (≥ 250 ms) and that the
//!    app closed before answering anything (it timed the connection out as we wrote)
//!    goes once more on a fresh connection. Anything else that fails after being written answers 502 (it may not be
//!    idempotent); a missing response head after the app's timeout answers 504. That
//!    timeout runs from when the request body was sent whole (`deadline.rs`).
//! 5. The response streams back; its connection returns to the pool when read to the end.
//!    A `101 Switching Protocols` becomes a byte tunnel between client and upstream, for
//!    the protocols `clients.upgrades` allows (WebSocket by default). A request asking for
//!    another one (`h2c`: upgrade smuggling) goes upstream as a plain request, without
//!    its `Upgrade` and `Connection: upgrade`, and a `101` to a protocol not allowed is
//!    a 502.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::config::Clients;
use crate::downstream::body::RequestBody;
use crate::downstream::upgrade;
use crate::lines::Code;
use crate::metrics::AppMetrics;
use crate::shared::Shared;
use crate::stack::body::{Lease, ProxyBody};
use crate::stack::deadline::{self, Late};
use crate::stack::error_page::Problem;
use crate::stack::request::{Meta, Routed};
use crate::stack::wake::NotAwake;
use crate::table::{App, AppState};
use crate::upstream::balance::{self, Tried};
use crate::upstream::endpoint::{Endpoint, InFlight};
use crate::upstream::pool::{self, Conn, ConnectError};

/// How many pooled connections found closed at send time are replaced by new ones
/// before that counts as a failed attempt.
const MAX_STALE: usize = 4;

/// A pooled connection idle for less than this cannot be in the keep-alive race (apps
/// time idle connections out after seconds: Node.js 5 s, gunicorn 2 s), so a request on
/// it is not copied for a resend. Busy apps reuse connections well within it.
const RACE_IDLE: Duration = Duration::from_millis(250);

/// The innermost service: sends the request upstream.
#[derive(Debug, Clone)]
pub(crate) struct Forward {
    pub(crate) shared: Arc<Shared>,
    /// Tunnels of upgraded connections, waited for on shutdown.
    pub(crate) tunnels: TaskTracker,
}

type ForwardFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

impl Service<Routed> for Forward {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ForwardFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, routed: Routed) -> ForwardFuture {
        Box::pin(forward(self.shared.clone(), self.tunnels.clone(), routed))
    }
}

async fn forward(shared: Arc<Shared>, tunnels: TaskTracker, routed: Routed) -> Result<Response<ProxyBody>, Infallible> {
    let Routed { req, app, mut state, meta } = routed;
    let received = SystemTime::now();
    let mut woken = None;
    if state.endpoints.is_empty() && state.spec.options.sleeping {
        let waiting = Instant::now();
        match crate::stack::wake::wait_awake(&shared, &app).await {
            Ok(awake) => {
                state = awake;
                woken = Some(u64::try_from(waiting.elapsed().as_millis()).unwrap_or(u64::MAX));
            }
            Err(NotAwake { problem, wake_failed: true }) => return Ok(meta.problem_coded(problem, Code::S11)),
            Err(NotAwake { problem, .. }) => return Ok(meta.problem(problem)),
        }
    }
    let mut response = forward_awake(&shared, &tunnels, req, &app, &state, &meta, received).await;
    if let Some(ms) = woken {
        let note = response.body_mut().note_mut();
        note.woken(ms);
        note.code = note.code.or(Some(Code::S10));
    }
    Ok(response)
}

/// Forwards a request of an app that has endpoints (or answers for it).
async fn forward_awake(
    shared: &Arc<Shared>,
    tunnels: &TaskTracker,
    mut req: Request<Incoming>,
    app: &Arc<App>,
    state: &AppState,
    meta: &Meta,
    received: SystemTime,
) -> Response<ProxyBody> {
    if state.endpoints.is_empty() {
        return meta.problem(Problem::NoEndpoints);
    }
    // When the request went to an app connection, for the router line's `connect=`.
    let lines = shared.lines.is_some();
    let config = &shared.config;
    let upgrade = allowed_upgrade(req.headers(), &config.clients, &app.name);
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    prepare_request(&mut req, meta, upgrade, received);
    let mut req = req.map(|body| RequestBody::new(body, meta.conn.clone()));
    let upload = req.body().upload();

    let metrics = app.metrics(&shared.metrics);
    let mut tried = Tried::default();
    let mut attempts_left = config.upstream.retries;
    let mut stale = 0;
    let mut failure = Problem::Unreachable;
    let mut failure_code = Code::H21;
    let mut raced = false;
    loop {
        let Some(index) = balance::pick(&state.endpoints, state.balance, &app.cursor, tried) else {
            return meta.problem_coded(failure, failure_code);
        };
        let endpoint = &state.endpoints[index];
        let pooled = if raced { None } else { take_ready(endpoint, config.timeouts.upstream_idle).await };
        let (mut conn, idle) = match pooled {
            Some((conn, idle)) => (conn, Some(idle)),
            None => match pool::connect(&endpoint.addr, config.timeouts.connect).await {
                Ok(conn) => {
                    endpoint.connect_succeeded();
                    (conn, None)
                }
                Err(e) => {
                    metrics.connect_errors.inc();
                    tracing::warn!(app = %app.name, endpoint = %endpoint.addr, error = %e, "cannot connect to endpoint");
                    if endpoint.connect_failed(config.upstream.eject_after_failures) {
                        metrics.ejections.inc();
                        tracing::warn!(app = %app.name, endpoint = %endpoint.addr, "endpoint ejected");
                        crate::upstream::health::spawn_probe(&shared.runtime, &shared.config, endpoint);
                    }
                    (failure, failure_code) = if matches!(e, ConnectError::Timeout) {
                        (Problem::Timeout, Code::H19)
                    } else {
                        (Problem::Unreachable, Code::H21)
                    };
                    if !attempt_failed(&mut tried, &mut attempts_left, index, metrics) {
                        return meta.problem_coded(failure, failure_code);
                    }
                    continue;
                }
            },
        };
        let inflight = endpoint.start_request();
        let reused = idle.is_some();
        // What it takes to send the request again if the keep-alive race hits it. Never
        // after a resend: that one goes on a fresh connection, which is not racy.
        let racy = idle.is_some_and(|idle| idle >= RACE_IDLE);
        let resend = (racy && is_replayable(&req)).then(|| replay_parts(&req));
        let sent_at = lines.then(Instant::now);
        let send = conn.try_send_request(req);
        let sent =
            deadline::answer(send, upload.as_deref(), state.response_timeout, config.timeouts.request_body).await;
        match sent {
            Ok(Ok(response)) => {
                let mut response = respond(response, conn, inflight, client_upgrade, meta, tunnels, shared);
                let note = response.body_mut().note_mut();
                note.sent = sent_at;
                if lines {
                    // A tunnel's (or a refused switch's) answer has no lease to name it.
                    note.endpoint = Some(endpoint.clone());
                }
                return response;
            }
            Err(Late::App) => {
                tracing::info!(app = %app.name, endpoint = %endpoint.addr, timeout = ?state.response_timeout, "upstream response timed out");
                return noted(meta.problem(Problem::Timeout), endpoint, sent_at);
            }
            Err(Late::Client) => {
                tracing::info!(app = %app.name, client = %meta.conn.client, timeout = ?config.timeouts.request_body, "client stopped sending the request body");
                return noted(meta.problem(Problem::BodyTimeout), endpoint, sent_at);
            }
            Ok(Err(mut e)) => match e.take_message() {
                // Not written: the connection closed first. The request is whole again.
                Some(back) => {
                    req = back;
                    if reused && stale < MAX_STALE {
                        stale += 1;
                        continue;
                    }
                    (failure, failure_code) = (Problem::Unreachable, Code::H21);
                    if !attempt_failed(&mut tried, &mut attempts_left, index, metrics) {
                        return meta.problem_coded(failure, failure_code);
                    }
                }
                None => {
                    let error = e.into_error();
                    if let Some((method, uri, headers)) = resend
                        && error.is_incomplete_message()
                    {
                        tracing::debug!(app = %app.name, endpoint = %endpoint.addr, "pooled connection closed under the request; resending it");
                        let mut again = Request::new(RequestBody::empty(meta.conn.clone()));
                        *again.method_mut() = method;
                        *again.uri_mut() = uri;
                        *again.headers_mut() = headers;
                        req = again;
                        raced = true;
                        metrics.retries.inc();
                        continue;
                    }
                    if error.is_user() {
                        // The client's request body failed (bad chunking, client gone).
                        tracing::debug!(app = %app.name, error = %error, "client request body failed");
                        return noted(meta.problem(Problem::BadRequest), endpoint, sent_at);
                    }
                    tracing::info!(app = %app.name, endpoint = %endpoint.addr, error = %error, "upstream failed before responding");
                    return noted(meta.problem(Problem::BadGateway), endpoint, sent_at);
                }
            },
        }
    }
}

/// The router's answer for a request that reached `endpoint` (at `sent`), for its line.
fn noted(mut response: Response<ProxyBody>, endpoint: &Arc<Endpoint>, sent: Option<Instant>) -> Response<ProxyBody> {
    if sent.is_some() {
        let note = response.body_mut().note_mut();
        note.endpoint = Some(endpoint.clone());
        note.sent = sent;
    }
    response
}

/// Counts a failed attempt on endpoint `index`, which is not tried again. Returns false
/// when no attempt is left; otherwise the next one is counted as a retry.
fn attempt_failed(tried: &mut Tried, attempts_left: &mut u32, index: usize, metrics: &AppMetrics) -> bool {
    tried.add(index);
    if *attempts_left == 0 {
        return false;
    }
    *attempts_left -= 1;
    metrics.retries.inc();
    true
}

/// Whether a request may be sent twice: safe method and no body.
fn is_replayable(req: &Request<RequestBody>) -> bool {
    use http::Method;
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) && req.body().is_end_stream()
}

fn replay_parts(req: &Request<RequestBody>) -> (http::Method, Uri, HeaderMap) {
    (req.method().clone(), req.uri().clone(), req.headers().clone())
}

/// A pooled connection ready for a request, if there is one, and how long it was idle.
async fn take_ready(endpoint: &Endpoint, max_age: Duration) -> Option<(Conn, Duration)> {
    while let Some((mut conn, idle)) = endpoint.pool.take(max_age) {
        if conn.is_ready() || conn.ready().await.is_ok() {
            return Some((conn, idle));
        }
    }
    None
}

/// Turns the upstream response into the client's.
fn respond(
    mut response: Response<Incoming>,
    conn: Conn,
    inflight: InFlight,
    client_upgrade: Option<OnUpgrade>,
    meta: &Meta,
    tunnels: &TaskTracker,
    shared: &Arc<Shared>,
) -> Response<ProxyBody> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let protocol = response.headers().get(header::UPGRADE);
        let allowed = protocol.is_some_and(|p| shared.config.clients.allows_upgrade(p.as_bytes()));
        let (Some(client), true) = (client_upgrade, allowed) else {
            tracing::info!(protocol = ?protocol, "upstream switched protocols unasked or to one not allowed");
            return meta.problem(Problem::BadGateway);
        };
        let upstream = hyper::upgrade::on(&mut response);
        spawn_tunnel(client, upstream, tunnels, shared);
        let (mut parts, _) = response.into_parts();
        let protocol = parts.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop_but_upgrade(&mut parts.headers, protocol);
        return Response::from_parts(parts, ProxyBody::empty());
    }
    strip_hop_by_hop(response.headers_mut());
    // The client's protocol is ours to choose, not the upstream's (an HTTP/1.0 app must
    // not turn the client connection into HTTP/1.0).
    *response.version_mut() = Version::HTTP_11;
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, ProxyBody::upstream(body, Lease { conn, inflight }))
}

/// Copies bytes both ways once both sides have switched protocols.
fn spawn_tunnel(client: OnUpgrade, upstream: OnUpgrade, tunnels: &TaskTracker, shared: &Arc<Shared>) {
    let metrics = shared.metrics.clone();
    tunnels.spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        metrics.open_tunnels.inc();
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "tunnel closed with an error");
        }
        metrics.open_tunnels.dec();
    });
}

/// The protocol a request asks to upgrade to, if `clients.upgrades` allows it. A request
/// asking for another goes upstream as a plain request (its `Upgrade` and `Connection`
/// are hop-by-hop, so they are removed then).
fn allowed_upgrade(headers: &HeaderMap, clients: &Clients, app: &str) -> Option<HeaderValue> {
    let protocol = upgrade::requested(headers)?;
    if clients.allows_upgrade(protocol.as_bytes()) {
        return Some(protocol.clone());
    }
    tracing::debug!(app, protocol = ?protocol, "upgrade to a protocol not allowed: forwarded as a plain request");
    None
}

/// Rewrites the request for the upstream: origin-form URI over HTTP/1.1 with a Host,
/// hop-by-hop headers removed, forwarding headers set (`forwarded.rs`).
fn prepare_request(req: &mut Request<Incoming>, meta: &Meta, upgrade: Option<HeaderValue>, received: SystemTime) {
    if let Some(authority) = req.uri().authority().cloned() {
        // HTTP/2 or absolute-form: the authority is the host (RFC 9112 §3.2.2).
        let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let origin = Uri::try_from(path).unwrap_or_else(|_| Uri::from_static("/"));
        *req.uri_mut() = origin;
        let host = authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, h)| h);
        if let Ok(host) = HeaderValue::from_str(host) {
            req.headers_mut().insert(header::HOST, host);
        }
    }
    *req.version_mut() = Version::HTTP_11;
    let headers = req.headers_mut();
    // Room for the forwarding headers: one growth instead of several.
    headers.reserve(crate::stack::forwarded::ADDED);
    strip_hop_by_hop_but_upgrade(headers, upgrade);
    crate::stack::forwarded::set(headers, meta, received);
}

/// The hop-by-hop headers of RFC 9110 §7.6.1 (plus `Connection` itself).
static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Whether `name` is one of [`HOP_BY_HOP`]. Their lengths (2, 7, 10, 16, 17) go first:
/// most names of a request have another length and are not compared at all.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(name.as_str().len(), 2 | 7 | 10 | 16 | 17) && HOP_BY_HOP.contains(name)
}

/// `Connection` options that are not header names.
const CONNECTION_OPTIONS: [&str; 3] = ["keep-alive", "close", "upgrade"];

/// Removes the hop-by-hop headers of RFC 9110 §7.6.1, including those any `Connection`
/// line names. One pass over the names first: most messages carry none, and then nothing
/// is hashed.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !CONNECTION_OPTIONS.iter().any(|o| t.eq_ignore_ascii_case(o)))
        // Lower-cases the token.
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// [`strip_hop_by_hop`], then `Connection: upgrade` and `Upgrade: <protocol>` again when
/// the message switches protocols.
fn strip_hop_by_hop_but_upgrade(headers: &mut HeaderMap, protocol: Option<HeaderValue>) {
    strip_hop_by_hop(headers);
    if let Some(protocol) = protocol {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

#[cfg(test)]
mod tests;
