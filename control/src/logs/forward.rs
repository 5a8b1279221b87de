//! The client side of the Fluent forward protocol (v1), as much as control needs to send
//! log records to logd: Forward mode messages (`[tag, [[time, record], ...], {"chunk"}]`)
//! with EventTime timestamps, waiting for each chunk's ack, and the optional
//! HELO/PING/PONG handshake with a shared key.
//!
//! Messages from the server (HELO, PONG, acks) are small maps and arrays; they are read
//! with a minimal msgpack reader that reports "incomplete" until a whole message is
//! buffered, and refuses anything deeper or larger than a handshake can be.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Record;

/// Longest wait for a handshake message or an ack.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest server message accepted.
const MAX_REPLY: usize = 64 * 1024;

/// A failed exchange with logd.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
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

/// One connection to logd's forward listener.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    chunks: u64,
}

impl Connection {
    /// Connects, doing the handshake when a shared key is given.
    pub async fn open(addr: SocketAddr, shared_key: Option<&str>) -> Result<Connection, ForwardError> {
        let stream = tokio::time::timeout(REPLY_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| ForwardError::Timeout)??;
        stream.set_nodelay(true)?;
        let mut conn = Connection { stream, buffer: Vec::new(), chunks: 0 };
        if let Some(key) = shared_key {
            conn.handshake(key).await?;
        }
        Ok(conn)
    }

    async fn handshake(&mut self, shared_key: &str) -> Result<(), ForwardError> {
        let helo = self.read_message().await?;
        let items = helo.array().ok_or_else(|| ForwardError::Protocol("HELO is not an array".into()))?;
        if items.first().and_then(Value::bytes) != Some(b"HELO") {
            return Err(ForwardError::Protocol("expected HELO".into()));
        }
        let options = items.get(1).and_then(Value::map).unwrap_or(&[]);
        let nonce = lookup(options, "nonce").and_then(Value::bytes).unwrap_or_default().to_vec();
        let auth = lookup(options, "auth").and_then(Value::bytes).unwrap_or_default();
        if !auth.is_empty() {
            return Err(ForwardError::Refused(
                "logd asks for a username and password, which control does not send".into(),
            ));
        }
        let ping = slipway_logd::forward::client::ping(&nonce, &[], &hostname(), shared_key, None);
        self.stream.write_all(&ping).await?;
        let pong = self.read_message().await?;
        let items = pong.array().ok_or_else(|| ForwardError::Protocol("PONG is not an array".into()))?;
        if items.first().and_then(Value::bytes) != Some(b"PONG") {
            return Err(ForwardError::Protocol("expected PONG".into()));
        }
        if !matches!(items.get(1), Some(Value::Bool(true))) {
            let reason = items.get(2).and_then(Value::bytes).map(String::from_utf8_lossy).unwrap_or_default();
            return Err(ForwardError::Refused(reason.into_owned()));
        }
        Ok(())
    }

    /// Sends `records` as one Forward mode message and waits for its ack.
    pub async fn send(&mut self, records: &[Record]) -> Result<(), ForwardError> {
        self.chunks += 1;
        let chunk = format!("{:016x}-{}", u64::from_le_bytes(random_bytes()), self.chunks);
        let frame = encode(records, &chunk);
        self.stream.write_all(&frame).await?;
        let reply = self.read_message().await?;
        let acked = reply.map().and_then(|m| lookup(m, "ack")).and_then(Value::bytes);
        if acked != Some(chunk.as_bytes()) {
            return Err(ForwardError::Protocol(format!("expected the ack of chunk {chunk}")));
        }
        Ok(())
    }

    async fn read_message(&mut self) -> Result<Value, ForwardError> {
        let read = async {
            loop {
                match parse(&self.buffer) {
                    Ok(Some((value, used))) => {
                        self.buffer.drain(..used);
                        return Ok(value);
                    }
                    Ok(None) if self.buffer.len() < MAX_REPLY => {}
                    Ok(None) => return Err(ForwardError::Protocol("message too large".into())),
                    Err(e) => return Err(ForwardError::Protocol(e)),
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(ForwardError::Closed);
                }
                self.buffer.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(REPLY_TIMEOUT, read).await.map_err(|_| ForwardError::Timeout)?
    }
}

/// `[ "slipway", [[time, record], ...], {"chunk": chunk} ]`. The tag carries no app: each
/// record says its `app`, `dyno`, `source` and `stream` (logd's default rules read these
/// keys first), and `log` holds the message.
pub fn encode(records: &[Record], chunk: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + records.iter().map(|r| r.message.len() + 96).sum::<usize>());
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_array_len(&mut out, 3);
    let _ = rmp::encode::write_str(&mut out, "slipway");
    let _ = rmp::encode::write_array_len(&mut out, u32::try_from(records.len()).unwrap_or(u32::MAX));
    for record in records {
        let _ = rmp::encode::write_array_len(&mut out, 2);
        let since = record.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let _ = rmp::encode::write_ext_meta(&mut out, 8, 0);
        out.extend_from_slice(&u32::try_from(since.as_secs()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&since.subsec_nanos().to_be_bytes());
        let _ = rmp::encode::write_map_len(&mut out, 5);
        for (key, value) in [
            ("app", record.app.as_str()),
            ("dyno", record.dyno.as_str()),
            ("source", record.source),
            ("stream", record.stream),
            ("log", record.message.as_str()),
        ] {
            let _ = rmp::encode::write_str(&mut out, key);
            let _ = rmp::encode::write_str(&mut out, value);
        }
    }
    let _ = rmp::encode::write_map_len(&mut out, 1);
    let _ = rmp::encode::write_str(&mut out, "chunk");
    let _ = rmp::encode::write_str(&mut out, chunk);
    out
}

fn lookup<'v>(map: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
    map.iter().find(|(k, _)| k.bytes() == Some(key.as_bytes())).map(|(_, v)| v)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // Only uniqueness matters here (chunk ids); fall back to the clock.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_le_bytes();
        for (b, n) in bytes.iter_mut().zip(nanos.iter().cycle()) {
            *b = *n;
        }
    }
    bytes
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "slipway-control".to_owned())
}

/// A msgpack value, as much as server messages need.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// nil, numbers, ext: present but not needed.
    Other,
    /// A boolean.
    Bool(bool),
    /// A str or bin.
    Bytes(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// A map.
    Map(Vec<(Value, Value)>),
}

impl Value {
    fn bytes(&self) -> Option<&[u8]> {
        if let Value::Bytes(b) = self { Some(b) } else { None }
    }

    fn array(&self) -> Option<&[Value]> {
        if let Value::Array(a) = self { Some(a) } else { None }
    }

    fn map(&self) -> Option<&[(Value, Value)]> {
        if let Value::Map(m) = self { Some(m) } else { None }
    }
}

/// Parses one value off the front of `buf`: `Ok(None)` if it is not complete yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, String> {
    let mut cursor = Cursor { buf, pos: 0 };
    match cursor.value(0) {
        Ok(value) => Ok(Some((value, cursor.pos))),
        Err(Incomplete::More) => Ok(None),
        Err(Incomplete::Bad(e)) => Err(e),
    }
}

enum Incomplete {
    More,
    Bad(String),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Incomplete> {
        let end = self.pos.checked_add(n).ok_or(Incomplete::More)?;
        let bytes = self.buf.get(self.pos..end).ok_or(Incomplete::More)?;
        self.pos = end;
        Ok(bytes)
    }

    fn len(&mut self, width: usize) -> Result<usize, Incomplete> {
        let b = self.take(width)?;
        let n = b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        if n > MAX_REPLY {
            return Err(Incomplete::Bad(format!("length {n} is too large")));
        }
        Ok(n)
    }

    fn value(&mut self, depth: u32) -> Result<Value, Incomplete> {
        if depth > 8 {
            return Err(Incomplete::Bad("nested too deeply".into()));
        }
        let marker = self.take(1)?[0];
        let (kind, n) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 => return Ok(Value::Other),
            0xc2 => return Ok(Value::Bool(false)),
            0xc3 => return Ok(Value::Bool(true)),
            0x80..=0x8f => ('m', usize::from(marker & 0x0f)),
            0x90..=0x9f => ('a', usize::from(marker & 0x0f)),
            0xa0..=0xbf => ('s', usize::from(marker & 0x1f)),
            0xc4 | 0xd9 => ('s', self.len(1)?),
            0xc5 | 0xda => ('s', self.len(2)?),
            0xc6 | 0xdb => ('s', self.len(4)?),
            0xdc => ('a', self.len(2)?),
            0xdd => ('a', self.len(4)?),
            0xde => ('m', self.len(2)?),
            0xdf => ('m', self.len(4)?),
            0xcc | 0xd0 => ('x', 1),
            0xcd | 0xd1 => ('x', 2),
            0xca | 0xce | 0xd2 => ('x', 4),
            0xcb | 0xcf | 0xd3 => ('x', 8),
            0xd4 => ('x', 2),
            0xd5 => ('x', 3),
            0xd6 => ('x', 5),
            0xd7 => ('x', 9),
            0xd8 => ('x', 17),
            0xc7 => ('x', self.len(1)? + 1),
            0xc8 => ('x', self.len(2)? + 1),
            0xc9 => ('x', self.len(4)? + 1),
            0xc1 => return Err(Incomplete::Bad("invalid msgpack marker 0xc1".into())),
        };
        match kind {
            's' => Ok(Value::Bytes(self.take(n)?.to_vec())),
            'x' => self.take(n).map(|_| Value::Other),
            'a' => (0..n).map(|_| self.value(depth + 1)).collect::<Result<_, _>>().map(Value::Array),
            _ => (0..n)
                .map(|_| Ok((self.value(depth + 1)?, self.value(depth + 1)?)))
                .collect::<Result<_, _>>()
                .map(Value::Map),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_parse_only_when_complete() {
        let mut ack = Vec::new();
        rmp::encode::write_map_len(&mut ack, 1).unwrap();
        rmp::encode::write_str(&mut ack, "ack").unwrap();
        rmp::encode::write_str(&mut ack, "c-1").unwrap();
        ack.extend_from_slice(b"\x93"); // the start of the next message
        for cut in 0..ack.len() - 1 {
            assert_eq!(parse(&ack[..cut]), Ok(None), "cut at {cut}");
        }
        let (value, used) = parse(&ack).unwrap().unwrap();
        assert_eq!(used, ack.len() - 1);
        assert_eq!(lookup(value.map().unwrap(), "ack").and_then(Value::bytes), Some(&b"c-1"[..]));
        assert!(parse(b"\xc1").is_err());
        assert!(parse(b"\xdf\xff\xff\xff\xff").is_err(), "absurd lengths are refused, not waited for");
    }

    #[test]
    fn forward_messages_carry_event_times_and_the_record_keys() {
        let record = Record {
            app: "shop".into(),
            dyno: "web.1".into(),
            source: "app",
            stream: "stdout",
            message: "GET / 200".into(),
            time: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
        };
        let frame = encode(&[record], "abc");
        let (value, used) = parse(&frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        let items = value.array().unwrap();
        assert_eq!(items[0].bytes(), Some(&b"slipway"[..]));
        let entry = items[1].array().unwrap()[0].array().unwrap();
        let record = entry[1].map().unwrap();
        assert_eq!(lookup(record, "log").and_then(Value::bytes), Some(&b"GET / 200"[..]));
        assert_eq!(lookup(record, "dyno").and_then(Value::bytes), Some(&b"web.1"[..]));
        assert_eq!(lookup(items[2].map().unwrap(), "chunk").and_then(Value::bytes), Some(&b"abc"[..]));
        // EventTime: fixext8 (0xd7), type 0, seconds and nanoseconds big-endian.
        let at = frame.iter().position(|&b| b == 0xd7).unwrap();
        assert_eq!(&frame[at..at + 10], &[0xd7, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 5]);
    }
}
