//! Starts a real logd (in this process, on loopback port 0) and talks to it over real
//! sockets: hand-built forward frames on TCP, HTTP streams for reading.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use slipway_logd::msgpack::Reader;
use slipway_logd::{Config, LogLine, Logd};
use slipway_tests::stream::{self, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ADMIN: &str = "test-admin-token-0123456789";
pub const KEY: &str = "test-signing-key-0123456789abcdef0123";
pub const LIMIT: Duration = Duration::from_secs(20);

/// A config for tests: loopback port 0, anonymous reads, short heartbeats.
pub fn config() -> Config {
    let mut c = Config::default();
    c.listen.forward = "127.0.0.1:0".parse().unwrap();
    c.listen.http = "127.0.0.1:0".parse().unwrap();
    c.auth.anonymous = true;
    c.auth.admin_token = Some(ADMIN.into());
    c.auth.signing_key = Some(KEY.into());
    c.log_level = "warn".into();
    c
}

pub async fn start(config: Config) -> Logd {
    Logd::start(config).await.unwrap()
}

/// A metric sample's value, e.g. `slipway_logd_acks_total`; 0 if absent.
pub fn metric(logd: &Logd, sample: &str) -> f64 {
    slipway_tests::metric(&logd.metrics_text(), sample)
}

/// The largest send buffer the kernel may give a TCP socket: what a subscriber that stops
/// reading lets logd write before its queue backs up.
pub fn send_buffer_max() -> usize {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap_or_default();
    text.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or(8 << 20)
}

// ---- hand-built msgpack ----------------------------------------------------------------

/// A time as senders write it.
#[derive(Debug, Clone, Copy)]
pub enum Time {
    Int(u64),
    Float(f64),
    Event(u32, u32),
}

pub fn write_time(b: &mut Vec<u8>, t: Time) {
    match t {
        Time::Int(n) => {
            rmp::encode::write_uint(b, n).unwrap();
        }
        Time::Float(f) => rmp::encode::write_f64(b, f).unwrap(),
        Time::Event(s, n) => {
            rmp::encode::write_ext_meta(b, 8, 0).unwrap();
            b.extend_from_slice(&s.to_be_bytes());
            b.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// A record `{"app": app, "log": log, extra...}` (string values).
pub fn record(app: &str, log: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_map_len(&mut b, 2 + extra.len() as u32).unwrap();
    for (k, v) in [("app", app), ("log", log)].iter().chain(extra) {
        rmp::encode::write_str(&mut b, k).unwrap();
        rmp::encode::write_str(&mut b, v).unwrap();
    }
    b
}

fn options(b: &mut Vec<u8>, opts: &[(&str, &str)]) {
    rmp::encode::write_map_len(b, opts.len() as u32).unwrap();
    for (k, v) in opts {
        rmp::encode::write_str(b, k).unwrap();
        rmp::encode::write_str(b, v).unwrap();
    }
}

/// Message mode: `[tag, time, record, options?]`.
pub fn message(tag: &str, time: Time, record: &[u8], opts: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, if opts.is_empty() { 3 } else { 4 }).unwrap();
    rmp::encode::write_str(&mut b, tag).unwrap();
    write_time(&mut b, time);
    b.extend_from_slice(record);
    if !opts.is_empty() {
        options(&mut b, opts);
    }
    b
}

/// Concatenated `[time, record]` entries.
pub fn entry_stream(entries: &[(Time, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (t, r) in entries {
        rmp::encode::write_array_len(&mut b, 2).unwrap();
        write_time(&mut b, *t);
        b.extend_from_slice(r);
    }
    b
}

/// Forward mode: `[tag, [[time, record], ...], options?]`.
pub fn forward(tag: &str, entries: &[(Time, Vec<u8>)], opts: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, if opts.is_empty() { 2 } else { 3 }).unwrap();
    rmp::encode::write_str(&mut b, tag).unwrap();
    rmp::encode::write_array_len(&mut b, entries.len() as u32).unwrap();
    b.extend(entry_stream(entries));
    if !opts.is_empty() {
        options(&mut b, opts);
    }
    b
}

/// PackedForward mode: `[tag, bin(entries), options?]`.
pub fn packed(tag: &str, entries: &[(Time, Vec<u8>)], opts: &[(&str, &str)]) -> Vec<u8> {
    packed_raw(tag, &entry_stream(entries), opts)
}

pub fn packed_raw(tag: &str, data: &[u8], opts: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    rmp::encode::write_array_len(&mut b, if opts.is_empty() { 2 } else { 3 }).unwrap();
    rmp::encode::write_str(&mut b, tag).unwrap();
    rmp::encode::write_bin(&mut b, data).unwrap();
    if !opts.is_empty() {
        options(&mut b, opts);
    }
    b
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// CompressedPackedForward with the entries split over `members` gzip members.
pub fn compressed(tag: &str, entries: &[(Time, Vec<u8>)], members: usize, opts: &[(&str, &str)]) -> Vec<u8> {
    let per = entries.len().div_ceil(members);
    let mut data = Vec::new();
    for chunk in entries.chunks(per) {
        data.extend(gzip(&entry_stream(chunk)));
    }
    let mut all = vec![("compressed", "gzip")];
    all.extend_from_slice(opts);
    packed_raw(tag, &data, &all)
}

// ---- a raw forward client ---------------------------------------------------------------

pub struct Fwd {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Fwd {
    pub async fn connect(addr: SocketAddr) -> Fwd {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Fwd { stream, buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one msgpack value the server sent.
    pub async fn read_msg(&mut self) -> Vec<u8> {
        tokio::time::timeout(LIMIT, async {
            loop {
                let mut r = Reader::new(&self.buf);
                if let Ok(value) = r.value() {
                    let n = value.len();
                    return self.buf.drain(..n).collect();
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the server closed the connection");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("no message from the server")
    }

    /// Reads an ack and checks its chunk.
    pub async fn expect_ack(&mut self, chunk: &str) {
        let msg = self.read_msg().await;
        let mut r = Reader::new(&msg);
        assert_eq!(r.map_len().unwrap(), 1);
        assert_eq!(r.str().unwrap(), "ack");
        assert_eq!(r.str().unwrap(), chunk);
    }

    /// Waits until the server closes the connection (panics after LIMIT).
    pub async fn wait_closed(&mut self) {
        let closed = tokio::time::timeout(LIMIT, async {
            let mut chunk = [0u8; 4096];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server kept the connection open");
    }
}

// ---- reading lines back -----------------------------------------------------------------

/// The lines of `app` in history (`follow=false`), as NDJSON.
pub async fn history(logd: &Logd, app: &str, query: &str) -> Vec<LogLine> {
    let path = format!("/v1/apps/{app}/logs?follow=false&tail=10000&{query}");
    let s = stream::open(logd.http_addr(), &path, &[]).await;
    assert_eq!(s.status, 200);
    s.rest()
        .await
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Opens a following SSE stream of `app` with `query`.
pub async fn follow_sse(logd: &Logd, app: &str, query: &str) -> Stream {
    let s = stream::sse(logd.http_addr(), &format!("/v1/apps/{app}/logs?{query}"), &[]).await;
    assert_eq!(s.status, 200);
    s
}

/// The next `n` lines of an SSE stream (panics on markers, or when no line comes for
/// LIMIT: a hang guard per line, so a long read on a loaded machine is not a failure).
pub async fn sse_lines(s: &mut Stream, n: usize) -> Vec<LogLine> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = tokio::time::timeout(LIMIT, s.next_data())
            .await
            .unwrap_or_else(|_| panic!("no line for {LIMIT:?} after {} of {n}", out.len()))
            .expect("stream ended");
        assert_eq!(e.event, "message", "unexpected event {e:?}");
        let line: LogLine = serde_json::from_str(&e.data).unwrap();
        assert_eq!(e.id.as_deref(), Some(line.seq.to_string().as_str()));
        out.push(line);
    }
    out
}

pub fn messages(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|l| l.message.as_str()).collect()
}

/// Waits (following over SSE, from the start of history) until `app` has `n` lines.
pub async fn wait_lines(logd: &Logd, app: &str, n: usize) -> Vec<LogLine> {
    let mut s = follow_sse(logd, app, "tail=10000").await;
    sse_lines(&mut s, n).await
}
