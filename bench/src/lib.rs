//! Small pieces shared by the benchmark tools: a keep-alive HTTP/1 client, request
//! building and latency percentiles. Forward frames come from logd's own client
//! (`slipway_logd::forward::client`).
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
