//! Plain streaming for curl and scripts: NDJSON (one line JSON per line; markers are
//! objects with an `event` key: `{"event":"dropped","dropped":17}`, `{"event":"gap",...}`,
//! `{"event":"reset"}`, `{"event":"heartbeat"}`), or with `format=text` Heroku-style lines
//! (`2026-11-23T10:00:00.123456+00:00 app[web.1]: message`; markers as `logd:` lines,
//! heartbeats as empty lines).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Guard;
use super::stream::{self, Render, write_marker};
use crate::hub::{Item, Subscription};
use crate::line::{Line, Timestamp};

struct Ndjson;

impl Render for Ndjson {
    fn line(&mut self, app: &str, line: &Line, out: &mut Vec<u8>) {
        out.extend_from_slice(line.json(app));
        out.push(b'\n');
    }

    fn dropped(&mut self, n: u64, out: &mut Vec<u8>) {
        write_marker(out, &Item::Dropped(n));
        out.push(b'\n');
    }

    fn gap(&mut self, from: u64, to: u64, out: &mut Vec<u8>) {
        write_marker(out, &Item::Gap { from, to });
        out.push(b'\n');
    }

    fn reset(&mut self, out: &mut Vec<u8>) {
        write_marker(out, &Item::Reset);
        out.push(b'\n');
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"event\":\"heartbeat\"}\n");
    }
}

struct Text;

impl Text {
    fn note(out: &mut Vec<u8>, message: &str) {
        Timestamp::now().write_heroku(out);
        out.extend_from_slice(b" logd: ");
        out.extend_from_slice(message.as_bytes());
        out.push(b'\n');
    }
}

impl Render for Text {
    fn line(&mut self, _app: &str, line: &Line, out: &mut Vec<u8>) {
        line.heroku_text(out);
    }

    fn dropped(&mut self, n: u64, out: &mut Vec<u8>) {
        Text::note(out, &format!("dropped {n} lines (this stream fell behind)"));
    }

    fn gap(&mut self, from: u64, to: u64, out: &mut Vec<u8>) {
        Text::note(out, &format!("lines {from} to {to} are no longer in history"));
    }

    fn reset(&mut self, out: &mut Vec<u8>) {
        Text::note(out, "history was reset; showing the latest lines");
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) {
        out.push(b'\n');
    }
}

/// The NDJSON (or, with `text`, Heroku text) response for `sub`.
pub(crate) fn response(sub: Subscription, guard: Guard, text: bool) -> Response {
    let (body, content_type) = if text {
        (stream::body(sub, Text, guard), "text/plain; charset=utf-8")
    } else {
        (stream::body(sub, Ndjson, guard), "application/x-ndjson")
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
