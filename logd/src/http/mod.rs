//! The HTTP side: live log streams, the viewer page, metrics and health.
//!
//! - `GET /v1/apps/{app}/logs`: one URL, three transports chosen by the request:
//!   `Upgrade: websocket` → WebSocket (`ws`); `Accept: text/event-stream` → SSE (`sse`);
//!   otherwise streaming NDJSON, or Heroku-style text with `format=text` (`ndjson`).
//!   Query: `tail=N`, `follow=true|false`, `source=a,b`, `dyno=web,worker.1`, `grep=text`
//!   (substring), `regex=RE` (the `regex` crate's syntax, linear time), `since=SEQ` (or the
//!   `Last-Event-ID` header), `format=json|text`, `token=`.
//! - `GET /v1/apps` (admin token): apps with their history sizes.
//! - `GET /apps/{app}`: the viewer page (`viewer`).
//! - `GET /metrics`, `GET /healthz`, `GET /readyz`.
//!
//! Errors are JSON: `{"error": {"code": "...", "message": "..."}}`.

mod ndjson;
mod sse;
mod stream;
mod viewer;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use slipway_config::ApiError;

use crate::config::{Auth, Http};
use crate::hub::{Filter, Start};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::token::{self, Signer, TokenError};

/// What every HTTP handler shares.
#[derive(Debug)]
pub struct Api {
    /// The log store.
    pub store: Arc<Store>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// `[http]` settings.
    pub http: Http,
    /// `[auth]` settings.
    pub auth: Auth,
    /// Verifies app tokens (`auth.signing_key`).
    pub signer: Option<Signer>,
    /// Streams open now.
    pub subscribers: AtomicUsize,
    /// Ends streams at shutdown.
    pub shutdown: CancellationToken,
}

type Shared = Arc<Api>;

/// The HTTP routes.
pub fn router(api: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/apps", get(list_apps))
        .route("/v1/apps/{app}/logs", get(logs))
        .route("/apps/{app}", get(viewer::page))
        .route("/assets/viewer.js", get(viewer::script))
        .route("/assets/viewer.css", get(viewer::style))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(middleware::from_fn_with_state(api.clone(), cors))
        .with_state(api)
}

/// Serves HTTP/1.1 on `listener` until `shutdown`; open streams end at shutdown.
pub async fn serve(listener: TcpListener, api: Shared, shutdown: CancellationToken, tasks: TaskTracker) {
    let app = router(api);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    while let Some((stream, peer)) = crate::listener::accept(&listener, &shutdown, "http").await {
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                result = conn => if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "http connection ended");
                },
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn metrics(State(api): State<Shared>, headers: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    if api.auth.protect_metrics {
        let given = bearer(&headers).or_else(|| param(&q, "token"));
        if !given.is_some_and(|g| is_admin(&api, g)) {
            return ApiError::unauthorized("the admin token is required for /metrics").into_response();
        }
    }
    api.store.tick_gauges();
    api.metrics.response()
}

async fn list_apps(State(api): State<Shared>, headers: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    let given = bearer(&headers).or_else(|| param(&q, "token"));
    let Some(given) = given else {
        api.metrics.auth_failures.with_label_values(&["401"]).inc();
        return ApiError::unauthorized("missing token: send Authorization: Bearer <admin token>").into_response();
    };
    if !is_admin(&api, given) {
        api.metrics.auth_failures.with_label_values(&["403"]).inc();
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "listing apps needs the admin token").into_response();
    }
    let mut apps: Vec<serde_json::Value> = api
        .store
        .apps()
        .iter()
        .map(|app| {
            let (lines, bytes, last_seq) = app.stats();
            json!({ "app": &**app.name(), "lines": lines, "bytes": bytes, "last_seq": last_seq, "subscribers": app.subscribers() })
        })
        .collect();
    apps.sort_by(|a, b| a["app"].as_str().cmp(&b["app"].as_str()));
    axum::Json(json!({ "apps": apps })).into_response()
}

/// The transport a log request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Sse,
    WebSocket,
    Ndjson,
    Text,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
            Transport::Ndjson => "ndjson",
            Transport::Text => "text",
        }
    }
}

async fn logs(
    State(api): State<Shared>,
    Path(app): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    mut req: Request,
) -> Response {
    let headers = req.headers();
    if let Err(e) = authorize(&api, headers, &q, &app) {
        return e.into_response();
    }
    if !slipway_config::app_name::is_valid(&app) {
        return ApiError::new(StatusCode::BAD_REQUEST, "invalid", "not an app name").into_response();
    }
    let parsed = match LogsQuery::parse(&q, headers, &api.http) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let websocket =
        headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let sse =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/event-stream"));
    let transport = if websocket {
        Transport::WebSocket
    } else if sse {
        Transport::Sse
    } else if parsed.text {
        Transport::Text
    } else {
        Transport::Ndjson
    };
    let Some(guard) = Guard::new(&api, transport) else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "too many open log streams; retry later",
        )
        .into_response();
    };
    let Some(log) = api.store.app(&app) else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_apps", "logd keeps no more apps")
            .into_response();
    };
    let sub = api.store.subscribe(&log, parsed.start, parsed.filter, parsed.follow).await;
    match transport {
        Transport::WebSocket => ws::upgrade(&mut req, sub, guard),
        Transport::Sse => sse::response(sub, guard),
        Transport::Ndjson => ndjson::response(sub, guard, false),
        Transport::Text => ndjson::response(sub, guard, true),
    }
}

/// The parsed query of a log request.
#[derive(Debug)]
struct LogsQuery {
    start: Start,
    follow: bool,
    filter: Filter,
    text: bool,
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn list(q: &[(String, String)], name: &str) -> Vec<String> {
    q.iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl LogsQuery {
    fn parse(q: &[(String, String)], headers: &HeaderMap, http: &Http) -> Result<LogsQuery, ApiError> {
        let invalid = |field: &str, message: &str| ApiError::invalid(field, message);
        let tail = match param(q, "tail") {
            None => http.default_tail,
            Some(s) => {
                s.parse::<usize>().map_err(|_| invalid("tail", "tail must be a number of lines"))?.min(http.max_tail)
            }
        };
        let follow = match param(q, "follow") {
            None | Some("true" | "1" | "") => true,
            Some("false" | "0") => false,
            Some(_) => return Err(invalid("follow", "follow must be true or false")),
        };
        let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty());
        // A reconnecting EventSource sends Last-Event-ID with its original URL: the header is newer.
        let after = match last_event_id.or(param(q, "since")) {
            None => None,
            Some(s) => Some(s.trim().parse::<u64>().map_err(|_| invalid("since", "since must be a sequence number"))?),
        };
        let text = match param(q, "format") {
            None | Some("json" | "ndjson") => false,
            Some("text") => true,
            Some(_) => return Err(invalid("format", "format must be json or text")),
        };
        let grep = param(q, "grep").filter(|g| !g.is_empty()).map(str::to_owned);
        let regex = match param(q, "regex").filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(
                regex::RegexBuilder::new(r)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| invalid("regex", &format!("not a valid regex: {e}")))?,
            ),
        };
        let filter = Filter { sources: list(q, "source"), dynos: list(q, "dyno"), grep, regex };
        Ok(LogsQuery { start: Start { tail, after }, follow, filter, text })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Whether `given` is the admin token (compared in constant time; never when none is set).
fn is_admin(api: &Api, given: &str) -> bool {
    api.auth
        .admin_token
        .as_deref()
        .is_some_and(|a| slipway_config::secret::constant_time_eq(given.as_bytes(), a.as_bytes()))
}

/// Checks the request's token for reading `app`: missing or invalid → 401; valid but for
/// another app, expired, or of another scope → 403.
fn authorize(api: &Api, headers: &HeaderMap, q: &[(String, String)], app: &str) -> Result<(), ApiError> {
    let given = bearer(headers).or_else(|| param(q, "token")).filter(|t| !t.is_empty());
    let fail = |e: ApiError| {
        api.metrics.auth_failures.with_label_values(&[e.status().as_str()]).inc();
        Err(e)
    };
    let Some(given) = given else {
        if api.auth.anonymous {
            return Ok(());
        }
        return fail(ApiError::unauthorized("missing token: send Authorization: Bearer <token> or add ?token=<token>"));
    };
    if is_admin(api, given) {
        return Ok(());
    }
    let Some(signer) = &api.signer else {
        return fail(ApiError::unauthorized("invalid token"));
    };
    match signer.verify(given, token::now()) {
        Ok(claims) if claims.app != app => fail(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token reads the logs of app {:?}, not {app:?}", claims.app),
        )),
        Ok(claims) if !claims.can_read_logs() => {
            fail(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this token's scope does not allow reading logs"))
        }
        Ok(_) => Ok(()),
        Err(TokenError::Expired { .. }) => {
            fail(ApiError::new(StatusCode::FORBIDDEN, "token_expired", "the token has expired; get a new one"))
        }
        Err(e) => fail(ApiError::unauthorized(format!("invalid token: {e}"))),
    }
}

/// Counts an open stream (per transport, and against `http.max_subscribers`).
#[derive(Debug)]
pub(crate) struct Guard {
    api: Shared,
    transport: Transport,
}

impl Guard {
    fn new(api: &Shared, transport: Transport) -> Option<Guard> {
        let open = api.subscribers.fetch_add(1, Ordering::AcqRel);
        if open >= api.http.max_subscribers {
            api.subscribers.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        api.metrics.subscribers.with_label_values(&[transport.label()]).inc();
        Some(Guard { api: api.clone(), transport })
    }

    /// Counts lines dropped for this subscriber.
    pub(crate) fn dropped(&self, n: u64) {
        self.api.metrics.subscriber_dropped.inc_by(n);
    }

    /// Cancelled at shutdown.
    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.api.shutdown
    }

    /// When a stream that last wrote at `last_write` should write next, if it should wait:
    /// every stream writes at most once per `open streams × 10 µs`, capped at
    /// `http.max_coalesce` (1,000 streams: every 10 ms).
    pub(crate) fn coalesce_until(&self, last_write: Instant) -> Option<Instant> {
        let open = self.api.subscribers.load(Ordering::Relaxed) as u64;
        let every = Duration::from_micros(open.saturating_mul(10)).min(self.api.http.max_coalesce);
        let until = last_write + every;
        (until > Instant::now()).then_some(until)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.api.subscribers.fetch_sub(1, Ordering::AcqRel);
        self.api.metrics.subscribers.with_label_values(&[self.transport.label()]).dec();
    }
}

/// CORS: allowed origins get `Access-Control-Allow-Origin`; preflights are answered here.
async fn cors(State(api): State<Shared>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| api.http.cors_origins.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(o)));
    let preflight = req.method() == Method::OPTIONS;
    let mut response = if preflight && allowed { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
    let h = response.headers_mut();
    if !api.http.cors_origins.is_empty() {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if let (true, Some(origin)) = (allowed, origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if preflight {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, OPTIONS"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Last-Event-ID, Content-Type"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
    }
    response
}
