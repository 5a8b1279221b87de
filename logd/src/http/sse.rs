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
use super::stream::{self, Render, write_marker};
use crate::hub::{Item, Subscription};
use crate::line::Line;

struct Sse;

/// A marker as a named event: `event: <name>` and its JSON as `data:`.
fn event(out: &mut Vec<u8>, name: &str, marker: &Item) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    write_marker(out, marker);
    out.extend_from_slice(b"\n\n");
}

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
        event(out, "dropped", &Item::Dropped(n));
    }

    fn gap(&mut self, from: u64, to: u64, out: &mut Vec<u8>) {
        event(out, "gap", &Item::Gap { from, to });
    }

    fn reset(&mut self, out: &mut Vec<u8>) {
        event(out, "reset", &Item::Reset);
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
