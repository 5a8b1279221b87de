//! Server-sent events. Each line is `id: <seq>` + `data: <line JSON>`, so a browser's
//! `EventSource` resumes by itself with `Last-Event-ID` after a reconnect. Markers are
//! named events without an id (they do not move the resume point):
//!
//! ```text
//! event: dropped   data: {"event":"dropped","dropped":17}
//! event: gap       data: {"event":"gap","from":3,"to":41}
//! event: reset     data: {"event":"reset"}
//! : heartbeat
//! ```

use std::io::Write;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Guard;
use super::stream::{self, Render};
use crate::hub::Subscription;
use crate::line::Line;

struct Sse;

impl Render for Sse {
    fn start(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"retry: 2000\n: connected\n\n");
    }

    fn line(&mut self, app: &str, line: &Line, out: &mut Vec<u8>) {
        let json = line.json(app);
        out.reserve(json.len() + 32);
        // Writing to a Vec cannot fail.
        let _ = write!(out, "id: {}\ndata: ", line.seq());
        out.extend_from_slice(json);
        out.extend_from_slice(b"\n\n");
    }

    fn dropped(&mut self, n: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!("event: dropped\ndata: {{\"event\":\"dropped\",\"dropped\":{n}}}\n\n").as_bytes(),
        );
    }

    fn gap(&mut self, from: u64, to: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!("event: gap\ndata: {{\"event\":\"gap\",\"from\":{from},\"to\":{to}}}\n\n").as_bytes(),
        );
    }

    fn reset(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: reset\ndata: {\"event\":\"reset\"}\n\n");
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b": heartbeat\n\n");
    }
}

/// The SSE response for `sub`.
pub(crate) fn response(sub: Subscription, guard: Guard) -> Response {
    let mut response = stream::body(sub, Sse, guard).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
