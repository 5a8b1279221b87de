//! Keep-alive connections to one endpoint, and opening new ones.
//!
//! Each worker thread has its own slot in every endpoint's pool, so a connection is only
//! ever used by the thread whose event loop drives it, and the slot's mutex is never
//! contended (it exists only because the pool is reachable from every thread).
//!
//! We drive hyper's HTTP/1 client connections ourselves instead of using hyper-util's
//! pooled `Client`: the proxy must know whether a connection exists *before* it hands the
//! request (and its streaming body) over, so that a failed connect can be retried on
//! another endpoint with the body intact. hyper-util's client consumes the request and
//! reports the connect failure afterwards.

use std::cell::Cell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::downstream::body::RequestBody;
use crate::spec::EndpointAddr;

/// A client connection to an endpoint, ready for one request at a time.
pub(crate) type Conn = http1::SendRequest<RequestBody>;

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Tells the pool which worker the current thread is (called once per worker thread).
pub(crate) fn set_worker_index(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// Idle connections to one endpoint, one LIFO stack per worker.
#[derive(Debug)]
pub(crate) struct Pool {
    slots: Box<[Mutex<Vec<Idle>>]>,
    max_idle: usize,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(workers: usize, max_idle: usize) -> Pool {
        Pool { slots: (0..workers.max(1)).map(|_| Mutex::new(Vec::new())).collect(), max_idle }
    }

    fn slot(&self) -> &Mutex<Vec<Idle>> {
        &self.slots[WORKER.with(Cell::get) % self.slots.len()]
    }

    /// Takes the most recently used idle connection that is still open and younger
    /// than `max_age`, with how long it was idle. O(1) amortised: expired connections are
    /// all below a fresh one.
    pub(crate) fn take(&self, max_age: Duration) -> Option<(Conn, Duration)> {
        let mut idle = self.slot().lock().unwrap_or_else(|e| e.into_inner());
        while let Some(entry) = idle.pop() {
            let age = entry.since.elapsed();
            if age >= max_age {
                // Everything below is older still.
                idle.clear();
                return None;
            }
            if !entry.conn.is_closed() {
                return Some((entry.conn, age));
            }
        }
        None
    }

    /// Returns a connection whose last response was read to the end.
    pub(crate) fn put(&self, conn: Conn) {
        if conn.is_closed() || self.max_idle == 0 {
            return;
        }
        let mut idle = self.slot().lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= self.max_idle {
            idle.remove(0);
        }
        idle.push(Idle { conn, since: Instant::now() });
    }
}

/// Why a new connection could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connect timed out")]
    Timeout,
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("name {0} did not resolve")]
    Unresolved(String),
    #[error("handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

/// Opens a TCP connection to `addr` within `timeout` and starts an HTTP/1 client on it,
/// driven by a task on the current worker's runtime.
pub(crate) async fn connect(addr: &EndpointAddr, timeout: Duration) -> Result<Conn, ConnectError> {
    let stream = tokio::time::timeout(timeout, tcp_connect(addr)).await.map_err(|_| ConnectError::Timeout)??;
    stream.set_nodelay(true)?;
    let (conn, driver) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = driver.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(conn)
}

pub(crate) async fn tcp_connect(addr: &EndpointAddr) -> Result<TcpStream, ConnectError> {
    match addr {
        EndpointAddr::Socket(addr) => Ok(TcpStream::connect(addr).await?),
        EndpointAddr::Named(host, port) => {
            let mut last = None;
            for resolved in tokio::net::lookup_host((&**host, *port)).await? {
                match TcpStream::connect(resolved).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.map_or_else(|| ConnectError::Unresolved(host.to_string()), ConnectError::Io))
        }
    }
}
