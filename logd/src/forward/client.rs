//! The client side of the Fluent forward protocol (v1), for Slipway's own senders: the
//! control plane's log sink, the bench load tools and tests.
//!
//! - Encoding: [`EventTime`], [`Entries`] (encoded `[time, record]` pairs) and the frame
//!   modes [`message`], [`forward`] and [`packed_forward`], each with the optional `chunk`
//!   option that asks the server for an ack.
//! - Reading the server's messages: [`Replies`] finds where each one ends as bytes arrive
//!   (with the server's own splitter, so a lying length is refused before its bytes come);
//!   [`Helo::read`], [`check_pong`] and [`ack_of`] read them in place with [`crate::msgpack`].
//! - The handshake's client side: [`ping`] answers a HELO.
//! - [`Client`]: one TCP connection that does the handshake when a shared key is set and
//!   sends Forward frames, each waiting for its ack.
//!
//! May import: `msgpack`, `forward::decode` (the splitter) and `forward::handshake` (the
//! digest and random helpers both sides use). Nothing here is on logd's record path.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Buf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::decode::{DecodeError, Splitter};
use super::handshake::{random16, sha512_hex};
use crate::msgpack::{self, Reader};

/// Longest wait for a connection, a handshake message or an ack.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest server message accepted.
pub const MAX_REPLY: usize = 64 * 1024;

/// A failed exchange with logd.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Network error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No answer in time.
    #[error("no answer from logd within {REPLY_TIMEOUT:?}")]
    Timeout,
    /// The server closed the connection.
    #[error("logd closed the connection")]
    Closed,
    /// The server sent something that is not what the protocol says.
    #[error("unexpected message from logd: {0}")]
    Protocol(String),
    /// The handshake was refused.
    #[error("logd refused the handshake: {0}")]
    Refused(String),
}

/// The time of a forward entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    /// Integer seconds.
    Secs(u64),
    /// EventTime (msgpack ext type 0): seconds and nanoseconds.
    Event(u32, u32),
}

impl EventTime {
    /// `time` as an EventTime (seconds past what a u32 holds saturate; before the epoch
    /// reads as the epoch).
    pub fn from_system_time(time: SystemTime) -> EventTime {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        EventTime::Event(u32::try_from(since.as_secs()).unwrap_or(u32::MAX), since.subsec_nanos())
    }

    fn write(self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        match self {
            EventTime::Secs(secs) => {
                let _ = rmp::encode::write_uint(out, secs);
            }
            EventTime::Event(secs, nanos) => {
                // fixext 8, type 0: the seconds and nanoseconds, big-endian.
                let mut bytes = [0xd7, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                bytes[2..6].copy_from_slice(&secs.to_be_bytes());
                bytes[6..].copy_from_slice(&nanos.to_be_bytes());
                out.extend_from_slice(&bytes);
            }
        }
    }
}

/// Writes a record: a map of string keys to string values, and `extra` more pairs the
/// caller writes after them.
#[inline]
fn write_record(out: &mut Vec<u8>, record: &[(&str, &str)], extra: usize) {
    match record.len() + extra {
        n @ 0..16 => out.push(0x80 | n as u8),
        n => {
            let _ = rmp::encode::write_map_len(out, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
    for (key, value) in record {
        write_str(out, key);
        write_str(out, value);
    }
}

/// Writes `s` as a msgpack str: a short one (the keys, app names) as one marker byte and
/// its bytes, without rmp's writer in between.
#[inline]
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.len() < 32 {
        out.push(0xa0 | s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    } else {
        let _ = rmp::encode::write_str(out, s);
    }
}

/// The value of a record's last pair as the caller writes it, straight into the entries'
/// buffer (see [`Entries::push_with`]). Only whole `&str`s go in, so it is UTF-8.
#[derive(Debug)]
pub struct StrWriter<'a>(&'a mut Vec<u8>);

impl StrWriter<'_> {
    /// Appends `s`.
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Encoded `[time, record]` entries, for one Forward or PackedForward frame. Reusable:
/// [`Entries::clear`] keeps the buffer.
#[derive(Debug, Clone, Default)]
pub struct Entries {
    buf: Vec<u8>,
    count: u32,
}

impl Entries {
    /// No entries, with room for `bytes` of them.
    pub fn with_capacity(bytes: usize) -> Entries {
        Entries { buf: Vec::with_capacity(bytes), count: 0 }
    }

    /// Adds `[time, {key: value, ...}]`. O(bytes of the record).
    pub fn push(&mut self, time: EventTime, record: &[(&str, &str)]) {
        let _ = rmp::encode::write_array_len(&mut self.buf, 2);
        time.write(&mut self.buf);
        write_record(&mut self.buf, record, 0);
        self.count = self.count.saturating_add(1);
    }

    /// Adds `[time, {key: value, ..., last_key: <what write writes>}]`: the last value is
    /// written in place, so a caller that formats it (the router's lines) needs no buffer
    /// of its own and it is not copied. It is a str 32 (any length; msgpack allows the
    /// wider form for short strings, and readers take it), its length filled in after.
    /// O(bytes of the record).
    pub fn push_with(
        &mut self,
        time: EventTime,
        record: &[(&str, &str)],
        last_key: &str,
        write: impl FnOnce(&mut StrWriter<'_>),
    ) {
        self.buf.push(0x92); // fixarray of 2
        time.write(&mut self.buf);
        write_record(&mut self.buf, record, 1);
        write_str(&mut self.buf, last_key);
        let head = self.buf.len();
        self.buf.extend_from_slice(&[0xdb, 0, 0, 0, 0]);
        write(&mut StrWriter(&mut self.buf));
        // A value past 4 GiB cannot be sent: it is cut to an empty one rather than
        // corrupting the frame.
        let len = u32::try_from(self.buf.len() - head - 5).unwrap_or_else(|_| {
            self.buf.truncate(head + 5);
            0
        });
        self.buf[head + 1..head + 5].copy_from_slice(&len.to_be_bytes());
        self.count = self.count.saturating_add(1);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries, one after the other (a PackedForward stream).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the entries, keeping the buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }
}

/// The outer array header and the tag of a frame of `items` items before the option.
fn frame_start(capacity: usize, tag: &str, items: u32, chunk: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity + tag.len() + chunk.map_or(0, str::len) + 24);
    let _ = rmp::encode::write_array_len(&mut out, items + u32::from(chunk.is_some()));
    let _ = rmp::encode::write_str(&mut out, tag);
    out
}

/// The option map `{"chunk": chunk}` when there is a chunk.
fn frame_end(out: &mut Vec<u8>, chunk: Option<&str>) {
    if let Some(chunk) = chunk {
        let _ = rmp::encode::write_map_len(out, 1);
        let _ = rmp::encode::write_str(out, "chunk");
        let _ = rmp::encode::write_str(out, chunk);
    }
}

/// Message mode: `[tag, time, record, {"chunk": chunk}?]`.
pub fn message(tag: &str, time: EventTime, record: &[(&str, &str)], chunk: Option<&str>) -> Vec<u8> {
    let size = record.iter().map(|(k, v)| k.len() + v.len() + 10).sum::<usize>();
    let mut out = frame_start(size + 16, tag, 3, chunk);
    time.write(&mut out);
    write_record(&mut out, record, 0);
    frame_end(&mut out, chunk);
    out
}

/// Forward mode: `[tag, [[time, record], ...], {"chunk": chunk}?]`.
pub fn forward(tag: &str, entries: &Entries, chunk: Option<&str>) -> Vec<u8> {
    let (mut out, tail) = forward_around(entries.buf.len(), tag, entries, chunk);
    out.extend_from_slice(&entries.buf);
    out.extend_from_slice(&tail);
    out
}

/// What goes before and after the entries in a Forward mode frame (`extra`: room for
/// more in the first).
fn forward_around(extra: usize, tag: &str, entries: &Entries, chunk: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let mut head = frame_start(extra, tag, 2, chunk);
    let _ = rmp::encode::write_array_len(&mut head, entries.count);
    let mut tail = Vec::with_capacity(chunk.map_or(0, str::len) + 8);
    frame_end(&mut tail, chunk);
    (head, tail)
}

/// PackedForward mode: `[tag, bin of the entries, {"chunk": chunk}?]`.
pub fn packed_forward(tag: &str, entries: &Entries, chunk: Option<&str>) -> Vec<u8> {
    let mut out = frame_start(entries.buf.len(), tag, 2, chunk);
    let _ = rmp::encode::write_bin(&mut out, &entries.buf);
    frame_end(&mut out, chunk);
    out
}

/// The server's messages (HELO, PONG, acks) as bytes arrive: each is one msgpack value of
/// at most [`MAX_REPLY`] bytes.
#[derive(Debug, Default)]
pub struct Replies {
    buf: Vec<u8>,
    splitter: Splitter,
}

impl Replies {
    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or `None` until more bytes arrive. A message that is
    /// not msgpack, or declares more than [`MAX_REPLY`] bytes, is an error at once.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self.splitter.next_value(&self.buf, MAX_REPLY) {
            Ok(Some(len)) => Ok(Some(self.buf.drain(..len).collect())),
            Ok(None) => Ok(None),
            Err(DecodeError::Oversized { .. }) => Err(ClientError::Protocol("message too large".into())),
            Err(e) => Err(ClientError::Protocol(e.to_string())),
        }
    }
}

/// A HELO: `["HELO", {"nonce": bin, "auth": bin or "", "keepalive": bool}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helo<'a> {
    /// The nonce the PING's digest covers.
    pub nonce: &'a [u8],
    /// The salt of the password digest; empty when the server has no users.
    pub auth: &'a [u8],
}

impl<'a> Helo<'a> {
    /// Reads a HELO message (missing options read as empty).
    pub fn read(msg: &'a [u8]) -> Result<Helo<'a>, ClientError> {
        let mut r = Reader::new(msg);
        let n = r.array_len().map_err(|_| ClientError::Protocol("HELO is not an array".into()))?;
        if n == 0 || r.bytes().ok() != Some(&b"HELO"[..]) {
            return Err(ClientError::Protocol("expected HELO".into()));
        }
        let options = if n >= 2 { r.value().ok() } else { None };
        let field = |key: &[u8]| {
            options.and_then(|o| msgpack::map_get(o, key)).and_then(|v| Reader::new(v).bytes().ok()).unwrap_or_default()
        };
        Ok(Helo { nonce: field(b"nonce"), auth: field(b"auth") })
    }
}

/// Checks a PONG: `["PONG", true, "", hostname, digest]` is `Ok`; `["PONG", false, reason,
/// ...]` is [`ClientError::Refused`] with the reason.
pub fn check_pong(msg: &[u8]) -> Result<(), ClientError> {
    let mut r = Reader::new(msg);
    let n = r.array_len().map_err(|_| ClientError::Protocol("PONG is not an array".into()))?;
    if n == 0 || r.bytes().ok() != Some(&b"PONG"[..]) {
        return Err(ClientError::Protocol("expected PONG".into()));
    }
    let accepted = n >= 2 && r.value().ok() == Some(&[0xc3][..]);
    if !accepted {
        let reason = if n >= 3 { r.bytes().ok() } else { None };
        return Err(ClientError::Refused(String::from_utf8_lossy(reason.unwrap_or_default()).into_owned()));
    }
    Ok(())
}

/// The chunk that `msg` acknowledges, if it is an ack `{"ack": chunk}`.
pub fn ack_of(msg: &[u8]) -> Option<&[u8]> {
    msgpack::map_get(msg, b"ack").and_then(|v| Reader::new(v).bytes().ok())
}

/// The PING answering a HELO's `nonce` and `auth` salt: `["PING", hostname, salt,
/// sha512_hex(salt + hostname + nonce + shared_key), username, sha512_hex(auth + username +
/// password)]` (the last two empty without a user).
pub fn ping(
    helo_nonce: &[u8],
    helo_auth: &[u8],
    hostname: &str,
    shared_key: &str,
    user: Option<(&str, &str)>,
) -> Vec<u8> {
    let salt = random16();
    let digest = sha512_hex(&[&salt, hostname.as_bytes(), helo_nonce, shared_key.as_bytes()]);
    let (username, password_digest) = match user {
        Some((u, p)) => (u, sha512_hex(&[helo_auth, u.as_bytes(), p.as_bytes()])),
        None => ("", String::new()),
    };
    let mut out = Vec::new();
    let _ = rmp::encode::write_array_len(&mut out, 6);
    let _ = rmp::encode::write_str(&mut out, "PING");
    let _ = rmp::encode::write_str(&mut out, hostname);
    let _ = rmp::encode::write_bin(&mut out, &salt);
    let _ = rmp::encode::write_str(&mut out, &digest);
    let _ = rmp::encode::write_str(&mut out, username);
    let _ = rmp::encode::write_str(&mut out, &password_digest);
    out
}

/// Shortest wait between attempts to reach logd again.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between attempts to reach logd again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The connection of a program that keeps sending to logd (control's log shipper, the
/// router's lines): [`Reconnect::connect`] tries until logd answers, waiting 100 ms, then
/// twice as long after each failure, up to 5 s; the caller says when sending worked again
/// ([`Reconnect::reset`]) and pauses after a connection failed ([`Reconnect::pause`]).
#[derive(Debug)]
pub struct Reconnect {
    addr: SocketAddr,
    shared_key: Option<String>,
    hostname: String,
    /// Named in the logs (e.g. "router lines").
    what: &'static str,
    backoff: Duration,
}

impl Reconnect {
    /// Connections to `addr`, with the handshake as `hostname` when `shared_key` is set.
    pub fn new(addr: SocketAddr, shared_key: Option<String>, hostname: String, what: &'static str) -> Reconnect {
        Reconnect { addr, shared_key, hostname, what, backoff: FIRST_BACKOFF }
    }

    /// Connects, retrying with backoff until it works.
    pub async fn connect(&mut self) -> Client {
        loop {
            match Client::connect(self.addr, self.shared_key.as_deref(), &self.hostname).await {
                Ok(client) => {
                    tracing::info!(logd = %self.addr, client = self.what, "connected to logd");
                    return client;
                }
                Err(e) => {
                    tracing::warn!(logd = %self.addr, client = self.what, error = %e, retry_in = ?self.backoff, "cannot connect to logd");
                    self.pause().await;
                }
            }
        }
    }

    /// Sending works: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.backoff = FIRST_BACKOFF;
    }

    /// Waits the current backoff and doubles it (up to 5 s): after a failed attempt.
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection to a forward listener that sends acked Forward frames.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    replies: Replies,
    chunks: u64,
}

impl Client {
    /// Connects to `addr` (within [`REPLY_TIMEOUT`]) and, when a shared key is given, does
    /// the handshake as `hostname`. A server that also asks for a username and password is
    /// refused here: this client sends none.
    pub async fn connect(addr: SocketAddr, shared_key: Option<&str>, hostname: &str) -> Result<Client, ClientError> {
        let stream =
            tokio::time::timeout(REPLY_TIMEOUT, TcpStream::connect(addr)).await.map_err(|_| ClientError::Timeout)??;
        stream.set_nodelay(true)?;
        let mut client = Client { stream, replies: Replies::default(), chunks: 0 };
        if let Some(key) = shared_key {
            client.handshake(key, hostname).await?;
        }
        Ok(client)
    }

    async fn handshake(&mut self, shared_key: &str, hostname: &str) -> Result<(), ClientError> {
        let helo = self.read_message().await?;
        let helo = Helo::read(&helo)?;
        if !helo.auth.is_empty() {
            return Err(ClientError::Refused(
                "logd asks for a username and password, which this client does not send".into(),
            ));
        }
        let ping = ping(helo.nonce, &[], hostname, shared_key, None);
        self.stream.write_all(&ping).await?;
        let pong = self.read_message().await?;
        check_pong(&pong)
    }

    /// Sends `entries` as one Forward mode frame tagged `tag`, under a new chunk id, and
    /// waits for its ack.
    pub async fn send_forward(&mut self, tag: &str, entries: &Entries) -> Result<(), ClientError> {
        self.chunks += 1;
        let chunk = format!("{:016x}-{}", u64::from_le_bytes(random8()), self.chunks);
        // The frame as `forward` makes it, written from its three parts (tokio writes a
        // chain with vectored writes): the entries are not copied into a frame first. A
        // peer that stops reading must not hold the sender for ever.
        let (head, tail) = forward_around(0, tag, entries, Some(&chunk));
        let mut frame = Buf::chain(Buf::chain(&head[..], &entries.buf[..]), &tail[..]);
        let write = self.stream.write_all_buf(&mut frame);
        tokio::time::timeout(REPLY_TIMEOUT, write).await.map_err(|_| ClientError::Timeout)??;
        let reply = self.read_message().await?;
        if ack_of(&reply) != Some(chunk.as_bytes()) {
            return Err(ClientError::Protocol(format!("expected the ack of chunk {chunk}")));
        }
        Ok(())
    }

    /// The server's next message, within [`REPLY_TIMEOUT`].
    async fn read_message(&mut self) -> Result<Vec<u8>, ClientError> {
        let read = async {
            loop {
                if let Some(message) = self.replies.next_message()? {
                    return Ok(message);
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(ClientError::Closed);
                }
                self.replies.push(&chunk[..n]);
            }
        };
        tokio::time::timeout(REPLY_TIMEOUT, read).await.map_err(|_| ClientError::Timeout)?
    }
}

/// Eight random bytes (for chunk ids, where only uniqueness matters).
fn random8() -> [u8; 8] {
    let r = random16();
    [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]
}

#[cfg(test)]
mod tests;
