//! Small pieces shared by the benchmark tools: a keep-alive HTTP/1 client, request
//! building and latency percentiles.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// One kept-alive HTTP/1.1 client connection.
#[derive(Debug)]
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(driver);
        Ok(Conn { sender })
    }

    /// Sends a request; returns the status and body.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// A request to `path` with `Host: host`, a bearer `token` if given, and a JSON `body` if
/// given.
pub fn request(
    method: &str,
    path: &str,
    host: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(method).uri(path).header("host", host);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    req.body(Full::new(Bytes::from(body.unwrap_or_default()))).expect("valid request")
}

/// Sorts `samples` and returns the `p` quantiles (0.5 = median, 1.0 = max) in milliseconds.
pub fn percentiles<const N: usize>(samples: &mut [Duration], p: [f64; N]) -> [f64; N] {
    samples.sort();
    p.map(|p| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)].as_secs_f64() * 1000.0)
}

/// The time of a Fluent forward entry.
#[derive(Debug, Clone, Copy)]
pub enum EventTime {
    /// Integer seconds.
    Secs(u64),
    /// EventTime (msgpack ext type 0): seconds and nanoseconds.
    Event(u32, u32),
}

/// A PackedForward frame tagged `bench`: one record `{app, dyno: "web.1", log}` per
/// `(time, log)` of `records`, and with `chunk` the option that asks for an ack.
pub fn packed_forward<'a>(
    app: &str,
    records: impl Iterator<Item = (EventTime, &'a str)>,
    chunk: Option<&str>,
) -> Vec<u8> {
    let mut entries = Vec::with_capacity(records.size_hint().0 * 80);
    for (time, log) in records {
        rmp::encode::write_array_len(&mut entries, 2).ok();
        match time {
            EventTime::Secs(secs) => {
                rmp::encode::write_uint(&mut entries, secs).ok();
            }
            EventTime::Event(secs, nanos) => {
                rmp::encode::write_ext_meta(&mut entries, 8, 0).ok();
                entries.extend_from_slice(&secs.to_be_bytes());
                entries.extend_from_slice(&nanos.to_be_bytes());
            }
        }
        rmp::encode::write_map_len(&mut entries, 3).ok();
        for (key, value) in [("app", app), ("dyno", "web.1"), ("log", log)] {
            rmp::encode::write_str(&mut entries, key).ok();
            rmp::encode::write_str(&mut entries, value).ok();
        }
    }
    let mut out = Vec::with_capacity(entries.len() + 64);
    rmp::encode::write_array_len(&mut out, if chunk.is_some() { 3 } else { 2 }).ok();
    rmp::encode::write_str(&mut out, "bench").ok();
    rmp::encode::write_bin(&mut out, &entries).ok();
    if let Some(chunk) = chunk {
        rmp::encode::write_map_len(&mut out, 1).ok();
        rmp::encode::write_str(&mut out, "chunk").ok();
        rmp::encode::write_str(&mut out, chunk).ok();
    }
    out
}
