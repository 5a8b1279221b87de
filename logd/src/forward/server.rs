//! Forward listeners (TCP and TLS) and one task per connection.
//!
//! A connection: optional handshake (HELO/PING/PONG), then a read loop. Bytes go into one
//! buffer; the splitter cuts complete frames off its front; each frame's entries become
//! lines (record rules), grouped by app and appended to the store, and a frame with a
//! `chunk` option is acked once its lines are kept (and, with persistence, on disk).
//! Bad input closes this connection only, with a logged reason and a counted metric.
//!
//! No client can pin the listener: every read first reserves its space in the budget
//! shared by all connections (`budget`: past `forward.max_buffered_bytes`, reads wait),
//! and two timers (`timer`) close a connection whose client goes quiet
//! (`forward.idle_timeout`) or dribbles a frame (`forward.frame_timeout`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::budget::{BUSY_READ, Budget, IDLE_READ, Share};
use super::decode::{self, DecodeError, EntryIter, Limits, Splitter};
use super::handshake::Security;
use super::timer::{Expired, Timeouts, Timer};
use crate::line::{Line, LineBatch};
use crate::metrics::Metrics;
use crate::record::Rules;
use crate::store::{AppLog, Store};

/// Everything a forward connection needs.
#[derive(Debug)]
pub struct Ingest {
    /// Where lines go.
    pub store: Arc<Store>,
    /// Record → line rules.
    pub rules: Rules,
    /// Frame limits.
    pub limits: Limits,
    /// The handshake, when a shared key is set.
    pub security: Option<Security>,
    /// Time allowed for the handshake.
    pub handshake_timeout: Duration,
    /// The idle and frame timers.
    pub timeouts: Timeouts,
    /// The bytes all forward connections may hold together.
    pub budget: Arc<Budget>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Open-connection limit.
    pub connections: Arc<Semaphore>,
}

/// Accepts forward connections (TLS when `tls` is given) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    while let Some((stream, peer)) = crate::listener::accept(&listener, &shutdown, "forward").await {
        let Ok(permit) = ingest.connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "forward connection refused: forward.max_connections reached");
            ingest.metrics.decode_errors.with_label_values(&["connection_limit"]).inc();
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sock = socket2::SockRef::from(&stream);
        let _ = sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)));
        let ingest = ingest.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tasks.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, peer, ingest, shutdown).await,
                Some(acceptor) => {
                    let accepted = tokio::time::timeout(ingest.handshake_timeout, acceptor.accept(stream)).await;
                    match accepted {
                        Ok(Ok(stream)) => connection(stream, peer, ingest, shutdown).await,
                        Ok(Err(e)) => {
                            tracing::warn!(%peer, error = %e, "forward TLS handshake failed");
                            ingest.metrics.handshake_failures.with_label_values(&["tls"]).inc();
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "forward TLS handshake timed out");
                            ingest.metrics.handshake_failures.with_label_values(&["timeout"]).inc();
                        }
                    }
                }
            }
        });
    }
}

/// Why a connection ended early.
#[derive(Debug)]
enum Close {
    /// Bad input.
    Decode(DecodeError),
    /// The handshake failed (already logged and answered).
    Handshake,
    /// The peer went away or a write failed.
    Io(std::io::Error),
    /// Lines could not be made durable; no ack sent.
    Disk,
    /// The client went quiet, or did not finish a frame in time.
    Timeout(Expired),
    /// Shutting down.
    Shutdown,
}

/// A frame's lines, grouped by app.
type AppLines = Vec<(Arc<AppLog>, Vec<Line>)>;

thread_local! {
    /// Where CompressedPackedForward entries are inflated: one buffer per worker thread,
    /// kept between frames (no allocation per frame), so inflated data costs at most
    /// `threads x max_frame_bytes`, however many connections once sent a large frame.
    static INFLATED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Empty line vectors for a frame's per-app groups, kept between frames on this worker
    /// thread so a frame's lines are gathered without growing a new vector each time. At
    /// most `SPARE_GROUPS` of at most `SPARE_LINES` lines' capacity each (a few MiB per
    /// thread at worst).
    static SPARE: std::cell::RefCell<Vec<Vec<Line>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Most spare group vectors a worker thread keeps.
const SPARE_GROUPS: usize = 4;
/// Largest capacity (in lines) of a spare group vector worth keeping.
const SPARE_LINES: usize = 4096;

/// An empty vector for a new group of lines: a spare one when there is one.
fn group_vec() -> Vec<Line> {
    SPARE.with_borrow_mut(Vec::pop).unwrap_or_default()
}

/// Gives back a group's vector (emptied by the store) for the next frame.
fn give_back(lines: Vec<Line>) {
    if lines.capacity() <= SPARE_LINES {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < SPARE_GROUPS {
                spare.push(lines);
            }
        });
    }
}

struct Conn<S> {
    stream: S,
    peer: SocketAddr,
    buf: BytesMut,
    splitter: Splitter,
    last_app: Option<Arc<AppLog>>,
    ingest: Arc<Ingest>,
    /// This connection's part of the budget.
    share: Share,
    /// Bytes of frames handled since the last read, given back at the next one.
    consumed: usize,
    /// When the partial frame in `buf` started (set at the read after its first byte).
    frame_start: Option<Instant>,
    /// The last read filled its space: more is probably waiting.
    busy: bool,
    timer: Timer,
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
) {
    let metrics = ingest.metrics.clone();
    metrics.connections.inc();
    metrics.connections_total.inc();
    tracing::debug!(%peer, "forward connection opened");
    let mut conn = Conn {
        stream,
        peer,
        buf: BytesMut::new(),
        splitter: Splitter::default(),
        last_app: None,
        share: Share::new(ingest.budget.clone()),
        consumed: 0,
        frame_start: None,
        busy: false,
        timer: Timer::new(ingest.timeouts),
        ingest,
    };
    let result = conn.run(&shutdown).await;
    match result {
        Ok(()) | Err(Close::Shutdown) => tracing::debug!(%peer, "forward connection closed"),
        Err(Close::Decode(e)) => {
            metrics.decode_errors.with_label_values(&[e.reason()]).inc();
            tracing::warn!(%peer, reason = e.reason(), error = %e, "closing forward connection: bad input");
        }
        Err(Close::Handshake) => {}
        Err(Close::Io(e)) => tracing::debug!(%peer, error = %e, "forward connection ended"),
        Err(Close::Disk) => tracing::warn!(%peer, "closing forward connection: lines could not be written to disk"),
        Err(Close::Timeout(expired)) => {
            metrics.forward_timeouts.with_label_values(&[expired.label()]).inc();
            let limits = conn.timer.limits();
            match expired {
                Expired::Idle => tracing::info!(
                    %peer,
                    reason = expired.label(),
                    idle_timeout = ?limits.idle,
                    "closing forward connection: the client sent nothing for forward.idle_timeout"
                ),
                Expired::Frame => tracing::warn!(
                    %peer,
                    reason = expired.label(),
                    frame_timeout = ?limits.frame,
                    frame_min_rate = limits.min_rate,
                    received = conn.buf.len(),
                    "closing forward connection: a frame was not complete in time (forward.frame_timeout)"
                ),
            }
        }
    }
    let _ = conn.stream.shutdown().await;
    metrics.connections.dec();
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn run(&mut self, shutdown: &CancellationToken) -> Result<(), Close> {
        if self.ingest.security.is_some() {
            let limit = self.ingest.handshake_timeout;
            match tokio::time::timeout(limit, self.handshake(shutdown)).await {
                Ok(result) => result?,
                Err(_) => {
                    self.ingest.metrics.handshake_failures.with_label_values(&["timeout"]).inc();
                    tracing::warn!(peer = %self.peer, "forward handshake timed out");
                    return Err(Close::Handshake);
                }
            }
        }
        loop {
            while let Some(frame) = self.next_frame()? {
                self.handle(frame).await?;
            }
            if !self.read(shutdown).await? {
                return if self.buf.is_empty() {
                    Ok(())
                } else {
                    Err(Close::Decode(DecodeError::Truncated(self.buf.len())))
                };
            }
        }
    }

    /// Reads more bytes; false at end of stream. Waits first for buffer space (the frame
    /// timer runs meanwhile, the idle timer does not), then for the client (both run).
    async fn read(&mut self, shutdown: &CancellationToken) -> Result<bool, Close> {
        // The frames handled since the last read are gone: give their bytes back first,
        // so a connection never waits for room while holding what it is done with.
        self.share.release(std::mem::take(&mut self.consumed));
        let mut now = Instant::now();
        let mid_frame = !self.buf.is_empty();
        if !mid_frame {
            self.frame_start = None;
        } else if self.frame_start.is_none() {
            self.frame_start = Some(now);
        }
        let frame = self.frame_start.map(|started| (started, self.buf.len()));
        // O(1): a connection between frames with nothing pending reserves little.
        let want = if mid_frame || self.busy { BUSY_READ } else { IDLE_READ };
        if !self.share.try_reserve(want) {
            tokio::select! {
                () = shutdown.cancelled() => return Err(Close::Shutdown),
                () = self.share.reserve(want, mid_frame) => {}
                expired = self.timer.expired(None, frame) => return Err(Close::Timeout(expired)),
            }
            now = Instant::now();
        }
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
        }
        // At most the reserved space: the budget is a bound, not an estimate.
        let mut space = (&mut self.buf).limit(want);
        let n = tokio::select! {
            () = shutdown.cancelled() => return Err(Close::Shutdown),
            read = self.stream.read_buf(&mut space) => read.map_err(Close::Io)?,
            expired = self.timer.expired(Some(now), frame) => return Err(Close::Timeout(expired)),
        };
        self.share.settle(n);
        self.busy = n == want;
        self.ingest.metrics.bytes.inc_by(n as u64);
        Ok(n > 0)
    }

    /// Cuts the next complete frame off the buffer. Its bytes stay counted in the budget
    /// until the next read (`consumed`): the caller handles the frame before reading again.
    fn next_frame(&mut self) -> Result<Option<BytesMut>, Close> {
        let max = self.ingest.limits.max_frame_bytes;
        match self.splitter.next_frame(&self.buf, max).map_err(Close::Decode)? {
            Some(len) => {
                self.consumed += len;
                self.frame_start = None;
                self.share.frame_done();
                let frame = self.buf.split_to(len);
                // Give back a buffer grown for a big frame once it is consumed.
                if self.buf.is_empty() && self.buf.capacity() > 4 * BUSY_READ {
                    self.buf = BytesMut::new();
                }
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    async fn handshake(&mut self, shutdown: &CancellationToken) -> Result<(), Close> {
        // An Arc clone, so the settings are borrowed while `self` is used mutably.
        let ingest = self.ingest.clone();
        let Some(security) = &ingest.security else { return Ok(()) };
        let (session, helo) = security.helo();
        self.stream.write_all(&helo).await.map_err(Close::Io)?;
        let ping = loop {
            if let Some(frame) = self.next_frame()? {
                break frame;
            }
            if !self.read(shutdown).await? {
                return Err(Close::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        };
        match security.check_ping(&session, &ping) {
            Ok(accepted) => {
                tracing::debug!(peer = %self.peer, client = %accepted.client, user = ?accepted.username, "forward handshake accepted");
                self.stream.write_all(&accepted.pong).await.map_err(Close::Io)?;
                Ok(())
            }
            Err(refused) => {
                self.ingest.metrics.handshake_failures.with_label_values(&[refused.label]).inc();
                tracing::warn!(peer = %self.peer, client = %refused.client, reason = refused.reason, "forward handshake refused");
                let _ = self.stream.write_all(&refused.pong).await;
                let _ = self.stream.flush().await;
                Err(Close::Handshake)
            }
        }
    }

    /// Decodes a frame, keeps its lines and acks it.
    async fn handle(&mut self, frame: BytesMut) -> Result<(), Close> {
        let ingest = self.ingest.clone();
        ingest.store.backpressure().await;
        let parsed = decode::parse(&frame).map_err(Close::Decode)?;
        let groups = match (&parsed.entries, parsed.gzip) {
            // Inflating and reading the entries is synchronous: the thread's buffer is
            // free again before the next await.
            (decode::Entries::Packed { data }, true) => INFLATED.with_borrow_mut(|inflated| {
                decode::inflate(data, ingest.limits.max_frame_bytes, inflated).map_err(Close::Decode)?;
                self.lines(&ingest, &parsed, Some(inflated))
            })?,
            _ => self.lines(&ingest, &parsed, None)?,
        };
        let want_ack = parsed.chunk.is_some();
        let mut on_disk = Vec::new();
        for (app, mut lines) in groups {
            on_disk.extend(ingest.store.append(&app, &mut lines, want_ack));
            give_back(lines);
        }
        if let Some(chunk) = parsed.chunk {
            for done in on_disk {
                if !done.await.unwrap_or(false) {
                    return Err(Close::Disk);
                }
            }
            let mut ack = Vec::with_capacity(chunk.len() + 8);
            let _ = rmp::encode::write_map_len(&mut ack, 1);
            let _ = rmp::encode::write_str(&mut ack, "ack");
            ack.extend_from_slice(chunk);
            self.stream.write_all(&ack).await.map_err(Close::Io)?;
            self.stream.flush().await.map_err(Close::Io)?;
            ingest.metrics.acks.inc();
        }
        Ok(())
    }

    /// A frame's entries (from `packed`, the inflated stream, for CompressedPackedForward)
    /// as lines grouped by app; records without an app, or past the app limit, are counted.
    fn lines(&mut self, ingest: &Ingest, parsed: &decode::Frame<'_>, packed: Option<&[u8]>) -> Result<AppLines, Close> {
        let tag = ingest.rules.tag_info(parsed.tag);
        let mut entries = EntryIter::new(&parsed.entries, packed, ingest.limits.max_entries);
        let mut groups: Vec<(Arc<AppLog>, LineBatch)> = Vec::new();
        let mut pairs = Vec::new();
        let (mut no_app, mut too_many_apps) = (0u64, 0u64);
        // One walk per record: the decoder lists its pairs while finding where it ends.
        while let Some((time, record)) = entries.next_listed(&mut pairs).map_err(Close::Decode)? {
            let mapped = ingest.rules.map_listed(&tag, time, record, &pairs);
            let Some(name) = &mapped.app else {
                no_app += 1;
                continue;
            };
            if let Some((_, lines)) = groups.iter_mut().find(|(app, _)| **app.name() == **name) {
                mapped.push_to(lines);
                continue;
            }
            let app = match &self.last_app {
                Some(app) if **app.name() == **name => app.clone(),
                _ => match ingest.store.app(name) {
                    Some(app) => {
                        self.last_app = Some(app.clone());
                        app
                    }
                    None => {
                        too_many_apps += 1;
                        continue;
                    }
                },
            };
            let mut lines = LineBatch::new(group_vec());
            mapped.push_to(&mut lines);
            groups.push((app, lines));
        }
        if no_app > 0 {
            ingest.metrics.records_dropped.with_label_values(&["no_app"]).inc_by(no_app);
        }
        if too_many_apps > 0 {
            ingest.metrics.records_dropped.with_label_values(&["too_many_apps"]).inc_by(too_many_apps);
        }
        Ok(groups.into_iter().map(|(app, lines)| (app, lines.finish())).collect())
    }
}
