//! The text of a router line, written into a reused buffer (no allocation once it has
//! grown to the longest line):
//!
//! `at=info method=GET path="/" host=shop.example request_id=… fwd="203.0.113.7" dyno=web.1
//! connect=1ms service=12ms status=200 bytes=512 protocol=http`
//!
//! An error line starts `at=error code=H12 desc="Request timeout"`, then the same fields;
//! a woken app's line `at=info code=S10 desc="Sleeping app woken" wake=1840ms`. Quoted
//! values have `"` and `\` escaped and control bytes replaced by `?`; `path` is cut at
//! [`MAX_PATH`] bytes (with `...`).

use std::fmt::Write as _;

use super::code::Code;

/// Longest `path` written, in bytes.
pub(crate) const MAX_PATH: usize = 2048;

/// What one line says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) code: Option<Code>,
    pub(crate) wake_ms: Option<u64>,
    pub(crate) method: &'a str,
    /// The path, with its query string if the config keeps it.
    pub(crate) path: &'a str,
    pub(crate) host: &'a str,
    pub(crate) request_id: &'a str,
    /// `X-Forwarded-For` as the client sent it (from a trusted proxy only); the client's
    /// address is appended, as the app sees it.
    pub(crate) forwarded_for: Option<&'a str>,
    pub(crate) client_ip: &'a str,
    pub(crate) dyno: &'a str,
    pub(crate) connect_ms: u64,
    pub(crate) service_ms: u64,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) protocol: &'static str,
}

/// Writes `f` as a line into `out` (cleared first).
pub(crate) fn write(out: &mut String, f: &Fields<'_>) {
    out.clear();
    // Writing to a String cannot fail.
    match f.code {
        Some(code) => {
            let at = if code.is_error() { "error" } else { "info" };
            let _ = write!(out, "at={at} code={} desc=\"{}\" ", code.as_str(), code.desc());
        }
        None => out.push_str("at=info "),
    }
    if let Some(ms) = f.wake_ms {
        let _ = write!(out, "wake={ms}ms ");
    }
    out.push_str("method=");
    out.push_str(f.method);
    out.push_str(" path=\"");
    if f.path.len() > MAX_PATH {
        let mut end = MAX_PATH;
        while !f.path.is_char_boundary(end) {
            end -= 1;
        }
        quoted(out, &f.path[..end]);
        out.push_str("...");
    } else {
        quoted(out, f.path);
    }
    out.push_str("\" host=");
    out.push_str(f.host);
    out.push_str(" request_id=");
    out.push_str(f.request_id);
    out.push_str(" fwd=\"");
    if let Some(chain) = f.forwarded_for {
        quoted(out, chain);
        out.push_str(", ");
    }
    out.push_str(f.client_ip);
    out.push_str("\" dyno=");
    out.push_str(f.dyno);
    let _ = write!(
        out,
        " connect={}ms service={}ms status={} bytes={} protocol={}",
        f.connect_ms, f.service_ms, f.status, f.bytes, f.protocol
    );
}

/// `s` for inside double quotes.
fn quoted(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b.is_ascii_control()) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => out.push('?'),
            c => out.push(c),
        }
    }
}
