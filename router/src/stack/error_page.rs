//! The pages the router itself answers with: HTML by default, JSON when the client's
//! `Accept` prefers it. They name the problem and the request id, never an internal
//! address, and are never cached.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};

use crate::downstream::request_id::REQUEST_ID;
use crate::stack::body::ProxyBody;

/// A problem the router answers for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No usable Host (400).
    BadHost,
    /// The request could not be read as a valid HTTP request (400).
    BadRequest,
    /// No app serves this host (404).
    UnknownHost,
    /// The app has no endpoints (503).
    NoEndpoints,
    /// The app is asleep and did not start in time (503).
    Starting,
    /// The app has too many requests in flight (503).
    OverLimit,
    /// No endpoint could be reached (502).
    Unreachable,
    /// The upstream failed while answering (502).
    BadGateway,
    /// The upstream did not answer in time (504).
    Timeout,
    /// The client stopped sending its request body (408).
    BodyTimeout,
}

impl Problem {
    /// HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Problem::BadHost | Problem::BadRequest => StatusCode::BAD_REQUEST,
            Problem::UnknownHost => StatusCode::NOT_FOUND,
            Problem::NoEndpoints | Problem::Starting | Problem::OverLimit => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Unreachable | Problem::BadGateway => StatusCode::BAD_GATEWAY,
            Problem::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Problem::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Stable machine-readable code (the JSON `error.code`).
    pub fn code(self) -> &'static str {
        match self {
            Problem::BadHost => "bad_host",
            Problem::BadRequest => "bad_request",
            Problem::UnknownHost => "unknown_host",
            Problem::NoEndpoints => "no_endpoints",
            Problem::Starting => "app_starting",
            Problem::OverLimit => "over_limit",
            Problem::Unreachable => "upstream_unreachable",
            Problem::BadGateway => "upstream_error",
            Problem::Timeout => "upstream_timeout",
            Problem::BodyTimeout => "request_body_timeout",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::BadHost | Problem::BadRequest => "Bad request",
            Problem::UnknownHost => "No such app",
            Problem::NoEndpoints => "App not running",
            Problem::Starting => "App starting",
            Problem::OverLimit => "App too busy",
            Problem::Unreachable | Problem::BadGateway => "App not responding",
            Problem::Timeout => "App took too long",
            Problem::BodyTimeout => "Request timed out",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Problem::BadHost => "The request has no valid Host header.",
            Problem::BadRequest => "The request could not be read as valid HTTP.",
            Problem::UnknownHost => "No app is served at this address. Check the URL, or whether the app was deleted.",
            Problem::NoEndpoints => "The app has no running processes right now. It may be starting or scaled to zero.",
            Problem::Starting => "The app was asleep and is starting up. Try again in a few seconds.",
            Problem::OverLimit => "The app has too many requests in progress. Try again in a moment.",
            Problem::Unreachable => "The app's processes could not be reached. It may be crashing or restarting.",
            Problem::BadGateway => "The app closed the connection without a valid response.",
            Problem::Timeout => "The app did not start answering in time.",
            Problem::BodyTimeout => "The request body stopped arriving before it was complete.",
        }
    }

    fn retry_after(self) -> Option<&'static str> {
        match self {
            Problem::NoEndpoints | Problem::Starting => Some("5"),
            Problem::OverLimit => Some("1"),
            _ => None,
        }
    }
}

/// The response for `problem`, in the format `accept` prefers.
pub fn render(problem: Problem, accept: Option<&HeaderValue>, request_id: &HeaderValue) -> Response<ProxyBody> {
    let id = request_id.to_str().unwrap_or("-");
    let (content_type, body) = if prefers_json(accept) {
        let body = serde_json::json!({
            "error": { "code": problem.code(), "message": problem.message(), "request_id": id }
        });
        ("application/json", body.to_string())
    } else {
        ("text/html; charset=utf-8", html(problem, id))
    };
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = problem.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(&REQUEST_ID, request_id.clone());
    if let Some(seconds) = problem.retry_after() {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    }
    response
}

fn html(problem: Problem, request_id: &str) -> String {
    let status = problem.status();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} {title}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:12vh auto;padding:0 1em;color:#222}}\
         h1{{font-size:1.4em}}small{{color:#777}}</style></head>\
         <body><h1>{title}</h1><p>{message}</p><p><small>{code} {reason} · request id {id}</small></p></body></html>\n",
        code = status.as_u16(),
        reason = status.canonical_reason().unwrap_or(""),
        title = problem.title(),
        message = problem.message(),
        id = escape(request_id),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Whether `Accept` ranks JSON above HTML (a missing header means HTML).
pub fn prefers_json(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|a| a.to_str().ok()) else { return false };
    let (mut json, mut html) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        if media == "application/json" || (media.starts_with("application/") && media.ends_with("+json")) {
            json = json.max(q);
        } else if media == "text/html" {
            html = html.max(q);
        } else if media == "*/*" || media == "text/*" {
            html = html.max(q * 0.99);
        }
    }
    json > html
}

#[cfg(test)]
mod tests;
