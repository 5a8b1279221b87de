//! Plain streaming for curl and scripts: NDJSON (one line JSON per line; markers are
//! objects with an `event` key: `{"event":"dropped","dropped":17}`, `{"event":"gap",...}`,
//! `{"event":"reset"}`, `{"event":"heartbeat"}`), or with `format=text` Heroku-style lines
//! (`2026-11-23T10:00:00.123456+00:00 app[web.1]: message`; markers as `logd:` lines,
//! heartbeats as empty lines).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Guard;
use super::stream::{self, Render};
use crate::hub::Subscription;
use crate::line::{Line, Timestamp};

struct Ndjson;

impl Render for Ndjson {
    fn line(&mut self, app: &str, line: &Line, out: &mut Vec<u8>) {
        out.extend_from_slice(line.json(app));
        out.push(b'\n');
    }

    fn dropped(&mut self, n: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{{\"event\":\"dropped\",\"dropped\":{n}}}\n").as_bytes());
    }

    fn gap(&mut self, from: u64, to: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{{\"event\":\"gap\",\"from\":{from},\"to\":{to}}}\n").as_bytes());
    }

    fn reset(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"event\":\"reset\"}\n");
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"event\":\"heartbeat\"}\n");
    }
}

struct Text;

impl Text {
    fn note(out: &mut Vec<u8>, message: &str) {
        out.extend_from_slice(format!("{} logd: {message}\n", Timestamp::now().heroku()).as_bytes());
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
