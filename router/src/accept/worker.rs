//! One worker thread's hyper servers and the request stack each of its connections gets
//! ([`Worker`]). The stack is assembled here, from the layers in `stack/`, once per client
//! connection (a few `Arc` clones), not per request.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio_util::task::TaskTracker;
use tower::Layer;

use crate::downstream::conn_state::ConnState;
use crate::lines::WorkerLines;
use crate::shared::Shared;
use crate::stack::forward::Forward;
use crate::stack::limit::{AppLimit, AppLimitLayer};
use crate::stack::route::RouteService;
use crate::tls::Handshaker;

/// The whole request path for one client connection.
pub(crate) type Stack = RouteService<AppLimit<Forward>>;

/// One worker thread's servers and request stack.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) h1: http1::Builder,
    pub(crate) h2: http2::Builder<TokioExecutor>,
    /// Tunnels of upgraded connections, waited for on shutdown.
    pub(crate) tunnels: TaskTracker,
    /// The HTTPS listener's handshakes, when it is on (one for every worker).
    pub(crate) tls: Option<Arc<Handshaker>>,
    /// This worker's batch of router lines, when they are on.
    pub(crate) lines: Option<Arc<WorkerLines>>,
}

impl Worker {
    /// The servers of worker `index`.
    pub(crate) fn new(shared: Arc<Shared>, index: usize, tls: Option<Arc<Handshaker>>) -> Worker {
        let limits = &shared.config.limits;
        let mut h1 = http1::Builder::new();
        h1.keep_alive(true)
            .half_close(false)
            // Our own timer handles slow heads and idle connections (accept/conn.rs).
            .header_read_timeout(None)
            .max_header_size(limits.max_header_bytes)
            .max_headers(limits.max_headers)
            .max_buf_size(limits.max_header_bytes.max(64 * 1024).max(8192));
        // Not `pipeline_flush`: it skips flushing while unread bytes are buffered, so a
        // response queued just before a close (a 431, a refused request) is never sent.
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        let lines = shared.lines.as_ref().map(|lines| lines.worker(index));
        Worker { shared, h1, h2, tunnels: TaskTracker::new(), tls, lines }
    }

    /// The request path for one client connection.
    pub(crate) fn stack(&self, conn: Arc<ConnState>) -> Stack {
        let forward = Forward { shared: self.shared.clone(), tunnels: self.tunnels.clone() };
        RouteService {
            inner: AppLimitLayer.layer(forward),
            shared: self.shared.clone(),
            conn,
            lines: self.lines.clone(),
        }
    }
}
