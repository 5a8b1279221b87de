//! The writer thread, and the handle ([`Disk`]) ingest queues numbered lines on.
//!
//! Ingest hands numbered lines to the writer thread through a channel (under the app's
//! lock, so files keep sequence order) and never touches a file itself. The thread takes
//! everything queued, appends it, then fsyncs per `persistence.fsync`:
//! - `always`: every file written in this round is fsynced (group commit) before the
//!   round's acks are released: an ack means the lines are on stable storage;
//! - `interval`: files are fsynced every `fsync_interval`; an ack means the lines were
//!   written to the OS (they survive a logd crash, not a power cut);
//! - `never`: the OS writes back when it likes; an ack means written to the OS.
//!
//! A segment is closed past `segment_bytes`; the oldest closed segments of an app are
//! deleted past `retention_bytes_per_app`, and closed segments older than `retention_age`.
//!
//! May import: `format`, `files`, `recover` (run by [`Disk::open`]), `config`, `line`,
//! `metrics`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, oneshot};

use super::files::{AppFiles, Segment};
use super::format::{MAGIC, encode_record, segment_name};
use super::recover::{Recovered, recover};
use crate::config::{Fsync, Persistence};
use crate::line::SharedLine;
use crate::metrics::Metrics;

/// One batch for the writer.
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) app: Arc<str>,
    pub(super) lines: Vec<SharedLine>,
    pub(super) bytes: usize,
    pub(super) done: Option<oneshot::Sender<bool>>,
}

/// The handle ingest uses to queue lines for disk.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    tx: Mutex<Option<mpsc::Sender<Batch>>>,
    pending: Arc<Pending>,
    max_pending: usize,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Bytes queued and not yet written, and a wake-up for ingest waiting on them.
#[derive(Debug, Default)]
pub(super) struct Pending {
    bytes: AtomicUsize,
    drained: Notify,
}

impl Disk {
    /// Recovers `config.dir` and starts the writer thread.
    pub fn open(
        config: &Persistence,
        dir: &Path,
        max_lines: usize,
        max_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> io::Result<(Disk, Vec<Recovered>)> {
        let (recovered, files) = recover(dir, max_lines, max_bytes, &metrics)?;
        let (tx, rx) = mpsc::channel();
        let pending = Arc::new(Pending::default());
        let writer = Writer {
            dir: dir.to_owned(),
            config: config.clone(),
            files,
            metrics,
            pending: pending.clone(),
            last_sync: Instant::now(),
            last_retention: Instant::now(),
        };
        let thread = std::thread::Builder::new().name("slipway-logd-disk".into()).spawn(move || writer.run(rx))?;
        Ok((
            Disk {
                dir: dir.to_owned(),
                tx: Mutex::new(Some(tx)),
                pending,
                max_pending: config.max_pending_bytes,
                thread: Mutex::new(Some(thread)),
            },
            recovered,
        ))
    }

    /// Queues numbered lines (call under the app's lock to keep order). With `durable`,
    /// the receiver says when they are on disk per the fsync policy (`false`: failed).
    pub fn queue(
        &self,
        app: &Arc<str>,
        lines: impl Into<Vec<SharedLine>>,
        durable: bool,
    ) -> Option<oneshot::Receiver<bool>> {
        let lines = lines.into();
        let bytes: usize = lines.iter().map(|l| l.message().len() + 64).sum();
        let (done, rx) = if durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else { return rx };
        self.pending.bytes.fetch_add(bytes, Ordering::AcqRel);
        let _ = tx.send(Batch { app: app.clone(), lines, bytes, done });
        rx
    }

    /// Waits while the writer is more than `max_pending_bytes` behind.
    pub async fn backpressure(&self) {
        loop {
            let drained = self.pending.drained.notified();
            if self.pending.bytes.load(Ordering::Acquire) <= self.max_pending {
                return;
            }
            drained.await;
        }
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the writer after it wrote (and fsynced) everything queued. Blocking.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread's state: every app's files and when it last synced and applied
/// retention.
pub(super) struct Writer {
    pub(super) dir: PathBuf,
    pub(super) config: Persistence,
    pub(super) files: HashMap<Arc<str>, AppFiles>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) pending: Arc<Pending>,
    pub(super) last_sync: Instant,
    pub(super) last_retention: Instant,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Batch>) {
        let tick = match self.config.fsync {
            Fsync::Interval => self.config.fsync_interval.min(Duration::from_secs(60)),
            _ => Duration::from_secs(60),
        };
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            let first = match rx.recv_timeout(tick) {
                Ok(batch) => Some(batch),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut round = Vec::new();
            round.extend(first);
            while round.len() < 4096 {
                match rx.try_recv() {
                    Ok(batch) => round.push(batch),
                    Err(_) => break,
                }
            }
            self.write_round(round, &mut buf);
        }
        // Shutting down: make everything written durable whatever the policy.
        self.sync_dirty(true);
    }

    fn write_round(&mut self, round: Vec<Batch>, buf: &mut Vec<u8>) {
        let mut results = Vec::with_capacity(round.len());
        let mut drained = 0;
        for batch in round {
            let ok = self.write_batch(&batch, buf);
            if !ok {
                self.metrics.disk_errors.inc();
            }
            drained += batch.bytes;
            results.push((batch.done, ok));
        }
        let synced = match self.config.fsync {
            Fsync::Always => self.sync_dirty(false),
            Fsync::Interval if self.last_sync.elapsed() >= self.config.fsync_interval => self.sync_dirty(false),
            _ => true,
        };
        for (done, ok) in results {
            if let Some(done) = done {
                let _ = done.send(ok && synced);
            }
        }
        if drained > 0 {
            self.pending.bytes.fetch_sub(drained, Ordering::AcqRel);
            self.pending.drained.notify_waiters();
        }
        if self.last_retention.elapsed() >= Duration::from_secs(60) {
            self.last_retention = Instant::now();
            let apps: Vec<Arc<str>> = self.files.keys().cloned().collect();
            for app in apps {
                self.retention(&app);
            }
        }
    }

    pub(super) fn write_batch(&mut self, batch: &Batch, buf: &mut Vec<u8>) -> bool {
        let Some(first) = batch.lines.first() else { return true };
        buf.clear();
        for line in &batch.lines {
            encode_record(line, buf);
        }
        let result = self.append(&batch.app, first.seq(), buf);
        match result {
            Ok(rolled) => {
                self.metrics.disk_bytes.inc_by(buf.len() as u64);
                if rolled {
                    self.retention(&batch.app);
                }
                true
            }
            Err(e) => {
                tracing::error!(app = %batch.app, error = %e, "cannot write segment");
                if let Some(files) = self.files.get_mut(&batch.app) {
                    files.abandon_active();
                }
                false
            }
        }
    }

    /// Appends `bytes` to the app's active segment, rolling first if it is full. Returns
    /// whether a new segment was started.
    fn append(&mut self, app: &Arc<str>, first_seq: u64, bytes: &[u8]) -> io::Result<bool> {
        let files = self.files.entry(app.clone()).or_default();
        let mut rolled = false;
        let full =
            files.must_roll || files.segments.values().next_back().is_none_or(|s| s.bytes >= self.config.segment_bytes);
        if files.active.is_none() || full {
            if let Some(old) = files.active.take()
                && self.config.fsync != Fsync::Never
            {
                old.sync_data()?;
            }
            let reuse = !full && files.segments.values().next_back().is_some();
            if reuse {
                let (_, seg) = files.segments.iter().next_back().expect("checked non-empty");
                files.active = Some(OpenOptions::new().append(true).open(&seg.path)?);
            } else {
                let dir = self.dir.join(&**app);
                fs::create_dir_all(&dir)?;
                let path = dir.join(segment_name(first_seq));
                let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
                f.write_all(MAGIC)?;
                files.segments.insert(first_seq, Segment { path, bytes: MAGIC.len() as u64 });
                files.active = Some(f);
                files.must_roll = false;
                rolled = true;
                // The new file's directory entry must be durable too.
                if self.config.fsync == Fsync::Always {
                    File::open(&dir)?.sync_all()?;
                }
            }
        }
        let active = files.active.as_mut().expect("opened above");
        active.write_all(bytes)?;
        files.dirty = true;
        if let Some((_, seg)) = files.segments.iter_mut().next_back() {
            seg.bytes += bytes.len() as u64;
        }
        Ok(rolled)
    }

    /// fsyncs every file written since the last sync. Returns false if one failed.
    pub(super) fn sync_dirty(&mut self, all: bool) -> bool {
        let mut ok = true;
        for (app, files) in &mut self.files {
            if !(files.dirty || all) {
                continue;
            }
            if let Some(f) = &files.active {
                let started = Instant::now();
                if let Err(e) = f.sync_data() {
                    tracing::error!(%app, error = %e, "fsync failed");
                    self.metrics.disk_errors.inc();
                    ok = false;
                    files.abandon_active();
                }
                self.metrics.fsync_seconds.observe(started.elapsed().as_secs_f64());
            }
            files.dirty = false;
        }
        self.last_sync = Instant::now();
        ok
    }

    /// Deletes an app's closed segments past the size and age limits.
    pub(super) fn retention(&mut self, app: &Arc<str>) {
        let Some(files) = self.files.get_mut(app) else { return };
        let now = SystemTime::now();
        let mut total: u64 = files.segments.values().map(|s| s.bytes).sum();
        while files.segments.len() > 1 {
            let Some((&first, seg)) = files.segments.iter().next() else { break };
            let old = fs::metadata(&seg.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > self.config.retention_age);
            if total <= self.config.retention_bytes_per_app && !old {
                break;
            }
            if let Err(e) = fs::remove_file(&seg.path) {
                tracing::warn!(%app, file = %seg.path.display(), error = %e, "cannot delete old segment");
                break;
            }
            tracing::debug!(%app, file = %seg.path.display(), "old segment deleted");
            total -= seg.bytes;
            files.segments.remove(&first);
        }
    }
}
