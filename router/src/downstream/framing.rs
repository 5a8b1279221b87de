//! Strict HTTP/1 request framing, checked before hyper parses the bytes.
//!
//! Request smuggling works by making two parsers disagree about where a request ends.
//! hyper alone handles the ambiguous cases safely but quietly: with both `Content-Length`
//! and `Transfer-Encoding` it drops the length, forwards the request as chunked and closes
//! the connection afterwards, and a body that fails to decode kills the connection without
//! sending the response already queued. An edge proxy should say no, clearly: refuse the
//! request with 400, close the connection, and never forward anything of it.
//!
//! [`Framing`] follows the client's byte stream message by message: it parses each request
//! head (httparse, like hyper), checks its framing headers, then skips its body by length
//! or by chunked framing (the same grammar hyper's decoder accepts), to the next head.
//! - A head with `Transfer-Encoding` and `Content-Length`, a `Transfer-Encoding` other
//!   than exactly `chunked`, or `Content-Length`s that are invalid or differ is replaced,
//!   before hyper sees a byte of it, by a synthetic request with method
//!   [`REJECTED_METHOD`] that the route layer answers with our 400 page and
//!   `Connection: close`.
//! - A malformed chunk stops the stream where it is: hyper is given nothing more, the
//!   connection is marked poisoned, and the request body sent upstream fails, so the app
//!   never sees a complete request and the client gets 400 before the connection closes.
//!
//! After either, nothing more from the client is passed on. A head split across reads is
//! held back until complete, so a rejected head never reaches hyper even in part.
//!
//! An upgrade request (`Upgrade` with `Connection: upgrade`) or a `CONNECT` may or may not
//! switch the connection to another protocol: that depends on its answer. So after one
//! (and its body) nothing more is read or passed until the request stack has answered it
//! (`ConnState::switch_decided`): a `101` (or a 2xx to `CONNECT`) switches the stream to
//! pass-through, as hyper then stops parsing HTTP too; any other answer resumes the checks
//! on the held bytes, so a refused upgrade cannot carry a smuggled request past them.
//! Heads hyper would refuse anyway (too large, unparsable, too many headers) are passed
//! through for hyper's own 400/431, after which hyper closes the connection; the header
//! count limit hyper applies is never above the [`MAX_HEADERS`] parsed here.
//!
//! Cost per request: one httparse parse of the head (no copy) on the common path.

use std::mem::MaybeUninit;

use bytes::{BufMut, BytesMut};

use crate::config::MAX_HEADERS;

/// Method of the synthetic request that stands for a refused one.
pub(crate) const REJECTED_METHOD: &str = "SLIPWAY-REJECTED";

/// Most chunk-extension bytes per body (hyper's limit).
const MAX_EXTENSION_BYTES: u64 = 16 * 1024;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Both Content-Length and Transfer-Encoding.
    LengthAndChunked,
    /// Transfer-Encoding other than exactly `chunked` (or on HTTP/1.0).
    BadTransferEncoding,
    /// Content-Length not a number, or several different ones.
    BadContentLength,
    /// Malformed chunked body.
    BadChunk,
}

impl Rejection {
    /// Stable name, used in the synthetic request's path and in metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejection::LengthAndChunked => "content-length-with-transfer-encoding",
            Rejection::BadTransferEncoding => "bad-transfer-encoding",
            Rejection::BadContentLength => "bad-content-length",
            Rejection::BadChunk => "bad-chunk",
        }
    }

    /// The inverse of `as_str`.
    pub(crate) fn from_path(path: &str) -> Option<Rejection> {
        [Rejection::LengthAndChunked, Rejection::BadTransferEncoding, Rejection::BadContentLength, Rejection::BadChunk]
            .into_iter()
            .find(|r| path.strip_prefix('/') == Some(r.as_str()))
    }
}

/// What to do with the bytes just read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    /// Pass the first `n` bytes to hyper; keep the rest (a partial head) back.
    Pass(usize),
    /// Pass the first `n` bytes, then the synthetic rejected request; drop the rest.
    RejectHead(usize, Rejection),
    /// Pass the first `n` bytes, drop the rest, and fail the request body in flight.
    RejectBody(usize),
}

impl Feed {
    /// How many bytes pass to hyper.
    pub(crate) fn passed(&self) -> usize {
        match *self {
            Feed::Pass(n) | Feed::RejectHead(n, _) | Feed::RejectBody(n) => n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a request head.
    Head,
    /// In a body with this many bytes left.
    Length(u64),
    /// In a chunked body.
    Chunked(Chunk),
    /// Not HTTP any more (after an upgrade or CONNECT), or not ours to judge.
    PassThrough,
    /// Refused; nothing more is passed.
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Start,
    Size(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
}

/// The framing state of one client connection; see the module docs.
#[derive(Debug)]
pub(crate) struct Framing {
    state: State,
    /// A request head that arrived in part, held back until complete.
    held: BytesMut,
    max_head: usize,
    max_headers: usize,
    /// Chunk-extension bytes seen in the current body.
    extension_bytes: u64,
    /// Trailer bytes and lines seen in the current body.
    trailer_bytes: usize,
    trailer_lines: usize,
    /// An upgrade request was passed and its answer is not known: once its body is
    /// through, bytes are held, not judged.
    switch_pending: bool,
    /// An upgrade request was passed since the last [`Framing::take_switch_started`].
    switch_started: bool,
    /// The `Host` of the refused head, for its stand-in request.
    rejected_host: Option<Box<[u8]>>,
}

impl Framing {
    pub(crate) fn new(max_head: usize, max_headers: usize) -> Framing {
        Framing {
            state: State::Head,
            held: BytesMut::new(),
            max_head,
            max_headers,
            extension_bytes: 0,
            trailer_bytes: 0,
            trailer_lines: 0,
            switch_pending: false,
            switch_started: false,
            rejected_host: None,
        }
    }

    /// Whether an upgrade request passed whose answer is not known yet.
    pub(crate) fn is_switch_pending(&self) -> bool {
        self.switch_pending
    }

    /// Whether the upgrade request is through (body included) and nothing more may be
    /// read until its answer is known.
    pub(crate) fn awaits_switch(&self) -> bool {
        self.switch_pending && self.state == State::Head
    }

    /// Whether an upgrade request was passed since the last call (to tell the request
    /// stack to report its answer).
    pub(crate) fn take_switch_started(&mut self) -> bool {
        std::mem::take(&mut self.switch_started)
    }

    /// The upgrade request's answer switched protocols: everything from here on passes
    /// unchecked. Returns the bytes held since (the new protocol's first bytes).
    pub(crate) fn switched(&mut self) -> BytesMut {
        self.switch_pending = false;
        self.state = State::PassThrough;
        std::mem::take(&mut self.held)
    }

    /// The upgrade request's answer did not switch protocols: the connection goes on with
    /// HTTP, and the held bytes are judged (with [`Framing::feed_held`]) like any others.
    pub(crate) fn not_switched(&mut self) {
        self.switch_pending = false;
    }

    /// Whether a partial head is held back.
    pub(crate) fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Whether the stream was refused (nothing more may be passed).
    pub(crate) fn is_rejected(&self) -> bool {
        self.state == State::Rejected
    }

    /// Whether every further byte passes unchecked.
    pub(crate) fn is_pass_through(&self) -> bool {
        self.state == State::PassThrough
    }

    /// Judges `input`, the bytes just read (never including held bytes).
    pub(crate) fn feed(&mut self, input: &[u8]) -> Feed {
        let mut at = 0;
        while at < input.len() {
            match self.state {
                State::PassThrough => return Feed::Pass(input.len()),
                State::Rejected => return Feed::Pass(at),
                State::Length(left) => {
                    let take = left.min((input.len() - at) as u64);
                    at += take as usize;
                    self.state = if take == left { State::Head } else { State::Length(left - take) };
                }
                State::Chunked(chunk) => match self.chunk(chunk, input, &mut at) {
                    Ok(next) => self.state = next,
                    Err(()) => {
                        self.state = State::Rejected;
                        return Feed::RejectBody(at);
                    }
                },
                State::Head if self.switch_pending => {
                    // Not ours to judge yet: HTTP or not depends on the upgrade's answer.
                    self.held.extend_from_slice(&input[at..]);
                    return Feed::Pass(at);
                }
                State::Head => match self.head(&input[at..]) {
                    HeadResult::Partial => {
                        if input.len() - at > self.max_head {
                            // Too large for us; hyper answers 431.
                            self.state = State::PassThrough;
                            return Feed::Pass(input.len());
                        }
                        self.held.extend_from_slice(&input[at..]);
                        return Feed::Pass(at);
                    }
                    HeadResult::Complete(len, next) => {
                        at += len;
                        self.state = next;
                    }
                    HeadResult::Reject(why) => {
                        self.state = State::Rejected;
                        return Feed::RejectHead(at, why);
                    }
                    HeadResult::NotOurs => {
                        self.state = State::PassThrough;
                        return Feed::Pass(input.len());
                    }
                },
            }
        }
        Feed::Pass(at)
    }

    /// Gives up the held partial head (the client closed mid-head).
    pub(crate) fn take_held(&mut self) -> BytesMut {
        std::mem::take(&mut self.held)
    }

    /// Judges the held partial head plus `more` bytes. Returns the verdict and the bytes
    /// to pass (held + more, up to the verdict's cut).
    pub(crate) fn feed_held(&mut self, more: &[u8]) -> (Feed, BytesMut) {
        let mut joined = std::mem::take(&mut self.held);
        joined.extend_from_slice(more);
        self.state = State::Head;
        let verdict = self.feed(&joined);
        // Whatever `feed` held again is already copied into `self.held`.
        joined.truncate(verdict.passed());
        (verdict, joined)
    }

    fn head(&mut self, bytes: &[u8]) -> HeadResult {
        let mut storage = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
        let storage = &mut storage[..self.max_headers.min(MAX_HEADERS)];
        let mut request = httparse::Request::new(&mut []);
        let len = match request.parse_with_uninit_headers(bytes, storage) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return HeadResult::Partial,
            Err(_) => return HeadResult::NotOurs,
        };
        let http10 = request.version == Some(0);
        let connect = request.method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"));
        let mut length: Option<u64> = None;
        let mut chunked = None::<bool>;
        let mut upgrade = false;
        let mut connection_upgrade = false;
        for header in request.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let Some(value) = parse_length(header.value) else {
                    return self.reject(Rejection::BadContentLength, request.headers);
                };
                if length.is_some_and(|l| l != value) {
                    return self.reject(Rejection::BadContentLength, request.headers);
                }
                length = Some(value);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                let is_chunked = trim(header.value).eq_ignore_ascii_case(b"chunked");
                if chunked.is_some() || !is_chunked || http10 {
                    return self.reject(Rejection::BadTransferEncoding, request.headers);
                }
                chunked = Some(true);
            } else if header.name.eq_ignore_ascii_case("upgrade") {
                upgrade = true;
            } else if header.name.eq_ignore_ascii_case("connection") {
                connection_upgrade |=
                    header.value.split(|&b| b == b',').any(|token| trim(token).eq_ignore_ascii_case(b"upgrade"));
            }
        }
        if chunked.is_some() && length.is_some() {
            return self.reject(Rejection::LengthAndChunked, request.headers);
        }
        if connect || (upgrade && connection_upgrade) {
            // What follows its body may be another protocol: wait for the answer.
            self.switch_pending = true;
            self.switch_started = true;
        }
        let next = if chunked.is_some() {
            self.extension_bytes = 0;
            self.trailer_bytes = 0;
            self.trailer_lines = 0;
            State::Chunked(Chunk::Start)
        } else {
            match length {
                Some(n) if n > 0 => State::Length(n),
                _ => State::Head,
            }
        };
        HeadResult::Complete(len, next)
    }

    /// Advances through a chunked body; `Ok(state)` when the input is used up or the body
    /// ended, `Err` on malformed framing (with `at` at the offending byte).
    fn chunk(&mut self, mut chunk: Chunk, input: &[u8], at: &mut usize) -> Result<State, ()> {
        while *at < input.len() {
            if let Chunk::Data(left) = chunk {
                let take = left.min((input.len() - *at) as u64);
                *at += take as usize;
                chunk = if take == left { Chunk::DataCr } else { Chunk::Data(left - take) };
                continue;
            }
            let byte = input[*at];
            chunk = match (chunk, byte) {
                (Chunk::Start, b) => Chunk::Size(u64::from(hex(b).ok_or(())?)),
                (Chunk::Size(size), b) if hex(b).is_some() => {
                    let digit = u64::from(hex(b).ok_or(())?);
                    Chunk::Size(size.checked_mul(16).and_then(|s| s.checked_add(digit)).ok_or(())?)
                }
                (Chunk::Size(size) | Chunk::SizeLws(size), b'\t' | b' ') => Chunk::SizeLws(size),
                (Chunk::Size(size) | Chunk::SizeLws(size), b';') => Chunk::Extension(size),
                (Chunk::Size(size) | Chunk::SizeLws(size) | Chunk::Extension(size), b'\r') => Chunk::SizeLf(size),
                (Chunk::Extension(_), b'\n') => return Err(()),
                (Chunk::Extension(size), _) => {
                    self.extension_bytes += 1;
                    if self.extension_bytes >= MAX_EXTENSION_BYTES {
                        return Err(());
                    }
                    Chunk::Extension(size)
                }
                (Chunk::SizeLf(0), b'\n') => Chunk::EndCr,
                (Chunk::SizeLf(size), b'\n') => Chunk::Data(size),
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => Chunk::Start,
                (Chunk::EndCr, b'\r') => Chunk::EndLf,
                (Chunk::EndCr | Chunk::Trailer, b) => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > self.max_head {
                        return Err(());
                    }
                    if b == b'\r' { Chunk::TrailerLf } else { Chunk::Trailer }
                }
                (Chunk::TrailerLf, b'\n') => {
                    self.trailer_lines += 1;
                    if self.trailer_lines > self.max_headers {
                        return Err(());
                    }
                    Chunk::EndCr
                }
                (Chunk::EndLf, b'\n') => {
                    *at += 1;
                    return Ok(State::Head);
                }
                _ => return Err(()),
            };
            *at += 1;
        }
        Ok(State::Chunked(chunk))
    }

    /// The bytes hyper gets in place of a refused head: the refused head's `Host` when it
    /// has a plain one (so the refusal is in its app's log lines), else `rejected`.
    pub(crate) fn rejected_request(&mut self, why: Rejection, out: &mut BytesMut) {
        out.put_slice(REJECTED_METHOD.as_bytes());
        out.put_slice(b" /");
        out.put_slice(why.as_str().as_bytes());
        out.put_slice(b" HTTP/1.1\r\nhost: ");
        match self.rejected_host.take() {
            Some(host) => out.put_slice(&host),
            None => out.put_slice(b"rejected"),
        }
        out.put_slice(b"\r\nconnection: close\r\n\r\n");
    }

    /// Refuses a head, keeping its `Host` for the stand-in request if it is one value of
    /// host-name bytes. Only on a refusal: the common path never looks for `Host`.
    fn reject(&mut self, why: Rejection, headers: &[httparse::Header<'_>]) -> HeadResult {
        let mut hosts = headers.iter().filter(|h| h.name.eq_ignore_ascii_case("host"));
        let plain = |v: &[u8]| {
            !v.is_empty() && v.len() <= 260 && v.iter().all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(b))
        };
        self.rejected_host = match (hosts.next(), hosts.next()) {
            (Some(host), None) if plain(host.value) => Some(host.value.into()),
            _ => None,
        };
        HeadResult::Reject(why)
    }
}

enum HeadResult {
    Partial,
    Complete(usize, State),
    Reject(Rejection),
    NotOurs,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `1*DIGIT`, as hyper accepts it.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = trim(value);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests;
