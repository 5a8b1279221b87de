//! A plain HTTP/1.1 client over a real socket, one connection per call (so each call is
//! independent), or kept alive with [`Conn`].

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// `GET path` with `Host: host` on a new connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Reply {
    let req = Request::get(path).header("host", host).body(Full::new(Bytes::new())).unwrap();
    send(addr, req).await.unwrap_or_else(|e| panic!("GET http://{host}{path} via {addr}: {e}"))
}

/// An API request to `addr` with a bearer `token` (None: no Authorization header) and a
/// body of `content_type` (None: no Content-Type); panics if the connection fails.
pub async fn call(
    addr: SocketAddr,
    host: &str,
    (method, path): (&str, &str),
    content_type: Option<&str>,
    body: Bytes,
    token: Option<&str>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path).header("host", host);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    send(addr, req.body(Full::new(body)).unwrap()).await.unwrap()
}

/// An HTTP API at `addr`, called with `Host: host` and, unless told otherwise, a bearer
/// `token`.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub addr: SocketAddr,
    pub host: &'static str,
    pub token: &'static str,
}

impl Api {
    /// A call with any body and token (None: no Authorization header).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
        token: Option<&str>,
    ) -> Reply {
        call(self.addr, self.host, (method, path), content_type, body, token).await
    }

    /// A call with the API's token and an optional JSON body.
    pub async fn json(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
        let (content_type, bytes) = match body {
            Some(body) => (Some("application/json"), Bytes::from(body.to_string())),
            None => (None, Bytes::new()),
        };
        self.call(method, path, content_type, bytes, Some(self.token)).await
    }

    /// A JSON call that must answer `status`; its JSON (Null when the body is empty).
    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> serde_json::Value {
        let reply = self.json(method, path, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
        if reply.body.is_empty() { serde_json::Value::Null } else { reply.json() }
    }
}

/// Sends `req` on a new connection and reads the whole response.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
    let mut conn = Conn::open(addr).await;
    conn.send(req).await
}

/// One kept-alive HTTP/1.1 connection.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(driver);
        Conn { sender }
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }

    /// `GET path` with `Host: host`.
    pub async fn get(&mut self, host: &str, path: &str) -> Result<Reply, hyper::Error> {
        let req = Request::get(path).header("host", host).body(Full::new(Bytes::new())).unwrap();
        self.send(req).await
    }
}
