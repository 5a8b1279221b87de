//! The outermost layer of the request path: find the app by host, give the request an id,
//! and attach the [`Completion`] that records the response when it ends.
//!
//! The request path is a tower stack, one small layer per concern, assembled in
//! `accept/worker.rs`: `RouteService` (host → app, 400/404) → `AppLimit` (per-app
//! concurrency, 503) → `Forward` (balancing, retries, upstream I/O).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use futures_util::future::{Either, Ready, ready as ready_fut};
use http::header::ACCEPT;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tower::Service;

use crate::downstream::conn_state::{ConnState, Protocol};
use crate::downstream::framing::{REJECTED_METHOD, Rejection};
use crate::downstream::request_id::request_id;
use crate::downstream::upgrade;
use crate::lines::WorkerLines;
use crate::shared::Shared;
use crate::stack::body::{AccessLog, Completion, ProxyBody, Records};
use crate::stack::error_page::Problem;
use crate::stack::request::{Meta, Routed};

/// Status recorded for a request whose client went away before any response: until the
/// response exists, that is what the request is if its future is dropped (nginx's 499).
const CLIENT_CLOSED: http::StatusCode = match http::StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => http::StatusCode::BAD_REQUEST,
};

/// Routes by host; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct RouteService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
    pub(crate) conn: Arc<ConnState>,
    /// The worker's router lines, when on.
    pub(crate) lines: Option<Arc<WorkerLines>>,
}

impl<S> Service<Request<Incoming>> for RouteService<S>
where
    S: Service<Routed, Response = Response<ProxyBody>, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let start = Instant::now();
        self.conn.request_started();
        let meta =
            Meta { request_id: request_id(&req), accept: req.headers().get(ACCEPT).cloned(), conn: self.conn.clone() };
        if req.method().as_str() == REJECTED_METHOD {
            return self.refuse(req, meta, start);
        }
        // The framing check holds the connection's next bytes until this request's answer
        // says whether it switched protocols (one atomic load for any other request).
        let switch = (self.conn.is_switch_pending() && upgrade::asks_to_switch(&req))
            .then(|| (self.conn.clone(), req.method() == http::Method::CONNECT));
        let access_log = self.shared.config.access_log;
        let mut hsts = None;
        let line;
        let (found, host) = match crate::stack::host::routing_host(&req) {
            Err(_) => {
                line = self.start_line(false, &req, "", &meta);
                (Err(Problem::BadHost), String::new())
            }
            Ok(host) => {
                // With HTTPS on: plain HTTP is redirected, HTTPS answers may get HSTS
                // (tls/policy.rs; nothing at all when HTTPS is off).
                if let Some(https) = &self.shared.https {
                    if self.conn.protocol == Protocol::Http {
                        if let Some(location) = https.redirect(&host, req.uri()) {
                            let host = if access_log { host.into_owned() } else { String::new() };
                            return self.redirect(req, meta, start, location, host);
                        }
                    } else {
                        hsts = https.hsts(&host);
                    }
                }
                let found = self.shared.routes.lookup(&host, req.uri().path()).ok_or(Problem::UnknownHost);
                line = self.start_line(found.is_ok(), &req, &host, &meta);
                (found, if access_log { host.into_owned() } else { String::new() })
            }
        };
        let records = Records { log: access_log.then(|| AccessLog::of(&req, host, &meta.request_id)), line };
        let (app, inner) = match found {
            Err(problem) => (None, Either::Left(ready_fut(Ok(meta.problem(problem))))),
            Ok(app) => {
                app.count_request();
                let state = app.state();
                let routed = Routed { req, app: app.clone(), state, meta };
                (Some(app), Either::Right(self.inner.call(routed)))
            }
        };
        let done = Completion::new(self.shared.metrics.clone(), app, self.conn.clone(), start, CLIENT_CLOSED, records);
        RouteFuture { inner, done: Some(done), switch, hsts }
    }
}

impl<S> RouteService<S> {
    /// Begins the router line of a request routed by `host`, when lines are on: for an
    /// app (`routed`), else it is counted as a line without an app log to go to.
    fn start_line<B>(
        &self,
        routed: bool,
        req: &Request<B>,
        host: &str,
        meta: &Meta,
    ) -> Option<(Arc<WorkerLines>, crate::lines::Started)> {
        let lines = self.lines.as_ref()?;
        if !routed {
            lines.no_app();
            return None;
        }
        let path = match req.uri().path_and_query() {
            Some(pq) if lines.query_strings() => pq.as_str(),
            _ => req.uri().path(),
        };
        let forwarded_for =
            if self.conn.trusted { req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()) } else { None };
        let started = lines.start(&crate::lines::Request {
            method: req.method().as_str(),
            path,
            host,
            request_id: meta.request_id.to_str().unwrap_or("-"),
            forwarded_for,
            client_ip: self.conn.client_ip.to_str().unwrap_or("-"),
        });
        Some((lines.clone(), started))
    }

    /// Answers the stand-in for a request the framing check refused
    /// (`downstream/framing.rs`): 400, and the connection closes after it. The stand-in
    /// carries the refused head's host, so the refusal counts and is logged for its app
    /// (the router line `code=H26`).
    fn refuse<F>(&self, req: Request<Incoming>, meta: Meta, start: Instant) -> RouteFuture<F> {
        let reason = Rejection::from_path(req.uri().path()).map_or("unknown", Rejection::as_str);
        self.shared.metrics.rejected_requests.with_label_values(&[reason]).inc();
        let mut response = meta.problem(Problem::BadRequest);
        response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        let access_log = self.shared.config.access_log;
        let (app, host, line) = match crate::stack::host::routing_host(&req) {
            Ok(host) => {
                let app = self.shared.routes.lookup(&host, "/");
                let line = self.start_line(app.is_some(), &req, &host, &meta);
                (app, if access_log { host.into_owned() } else { String::new() }, line)
            }
            Err(_) => (None, String::new(), self.start_line(false, &req, "", &meta)),
        };
        let records = Records { log: access_log.then(|| AccessLog::of(&req, host, &meta.request_id)), line };
        let done =
            Completion::new(self.shared.metrics.clone(), app, self.conn.clone(), start, response.status(), records);
        RouteFuture { inner: Either::Left(ready_fut(Ok(response))), done: Some(done), switch: None, hsts: None }
    }

    /// Answers a plain HTTP request of a zone that redirects to HTTPS: 308 (the method and
    /// body stay as they are) to `location`, the same host, path and query over HTTPS.
    fn redirect<F>(
        &self,
        req: Request<Incoming>,
        meta: Meta,
        start: Instant,
        location: HeaderValue,
        host: String,
    ) -> RouteFuture<F> {
        let mut response = Response::new(ProxyBody::empty());
        *response.status_mut() = http::StatusCode::PERMANENT_REDIRECT;
        response.headers_mut().insert(http::header::LOCATION, location);
        response.headers_mut().insert(&crate::downstream::request_id::REQUEST_ID, meta.request_id.clone());
        // No app answered: an access log line, no router line (and no router line
        // counted as without an app).
        let log = self.shared.config.access_log.then(|| AccessLog::of(&req, host, &meta.request_id));
        let records = Records { log, line: None };
        let done =
            Completion::new(self.shared.metrics.clone(), None, self.conn.clone(), start, response.status(), records);
        RouteFuture { inner: Either::Left(ready_fut(Ok(response))), done: Some(done), switch: None, hsts: None }
    }
}

/// Resolves to the inner response with its [`Completion`] attached, and reports whether
/// the answer to an upgrade request switched protocols.
#[derive(Debug)]
pub(crate) struct RouteFuture<F> {
    inner: Either<Ready<Result<Response<ProxyBody>, Infallible>>, F>,
    done: Option<Completion>,
    /// For the upgrade request the framing check waits on: its connection, and whether
    /// it is a `CONNECT`.
    switch: Option<(Arc<ConnState>, bool)>,
    /// `Strict-Transport-Security` for the answer (HTTPS, in a zone that sends it).
    hsts: Option<HeaderValue>,
}

impl<F> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Unpin,
{
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(mut response) = ready!(Pin::new(&mut self.inner).poll(cx));
        if let Some((conn, connect)) = self.switch.take() {
            conn.switch_decided(upgrade::switches(connect, response.status()));
        }
        if let Some(hsts) = self.hsts.take() {
            response.headers_mut().insert(http::header::STRICT_TRANSPORT_SECURITY, hsts);
        }
        if let Some(mut done) = self.done.take() {
            done.status = response.status();
            response.body_mut().on_complete(done);
        }
        Poll::Ready(Ok(response))
    }
}
