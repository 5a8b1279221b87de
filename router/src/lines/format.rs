//! The text of a router line, written straight into its batch's encoded record (no
//! allocation once the batch has grown to its longest):
//!
//! `at=info method=GET path="/" host=shop.example request_id=… fwd="203.0.113.7" dyno=web.1
//! connect=1ms service=12ms status=200 bytes=512 protocol=http`
//!
//! An error line starts `at=error code=H12 desc="Request timeout"`, then the same fields;
//! a woken app's line `at=info code=S10 desc="Sleeping app woken" wake=1840ms`. Quoted
//! values have `"` and `\` escaped and control bytes replaced by `?`; `path` is cut at
//! [`MAX_PATH`] bytes (with `...`).

use slipway_logd::forward::client::StrWriter;

use super::code::Code;

/// Longest `path` written, in bytes.
pub(crate) const MAX_PATH: usize = 2048;

/// What a line says of the request, written when it is routed ([`write_request`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The path, with its query string if the config keeps it.
    pub(crate) path: &'a str,
    pub(crate) host: &'a str,
    pub(crate) request_id: &'a str,
    /// `X-Forwarded-For` as the client sent it (from a trusted proxy only); the client's
    /// address is appended, as the app sees it.
    pub(crate) forwarded_for: Option<&'a str>,
    pub(crate) client_ip: &'a str,
}

/// What a line says of the answer, known when the response ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) code: Option<Code>,
    pub(crate) wake_ms: Option<u64>,
    pub(crate) dyno: &'a str,
    pub(crate) connect_ms: u64,
    pub(crate) service_ms: u64,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) protocol: &'static str,
}

/// Where a line is written: straight into the batch's encoded record
/// ([`StrWriter`]), or a `String` (the request's part, tests).
pub(crate) trait Out {
    fn push_str(&mut self, s: &str);

    fn push_u64(&mut self, n: u64) {
        self.push_str(itoa::Buffer::new().format(n));
    }
}

impl Out for StrWriter<'_> {
    fn push_str(&mut self, s: &str) {
        StrWriter::push_str(self, s);
    }
}

impl Out for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
}

/// Appends the request's part of a line, `method=… path="…" host=… request_id=…
/// fwd="…"`, to `out`.
pub(crate) fn write_request(out: &mut impl Out, r: &Request<'_>) {
    out.push_str("method=");
    out.push_str(r.method);
    out.push_str(" path=\"");
    if r.path.len() > MAX_PATH {
        let mut end = MAX_PATH;
        while !r.path.is_char_boundary(end) {
            end -= 1;
        }
        quoted(out, &r.path[..end]);
        out.push_str("...");
    } else {
        quoted(out, r.path);
    }
    out.push_str("\" host=");
    out.push_str(r.host);
    out.push_str(" request_id=");
    out.push_str(r.request_id);
    out.push_str(" fwd=\"");
    if let Some(chain) = r.forwarded_for {
        quoted(out, chain);
        out.push_str(", ");
    }
    out.push_str(r.client_ip);
    out.push_str("\"");
}

/// Appends a whole line to `out`: `f`'s code, the request's part as [`write_request`]
/// wrote it, then the rest of `f`. Numbers go through `itoa`, not `core::fmt` (a line is
/// written per request).
pub(crate) fn write(out: &mut impl Out, f: &Fields<'_>, request: &str) {
    match f.code {
        Some(code) => {
            out.push_str(if code.is_error() { "at=error code=" } else { "at=info code=" });
            out.push_str(code.as_str());
            out.push_str(" desc=\"");
            out.push_str(code.desc());
            out.push_str("\" ");
        }
        None => out.push_str("at=info "),
    }
    if let Some(ms) = f.wake_ms {
        out.push_str("wake=");
        out.push_u64(ms);
        out.push_str("ms ");
    }
    out.push_str(request);
    out.push_str(" dyno=");
    out.push_str(f.dyno);
    out.push_str(" connect=");
    out.push_u64(f.connect_ms);
    out.push_str("ms service=");
    out.push_u64(f.service_ms);
    out.push_str("ms status=");
    out.push_u64(u64::from(f.status));
    out.push_str(" bytes=");
    out.push_u64(f.bytes);
    out.push_str(" protocol=");
    out.push_str(f.protocol);
}

/// `s` for inside double quotes.
fn quoted(out: &mut impl Out, s: &str) {
    let mut rest = s;
    while let Some(at) = rest.bytes().position(|b| b == b'"' || b == b'\\' || b.is_ascii_control()) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            _ => "?",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}
