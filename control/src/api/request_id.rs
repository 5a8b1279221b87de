//! Every API request gets an id: the client's `X-Request-Id` when it passes the shared
//! rule (`slipway_config::request_id`, so a router's id carries through), else a new one.
//! It is echoed in the response's `X-Request-Id`, is a field of everything logged while
//! the request is handled, and is what an internal error tells the client instead of
//! the details (which go to the log only, see `internal` in `api/mod.rs`).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use slipway_config::request_id::{HEADER, acceptable};
use tracing::Instrument;

tokio::task_local! {
    /// The id of the request being handled by this task.
    static REQUEST_ID: HeaderValue;
}

/// The middleware: picks the id, handles the request with it, echoes it.
pub(super) async fn layer(req: Request, next: Next) -> Response {
    let id = match req.headers().get(HEADER) {
        Some(given) if acceptable(given.as_bytes()) => given.clone(),
        _ => generate(),
    };
    let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or("-"));
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req).instrument(span)).await;
    response.headers_mut().insert(HEADER, id);
    response
}

/// The current request's id ("-" outside a request).
pub(super) fn current() -> String {
    REQUEST_ID.try_with(|id| id.to_str().unwrap_or("-").to_owned()).unwrap_or_else(|_| "-".to_owned())
}

/// 32 random hex digits.
fn generate() -> HeaderValue {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the OS: still unique enough to find a log line.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = now.as_nanos().to_le_bytes();
    }
    // Hex digits are always a valid header value.
    HeaderValue::from_str(&crate::hex(&bytes)).unwrap_or_else(|_| HeaderValue::from_static("-"))
}
