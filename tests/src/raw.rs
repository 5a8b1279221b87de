//! Raw bytes over TCP, for malformed and hostile HTTP (smuggling, slowloris).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back before the server closed the connection.
#[derive(Debug)]
pub struct RawReply {
    pub bytes: Vec<u8>,
}

impl RawReply {
    /// The bytes as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Status codes of every response in the bytes, in order.
    pub fn statuses(&self) -> Vec<u16> {
        let text = self.text();
        text.match_indices("HTTP/1.")
            .filter_map(|(i, _)| text.get(i + 9..i + 12).and_then(|s| s.parse().ok()))
            .collect()
    }
}

/// Writes `request`, then reads until the server closes the connection. Panics if it is
/// still open after `limit` (the server must close it by itself).
pub async fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_closed(&mut stream, limit).await
}

/// Reads until EOF (or a reset); panics after `limit`.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> RawReply {
    let mut bytes = Vec::new();
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    };
    if tokio::time::timeout(limit, read).await.is_err() {
        panic!("the server kept the connection open for more than {limit:?}");
    }
    RawReply { bytes }
}
