//! What routers use: the route stream (`GET /v1/routes?watch=true`), the current routes
//! (`GET /v1/routes`), activity reports and waking sleeping apps. The wire format is the
//! router's ([`slipway_router::spec`]).
//!
//! The stream is server-sent events: a snapshot (or, when the router resumes with
//! `Last-Event-ID` and the changes since are still in the log, just those), then every
//! change as it happens, and a `: heartbeat` comment whenever it has been quiet for
//! `routes.heartbeat`. A stream waits on the hub's version, not on a queue of its own,
//! so a slow router costs nothing: when it reads again it gets what it missed, or a new
//! snapshot if it fell out of the log.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use slipway_router::spec::Activity;
use tokio::sync::watch;
use tokio::time::Interval;
use tokio_util::sync::CancellationToken;

use super::{Api, ApiError, ApiJson, ApiPath, RouterOrAdmin};
use crate::routes::{CatchUp, RouteHub, sse};

pub(super) async fn routes(_: RouterOrAdmin, State(api): State<Api>, uri: Uri, headers: HeaderMap) -> Response {
    let watch = uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|pair| matches!(pair.split_once('='), Some(("watch", "true" | "1"))) || pair == "watch");
    let hub = api.platform.routes.clone();
    if !watch {
        return Json(hub.route_set()).into_response();
    }
    // A resume point that does not parse is treated as none: the router gets a snapshot.
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let period = api.platform.config.routes.heartbeat;
    let stream = Watch {
        delay: Some(hub.stream_delay()).filter(|d| !d.is_zero()),
        rx: hub.subscribe(),
        hub,
        sent: after,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        shutdown: api.shutdown.clone(),
    };
    tracing::info!(resume_from = ?after, "a router follows the route stream");
    let body = Body::from_stream(futures_util::stream::unfold(stream, Watch::next));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One router's stream.
struct Watch {
    hub: Arc<RouteHub>,
    rx: watch::Receiver<u64>,
    /// The last version sent (or the router's resume point).
    sent: Option<u64>,
    heartbeat: Interval,
    shutdown: CancellationToken,
    /// Test seam: waited once before the first event (`RouteHub::delay_streams`).
    delay: Option<std::time::Duration>,
}

impl Watch {
    /// The next bytes to send: what the router has not seen, or a heartbeat.
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Watch)> {
        if let Some(delay) = self.delay.take() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
        loop {
            // Mark the current version seen *before* looking, so a change made right
            // after the look still wakes `changed()` below.
            self.rx.borrow_and_update();
            match self.hub.catch_up(self.sent) {
                CatchUp::UpToDate => {}
                CatchUp::Snapshot(event) => {
                    self.sent = Some(event.version());
                    self.heartbeat.reset();
                    return Some((Ok(sse(&event)), self));
                }
                CatchUp::Events(events) => {
                    let mut out = BytesMut::new();
                    for event in &events {
                        out.extend_from_slice(&sse(event));
                    }
                    self.sent = events.last().map(slipway_router::spec::RouteEvent::version).or(self.sent);
                    self.heartbeat.reset();
                    return Some((Ok(out.freeze()), self));
                }
            }
            tokio::select! {
                changed = self.rx.changed() => if changed.is_err() { return None },
                _ = self.heartbeat.tick() => return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), self)),
                () = self.shutdown.cancelled() => return None,
            }
        }
    }
}

pub(super) async fn activity(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiJson(activity): ApiJson<Activity>,
) -> Result<StatusCode, ApiError> {
    if let Some(router) = &activity.router {
        slipway_router::spec::check_router_id(router).map_err(|problem| ApiError::invalid("router", problem))?;
    }
    api.platform.record_activity(&activity);
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn wake(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let waking = api.platform.wake(&app).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "waking": waking }))))
}
