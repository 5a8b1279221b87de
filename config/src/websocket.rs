//! The server side of a WebSocket upgrade (RFC 6455) on an axum request, for every
//! Slipway API that streams over WebSocket (logd's log streams, control's attached
//! one-off dynos): check the client's handshake headers, answer `101 Switching
//! Protocols`, and hand the upgraded connection, as a tokio-tungstenite stream, to a task.
//!
//! axum's own `ws` feature would pin another tokio-tungstenite; this is the few lines it
//! takes on hyper's upgrade directly.

use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::ApiError;

/// An upgraded server-side WebSocket.
pub type ServerSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Answers the upgrade of `req` (400 `bad_websocket` without `Sec-WebSocket-Key` and
/// version 13) and, once the connection is switched, runs `serve` on it in a new task.
/// A failed switch (the client went away) is logged at debug level and `serve` never runs.
pub fn accept<F, Fut>(req: &mut Request, config: WebSocketConfig, serve: F) -> Response
where
    F: FnOnce(ServerSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let version_ok = req.headers().get("sec-websocket-version").is_some_and(|v| v == "13");
    let Some(key) = req.headers().get("sec-websocket-key").filter(|_| version_ok) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_websocket",
            "a WebSocket upgrade needs Sec-WebSocket-Key and version 13",
        )
        .into_response();
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                serve(ws).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}
