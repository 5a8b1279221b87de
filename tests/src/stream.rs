//! Streaming HTTP responses read as they arrive: lines (NDJSON, text) and server-sent
//! events, over a real connection.

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:`, if any.
    pub id: Option<String>,
    /// `event:`, or "message".
    pub event: String,
    /// `data:` lines joined with '\n'.
    pub data: String,
    /// Comment lines (`: ...`) in the block.
    pub comments: Vec<String>,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

/// A response being streamed.
pub struct Stream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    buf: BytesMut,
    ended: bool,
}

/// Follows `app`'s logs on logd at `logd` over SSE with an app `token`, history first
/// (1,000 lines), with extra `query` parameters (`&dyno=web.1`, ...).
pub async fn app_logs(logd: SocketAddr, app: &str, token: &str, query: &str) -> Stream {
    let logs = sse(logd, &format!("/v1/apps/{app}/logs?tail=1000&token={token}{query}"), &[]).await;
    assert_eq!(logs.status, 200);
    logs
}

/// `GET path` with extra headers; returns once the response head arrived.
pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Stream {
    open_with(addr, path, headers, None).await
}

/// Like [`open`], with a fixed socket receive buffer (no autotuning): a reader that stops
/// reading then backs up into the server quickly.
pub async fn open_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)], recv_buffer: Option<u32>) -> Stream {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let stream = socket.connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", "logd");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = sender.send_request(req.body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    Stream { status: parts.status, headers: parts.headers, body, buf: BytesMut::new(), ended: false }
}

/// `GET path` as an SSE client (`Accept: text/event-stream`).
pub async fn sse(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Stream {
    let mut all = vec![("accept", "text/event-stream")];
    all.extend_from_slice(headers);
    open(addr, path, &all).await
}

impl Stream {
    async fn fill(&mut self) -> bool {
        while !self.ended {
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                        return true;
                    }
                }
                Some(Err(_)) | None => self.ended = true,
            }
        }
        false
    }

    /// The next line (without its newline); `None` at the end of the body.
    pub async fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(i + 1);
                return Some(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next event block (one with data, or only comments); `None` at the end.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block = self.buf.split_to(i + 2);
                let text = String::from_utf8_lossy(&block[..i]).into_owned();
                let mut event = SseEvent { event: "message".into(), ..SseEvent::default() };
                let mut data: Vec<&str> = Vec::new();
                for line in text.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        event.comments.push(c.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v);
                    }
                }
                event.data = data.join("\n");
                return Some(event);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next event that carries data (skipping comment-only blocks).
    pub async fn next_data(&mut self) -> Option<SseEvent> {
        loop {
            let event = self.next_event().await?;
            if !event.data.is_empty() {
                return Some(event);
            }
        }
    }

    /// Reads SSE log lines (JSON `message` events) until one `matches`, and returns it;
    /// panics after 30 s naming `what`.
    pub async fn wait_log(&mut self, what: &str, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let found = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(event) = self.next_data().await {
                if event.event == "message" {
                    let line = event.json();
                    if matches(&line) {
                        return Some(line);
                    }
                }
            }
            None
        })
        .await;
        found.ok().flatten().unwrap_or_else(|| panic!("no log line: {what}"))
    }

    /// The rest of the body as text.
    pub async fn rest(mut self) -> String {
        while self.fill().await {}
        let bytes = self.buf.copy_to_bytes(self.buf.remaining());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
