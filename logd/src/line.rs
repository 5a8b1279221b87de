//! A log line: what a record becomes, what history keeps and what subscribers receive.
//!
//! The JSON form (one object per line; the same in NDJSON, SSE `data:` and WebSocket
//! messages) is the wire format other programs read, e.g. `slipway logs --tail`:
//!
//! ```json
//! {"app":"shop","seq":42,"time":"2026-11-23T10:00:00.123456789Z","source":"app",
//!  "dyno":"web.1","stream":"stdout","message":"GET / 200","fields":{"path":"/"}}
//! ```
//!
//! `fields` (the record's other keys) is left out when empty. [`LogLine`] is the typed
//! form for readers. A [`Line`] encodes its JSON once, the first time a subscriber needs it,
//! and every subscriber shares those bytes (checked as UTF-8 once, so WebSocket text
//! messages reuse them as they are).

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::msgpack;

/// A log line as readers see it (the JSON wire format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The app.
    pub app: String,
    /// Per-app sequence number: 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// Event time, RFC 3339 in UTC with nanoseconds.
    pub time: String,
    /// Who wrote it: `app` for the app's own output, or e.g. `build`, `router`.
    pub source: String,
    /// The process, e.g. `web.1` (may be empty).
    pub dyno: String,
    /// `stdout`, `stderr` (may be empty).
    pub stream: String,
    /// The text.
    pub message: String,
    /// The record's other keys.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: u64,
    /// Nanoseconds, below 1e9.
    pub nanos: u32,
}

/// The last second humantime can format (9999-12-31T23:59:59Z).
const MAX_SECS: u64 = 253_402_300_799;

impl Timestamp {
    /// A timestamp, clamped to years 1970..=9999.
    pub fn new(secs: u64, nanos: u32) -> Timestamp {
        if secs > MAX_SECS {
            return Timestamp { secs: MAX_SECS, nanos: 999_999_999 };
        }
        Timestamp { secs, nanos: nanos.min(999_999_999) }
    }

    /// The current time.
    pub fn now() -> Timestamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::new(d.as_secs(), d.subsec_nanos())
    }

    /// From float seconds (negative and non-finite become 0).
    pub fn from_f64(secs: f64) -> Timestamp {
        if !secs.is_finite() || secs <= 0.0 {
            return Timestamp::default();
        }
        let whole = secs.trunc();
        // Float to int: saturating by definition; clamped in `new`.
        Timestamp::new(whole as u64, ((secs - whole) * 1e9) as u32)
    }

    fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.secs, self.nanos)
    }

    /// RFC 3339 with nanoseconds: `2026-11-23T10:00:00.123456789Z`.
    pub fn rfc3339(self) -> String {
        humantime::format_rfc3339_nanos(self.system_time()).to_string()
    }

    /// Writes [`Timestamp::rfc3339`]'s text onto `out`, without an intermediate `String`.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", humantime::format_rfc3339_nanos(self.system_time()));
    }

    /// Heroku's format, microseconds and a numeric offset: `2026-11-23T10:00:00.123456+00:00`.
    pub fn heroku(self) -> String {
        let mut out = Vec::with_capacity(32);
        self.write_heroku(&mut out);
        // humantime writes ASCII only.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Writes [`Timestamp::heroku`]'s text onto `out`, without an intermediate `String`.
    pub fn write_heroku(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", humantime::format_rfc3339_micros(self.system_time()));
        if out.len() > start && out.ends_with(b"Z") {
            out.pop();
            out.extend_from_slice(b"+00:00");
        }
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u128 {
        u128::from(self.secs) * 1_000_000_000 + u128::from(self.nanos)
    }
}

/// Longest source, dyno or stream kept (longer ones are cut at a character boundary).
const MAX_ATTR: usize = 255;

/// One log line. Built by the record rules, numbered and shared ([`SharedLine`]) by the store.
#[derive(Debug)]
pub struct Line {
    pub(crate) seq: u64,
    /// Global arrival order, for evicting the oldest lines across apps.
    pub(crate) arrival: u64,
    time: Timestamp,
    /// source, dyno, stream and message, one after the other, at `start..end` of a buffer
    /// shared with the other lines of its frame and app (see [`LineBatch`]); `None` only
    /// while its batch is being written.
    text: Option<Arc<str>>,
    start: u32,
    end: u32,
    lens: [u8; 3],
    /// The record's other keys: a msgpack map, or empty.
    fields: Box<[u8]>,
    /// The JSON form; UTF-8-checked once when encoded, so WebSocket text messages share it.
    json: OnceLock<Utf8Bytes>,
}

impl Line {
    /// A line not yet numbered, with a text of its own (a frame's lines share one
    /// through [`LineBatch`]).
    pub fn new(time: Timestamp, source: &str, dyno: &str, stream: &str, message: &str, fields: Box<[u8]>) -> Line {
        let (source, dyno, stream) = (cut(source), cut(dyno), cut(stream));
        let mut text = String::with_capacity(source.len() + dyno.len() + stream.len() + message.len());
        for part in [source, dyno, stream, message] {
            text.push_str(part);
        }
        // `cut` keeps each below 256 bytes.
        let lens = [source.len(), dyno.len(), stream.len()].map(|n| u8::try_from(n).unwrap_or(u8::MAX));
        // A single line is below a frame's size limit, far below 4 GiB.
        let end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        Line {
            seq: 0,
            arrival: 0,
            time,
            text: Some(Arc::from(text)),
            start: 0,
            end,
            lens,
            fields,
            json: OnceLock::new(),
        }
    }

    /// The per-app sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event time.
    pub fn time(&self) -> Timestamp {
        self.time
    }

    fn part(&self, i: usize) -> &str {
        let [a, b, c] = self.lens.map(usize::from);
        let start = self.start as usize;
        let bounds = [start, start + a, start + a + b, start + a + b + c, self.end as usize];
        // The bounds were computed from the parts' own lengths when the text was written.
        self.text.as_deref().and_then(|t| t.get(bounds[i]..bounds[i + 1])).unwrap_or_default()
    }

    fn text_len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// The source, e.g. `app`.
    pub fn source(&self) -> &str {
        self.part(0)
    }

    /// The dyno, e.g. `web.1`, or empty.
    pub fn dyno(&self) -> &str {
        self.part(1)
    }

    /// The stream, e.g. `stdout`, or empty.
    pub fn stream(&self) -> &str {
        self.part(2)
    }

    /// The message.
    pub fn message(&self) -> &str {
        self.part(3)
    }

    /// The other keys, as a msgpack map (empty slice when none).
    pub fn fields_msgpack(&self) -> &[u8] {
        &self.fields
    }

    /// Approximate memory the line holds, counting its shared JSON form once encoded.
    pub fn approx_bytes(&self) -> usize {
        let raw = self.text_len() + self.fields.len();
        std::mem::size_of::<Line>() + 16 + raw + raw + raw / 4 + 160
    }

    /// The JSON form, encoded on first use and shared afterwards.
    pub fn json(&self, app: &str) -> &Bytes {
        AsRef::<Bytes>::as_ref(self.json_text(app))
    }

    /// The JSON form as UTF-8 text (the same shared bytes as [`Line::json`]), ready to be a
    /// WebSocket text message without checking it again.
    pub fn json_text(&self, app: &str) -> &Utf8Bytes {
        self.json.get_or_init(|| match String::from_utf8(self.encode_json(app)) {
            Ok(text) => Utf8Bytes::from(text),
            // Unreachable: every part is written from `&str` or by serde_json.
            Err(e) => Utf8Bytes::from(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        })
    }

    fn encode_json(&self, app: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text_len() + self.fields.len() * 2 + 128);
        out.extend_from_slice(b"{\"app\":");
        msgpack::write_json_str(&mut out, app);
        out.extend_from_slice(b",\"seq\":");
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", self.seq);
        out.extend_from_slice(b",\"time\":\"");
        self.time.write_rfc3339(&mut out);
        out.extend_from_slice(b"\",\"source\":");
        msgpack::write_json_str(&mut out, self.source());
        out.extend_from_slice(b",\"dyno\":");
        msgpack::write_json_str(&mut out, self.dyno());
        out.extend_from_slice(b",\"stream\":");
        msgpack::write_json_str(&mut out, self.stream());
        out.extend_from_slice(b",\"message\":");
        msgpack::write_json_str(&mut out, self.message());
        if !self.fields.is_empty() {
            let mark = out.len();
            out.extend_from_slice(b",\"fields\":");
            // Fields were checked when the record was read; if they still fail, leave them out.
            if msgpack::write_json(&mut msgpack::Reader::new(&self.fields), &mut out, 0).is_err() {
                out.truncate(mark);
            }
        }
        out.push(b'}');
        out
    }

    /// Heroku's text form: `2026-11-23T10:00:00.123456+00:00 app[web.1]: message`.
    pub fn heroku_text(&self, out: &mut Vec<u8>) {
        self.time.write_heroku(out);
        out.push(b' ');
        out.extend_from_slice(self.source().as_bytes());
        if !self.dyno().is_empty() {
            out.push(b'[');
            out.extend_from_slice(self.dyno().as_bytes());
            out.push(b']');
        }
        out.extend_from_slice(b": ");
        out.extend_from_slice(self.message().as_bytes());
        out.push(b'\n');
    }
}

/// A kept line, as history, subscribers and the disk writer share it: a reference into the
/// batch of lines it was kept with (one allocation per batch of up to
/// [`crate::store::ring::EVENT_LINES`] lines instead of one per line). Derefs to the line.
/// A batch is freed when its last line is dropped; history evicts in order, so at most one
/// partly evicted batch per app outlives its lines.
#[derive(Debug, Clone)]
pub struct SharedLine {
    batch: Arc<[Line]>,
    index: u32,
}

impl SharedLine {
    /// Line `index` of `batch` (`None` past its end).
    pub fn new(batch: &Arc<[Line]>, index: usize) -> Option<SharedLine> {
        if index >= batch.len() {
            return None;
        }
        Some(SharedLine { batch: batch.clone(), index: u32::try_from(index).ok()? })
    }

    /// Every line of `batch`, in order. O(lines): one reference-count increment each.
    pub fn all(batch: &Arc<[Line]>) -> impl Iterator<Item = SharedLine> + '_ {
        (0..batch.len()).filter_map(move |i| SharedLine::new(batch, i))
    }

    /// Shares `lines` as one batch. One allocation.
    pub fn batch(lines: Vec<Line>) -> Vec<SharedLine> {
        let batch: Arc<[Line]> = lines.into();
        SharedLine::all(&batch).collect()
    }
}

impl std::ops::Deref for SharedLine {
    type Target = Line;

    fn deref(&self) -> &Line {
        // `new` checked the index against this very batch, which never changes length.
        &self.batch[self.index as usize]
    }
}

/// Lines being made from one frame for one app, whose texts go into one shared buffer:
/// one allocation per frame and app instead of one per line, and history frees the
/// buffer with the last of its lines (it evicts in order).
#[derive(Debug)]
pub struct LineBatch {
    text: String,
    lines: Vec<Line>,
    /// `lines[shared..]` have their text in `text`, not shared yet.
    shared: usize,
}

impl LineBatch {
    /// An empty batch that gathers its lines into `lines` (emptied first; a spare vector
    /// kept between frames avoids growing a new one).
    pub fn new(mut lines: Vec<Line>) -> LineBatch {
        lines.clear();
        LineBatch { text: String::new(), lines, shared: 0 }
    }

    /// Adds a line not yet numbered.
    #[inline]
    pub fn push(&mut self, time: Timestamp, source: &str, dyno: &str, stream: &str, message: &str, fields: Box<[u8]>) {
        let (source, dyno, stream) = (cut(source), cut(dyno), cut(stream));
        let len = source.len() + dyno.len() + stream.len() + message.len();
        // Offsets are u32: a buffer is shared before it would pass that.
        if u32::try_from(self.text.len() + len).is_err() {
            self.share();
        }
        let start = self.text.len();
        for part in [source, dyno, stream, message] {
            self.text.push_str(part);
        }
        // `cut` keeps each below 256 bytes; a single message is below a frame's size limit.
        let lens = [source.len(), dyno.len(), stream.len()].map(|n| u8::try_from(n).unwrap_or(u8::MAX));
        let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let (start, end) = (offset(start), offset(self.text.len()));
        self.lines.push(Line { seq: 0, arrival: 0, time, text: None, start, end, lens, fields, json: OnceLock::new() });
    }

    /// Lines added so far.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no line was added.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines, in the order they were added.
    pub fn finish(mut self) -> Vec<Line> {
        self.share();
        self.lines
    }

    /// Moves the text written so far into one shared buffer that the lines written since
    /// the last share refer to.
    fn share(&mut self) {
        if self.shared == self.lines.len() {
            return;
        }
        let text: Arc<str> = Arc::from(self.text.as_str());
        self.text.clear();
        for line in &mut self.lines[self.shared..] {
            line.text = Some(text.clone());
        }
        self.shared = self.lines.len();
    }
}

fn cut(s: &str) -> &str {
    if s.len() <= MAX_ATTR {
        return s;
    }
    let mut end = MAX_ATTR;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
