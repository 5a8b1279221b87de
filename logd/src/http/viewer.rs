//! The live viewer page, `GET /apps/{app}`: HTML, CSS and JS embedded in the binary (no
//! front-end build). The page reads the app from its path and the token from `?token=`,
//! follows `/v1/apps/{app}/logs` over SSE, and resumes with `since=` after a reconnect.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

const HTML: &str = include_str!("../../static/viewer.html");
const SCRIPT: &str = include_str!("../../static/viewer.js");
const STYLE: &str = include_str!("../../static/viewer.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The page.
pub(crate) async fn page(Path(app): Path<String>) -> Response {
    if !slipway_config::app_name::is_valid(&app) {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "not an app name").into_response();
    }
    let mut response = asset(HTML, "text/html; charset=utf-8");
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    // The page URL may carry a token: do not leak it in Referer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The script.
pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// The style sheet.
pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
