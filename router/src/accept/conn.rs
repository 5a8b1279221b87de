//! One client connection: the TLS handshake (HTTPS listener) or protocol detection (plain
//! listener), the hyper server connection, and the header-read and idle timers.
//!
//! Over TLS, ALPN says HTTP/2 or HTTP/1.1 (no prior-knowledge sniff); after that an HTTPS
//! connection runs exactly the plain path: the same framing check, limits, timers,
//! upgrades and request stack, over a `TlsStream` instead of a `TcpStream` (the I/O wrapper
//! is generic, so the plain path is compiled as before, without dynamic dispatch). The timers run on the connection's [`ConnState`]
//! (`downstream/conn_state.rs` says why they are ours and not hyper's): the connection task
//! closes a connection whose request head is late (slowloris) at once, and an idle one
//! gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::accept::gate::Gated;
use crate::accept::worker::{Stack, Worker};
use crate::clock::now_ms;
use crate::downstream::conn_state::{ConnState, Expired, Protocol};
use crate::downstream::framing::{Feed, Framing};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a client connection's bytes travel over: a TCP socket, or TLS on one.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientIo for T {}

/// Serves one connection accepted on the HTTPS listener until it closes.
pub(crate) async fn serve_tls(worker: Arc<Worker>, stream: TcpStream, client: SocketAddr, shutdown: CancellationToken) {
    let Some(handshaker) = worker.tls.clone() else { return };
    let (_open, opened, local_port) = accepted(&worker, &stream);
    let limit = worker.shared.config.timeouts.header_read;
    let established = tokio::select! {
        done = handshaker.accept(stream, client, limit) => done,
        () = shutdown.cancelled() => return,
    };
    let Some((stream, http2)) = established else { return };
    run(
        &worker,
        stream,
        Bytes::new(),
        Peer { client, local_port, opened, http2, protocol: Protocol::Https },
        &shutdown,
    )
    .await;
}

/// Serves one accepted client connection until it closes.
pub(crate) async fn serve(worker: Arc<Worker>, mut stream: TcpStream, client: SocketAddr, shutdown: CancellationToken) {
    let metrics = &worker.shared.metrics;
    let (_open, opened, local_port) = accepted(&worker, &stream);
    let timeouts = &worker.shared.config.timeouts;

    // Detect HTTP/2 prior knowledge from the first bytes, within the header timeout.
    let sniffed = tokio::select! {
        r = tokio::time::timeout(timeouts.header_read, sniff(&mut stream)) => r,
        () = shutdown.cancelled() => return,
    };
    let (http2, prefix) = match sniffed {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(%client, error = %e, "client connection failed before its first request");
            return;
        }
        Err(_) => {
            metrics.header_timeouts.inc();
            tracing::debug!(%client, "client sent no request head in time");
            return;
        }
    };

    run(&worker, stream, prefix, Peer { client, local_port, opened, http2, protocol: Protocol::Http }, &shutdown).await;
}

/// What both listeners do with a connection they accept: count it open (until the
/// returned guard drops), note when, turn Nagle off. Returns the guard, the time and the
/// local port.
fn accepted<'w>(worker: &'w Worker, stream: &TcpStream) -> (impl Drop + use<'w>, u64, u16) {
    worker.shared.metrics.open_connections.inc();
    let open = scopeguard(move || worker.shared.metrics.open_connections.dec());
    let _ = stream.set_nodelay(true);
    (open, now_ms(), stream.local_addr().map_or(0, |a| a.port()))
}

/// What the connection task knows of a client connection before its first request.
struct Peer {
    client: SocketAddr,
    local_port: u16,
    opened: u64,
    http2: bool,
    protocol: Protocol,
}

/// Serves HTTP on an established connection (`prefix`: bytes read already, replayed first).
async fn run<S: ClientIo>(worker: &Worker, stream: S, prefix: Bytes, peer: Peer, shutdown: &CancellationToken) {
    let Peer { client, local_port, opened, http2, protocol } = peer;
    // Trust is the peer's, so decided once per connection, not per request.
    let trusted = worker.shared.config.clients.is_trusted(client.ip());
    let state = Arc::new(ConnState::new(client, local_port, http2, opened, trusted, protocol));
    let limits = &worker.shared.config.limits;
    let framing = (!http2).then(|| Framing::new(limits.max_header_bytes, limits.max_headers));
    let io = TokioIo::new(Tracked::new(stream, prefix, state.clone(), framing));
    let service = TowerToHyperService::new(worker.stack(state.clone()));
    if http2 {
        let conn = worker.h2.serve_connection(io, service);
        drive(conn, worker, &state, shutdown).await;
    } else {
        let conn = worker.h1.serve_connection(io, service).with_upgrades();
        drive(conn, worker, &state, shutdown).await;
    }
}

/// Runs a hyper connection with the header/idle timers and graceful shutdown.
///
/// The task wakes a few times per request (the client's bytes, the upstream's) and the
/// `select!` polls its branches each time, so the rare ones are made cheap to poll: the
/// refusal of a request body is a flag set during the connection's own poll (read right
/// after it, no notifier), the hard stop is polled only after a refusal, and shutdown is
/// [`Gated`] (polled again only once it woke).
async fn drive<C>(conn: C, worker: &Worker, state: &ConnState, shutdown: &CancellationToken)
where
    C: GracefulConnection,
{
    let timeouts = &worker.shared.config.timeouts;
    let mut conn = std::pin::pin!(conn);
    let first_check = tokio::time::Instant::now() + timeouts.header_read.min(timeouts.idle);
    let timer = tokio::time::sleep_until(first_check);
    let mut timer = std::pin::pin!(timer);
    let mut closing = false;
    // After a refused request body, the response in flight gets this long to finish.
    let hard_stop = tokio::time::sleep(Duration::MAX);
    let mut hard_stop = std::pin::pin!(hard_stop);
    let mut rejected = false;
    let mut shutdown = std::pin::pin!(Gated::new(shutdown.cancelled()));
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(client = %state.client, error = %e, "client connection ended with an error");
                }
                return;
            }
            // Set by the framing check while `conn` was polled just above.
            () = refused(state), if !rejected => {
                rejected = true;
                closing = true;
                conn.as_mut().graceful_shutdown();
                hard_stop.as_mut().reset(tokio::time::Instant::now() + timeouts.header_read);
            }
            () = hard_stop.as_mut(), if rejected => return,
            () = shutdown.as_mut(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = timer.as_mut(), if !closing => match state.check(timeouts.header_read, timeouts.idle) {
                Ok(next_ms) => {
                    let wait = Duration::from_millis(next_ms.saturating_sub(now_ms()).max(1));
                    timer.as_mut().reset(tokio::time::Instant::now() + wait);
                }
                Err(Expired::HeaderTimeout) => {
                    worker.shared.metrics.header_timeouts.inc();
                    tracing::debug!(client = %state.client, "request head not received in time; closing");
                    return;
                }
                Err(Expired::Idle) => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            },
        }
    }
}

/// Ready once the framing check refused a request body on this connection. Needs no
/// waker: the refusal happens inside the connection's poll, in this task, and `drive`
/// polls this right after it.
fn refused(state: &ConnState) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_| if state.is_poisoned() { Poll::Ready(()) } else { Poll::Pending })
}

/// A hyper server connection that can be asked to finish gracefully.
trait GracefulConnection: Future<Output = Result<(), hyper::Error>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

type Io<S> = TokioIo<Tracked<S>>;
type Svc = TowerToHyperService<Stack>;

impl<S: ClientIo> GracefulConnection for hyper::server::conn::http1::UpgradeableConnection<Io<S>, Svc> {
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown(self);
    }
}

impl<S: ClientIo> GracefulConnection
    for hyper::server::conn::http2::Connection<Io<S>, Svc, hyper_util::rt::TokioExecutor>
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http2::Connection::graceful_shutdown(self);
    }
}

/// Reads until the bytes are either not a prefix of the HTTP/2 preface (HTTP/1) or the
/// whole preface (HTTP/2). Returns what was read, to be replayed to hyper.
async fn sniff(stream: &mut TcpStream) -> io::Result<Option<(bool, Bytes)>> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Some((false, buf.freeze())));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some((true, buf.freeze())));
        }
    }
}

/// The client socket as hyper reads it: sniffed bytes replayed first, every HTTP/1 byte
/// judged by [`Framing`] before hyper parses it, and the arrival of bytes noted for the
/// header timer.
struct Tracked<S: ClientIo> {
    /// None only after `drop` handed the socket to the lingering close.
    inner: Option<S>,
    /// Bytes for hyper before anything more is read (sniffed, joined or synthetic).
    out: BytesMut,
    /// The client closed its side; report EOF once `out` is drained.
    eof: bool,
    framing: Option<Framing>,
    state: Arc<ConnState>,
}

impl<S: ClientIo> Tracked<S> {
    fn new(inner: S, prefix: Bytes, state: Arc<ConnState>, framing: Option<Framing>) -> Tracked<S> {
        let mut tracked = Tracked { inner: Some(inner), out: BytesMut::new(), eof: false, framing, state };
        match tracked.framing.as_mut() {
            None => tracked.out.extend_from_slice(&prefix),
            Some(framing) => {
                let verdict = framing.feed(&prefix);
                tracked.judged(verdict, &prefix);
            }
        }
        tracked
    }

    /// Queues the part of `bytes` the verdict lets through, and acts on a refusal.
    fn judged(&mut self, verdict: Feed, bytes: &[u8]) {
        self.out.extend_from_slice(&bytes[..verdict.passed()]);
        self.refused(verdict);
    }

    /// Acts on a verdict, after the bytes before it were passed: queues the stand-in
    /// request for a refused head, fails the request body for a refused body, and tells
    /// the request stack when an upgrade request passed (so that it reports the answer).
    fn refused(&mut self, verdict: Feed) {
        if let Some(framing) = self.framing.as_mut()
            && framing.take_switch_started()
        {
            self.state.await_switch();
        }
        match verdict {
            Feed::Pass(_) => {}
            Feed::RejectHead(_, why) => {
                if let Some(framing) = self.framing.as_mut() {
                    framing.rejected_request(why, &mut self.out);
                }
                tracing::info!(client = %self.state.client, reason = why.as_str(), "request refused: ambiguous framing");
            }
            Feed::RejectBody(_) => {
                tracing::info!(client = %self.state.client, "request refused: malformed chunked body");
                self.state.poison();
            }
        }
    }

    fn socket(&mut self) -> &mut S {
        self.inner.as_mut().expect("the socket is only taken on drop")
    }
}

impl<S: ClientIo> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out[..n]);
                this.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let Some(framing) = this.framing.as_mut() else {
                // HTTP/2: no framing of ours to check, no head timer to feed.
                return Pin::new(this.socket()).poll_read(cx, buf);
            };
            if framing.is_rejected() {
                // Nothing more from this client reaches hyper; the connection task closes
                // the connection once the answer is out.
                return Poll::Pending;
            }
            if framing.is_switch_pending() {
                // After an upgrade request: the bytes are HTTP again only if its answer did
                // not switch protocols. Until it is known, nothing more is read.
                match this.state.poll_switch(cx) {
                    Poll::Ready(true) => {
                        let held = framing.switched();
                        this.out.extend_from_slice(&held);
                        continue;
                    }
                    Poll::Ready(false) => {
                        framing.not_switched();
                        if framing.is_holding() {
                            let (verdict, joined) = framing.feed_held(&[]);
                            this.judged(verdict, &joined);
                        }
                        continue;
                    }
                    Poll::Pending if framing.awaits_switch() => return Poll::Pending,
                    // Still in the upgrade request's own body: read it as usual.
                    Poll::Pending => {}
                }
            }
            if framing.is_holding() {
                // Slow path: a head arrived in part. Read more next to it.
                let mut scratch = [0u8; 4096];
                let mut more = ReadBuf::new(&mut scratch);
                match Pin::new(this.socket()).poll_read(cx, &mut more) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {}
                }
                let framing = this.framing.as_mut().expect("checked above");
                if more.filled().is_empty() {
                    // EOF inside a head: give hyper what there is; it reports the error.
                    let partial = framing.take_held();
                    this.out.extend_from_slice(&partial);
                    this.eof = true;
                    continue;
                }
                this.state.on_read();
                // `joined` is cut at the verdict's length already.
                let (verdict, joined) = framing.feed_held(more.filled());
                this.judged(verdict, &joined);
                continue;
            }
            // Fast path: read straight into hyper's buffer and judge the new bytes there.
            let before = buf.filled().len();
            match Pin::new(this.socket()).poll_read(cx, buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let after = buf.filled().len();
            if after == before {
                return Poll::Ready(Ok(()));
            }
            this.state.on_read();
            let framing = this.framing.as_mut().expect("checked above");
            if framing.is_pass_through() {
                return Poll::Ready(Ok(()));
            }
            let verdict = framing.feed(&buf.filled()[before..]);
            let kept = verdict.passed();
            buf.set_filled(before + kept);
            // The passed bytes are in hyper's buffer already; a refusal queues its
            // consequences in `out`.
            this.refused(verdict);
            if kept > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: ClientIo> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.socket()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.socket()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.socket()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.socket()).poll_shutdown(cx)
    }
}

impl<S: ClientIo> Drop for Tracked<S> {
    fn drop(&mut self) {
        // A refused client may still be sending. Closing a socket with unread data makes
        // the kernel send a reset, which can destroy our 400 before the client reads it;
        // so read and discard for a moment first (nginx's "lingering close").
        if self.framing.as_ref().is_some_and(Framing::is_rejected)
            && let Some(stream) = self.inner.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(linger(stream));
        }
    }
}

async fn linger<S: ClientIo>(mut stream: S) {
    use tokio::io::AsyncWriteExt;
    let _ = stream.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < 1 << 20 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
