//! Optional on-disk history: append-only segment files per app, written by one thread.
//!
//! Layout: `<dir>/<app>/<first-seq, 20 digits>.seg`. A segment starts with the 8-byte magic
//! `SLWSEG1\n`, then records: `u32 LE payload length | u32 LE CRC-32 of payload | payload`,
//! where the payload is a msgpack array `[seq, secs, nanos, source, dyno, stream, message,
//! fields]` (`fields` a bin holding the msgpack map, empty when none).
//!
//! Writing: ingest hands numbered lines to the writer thread through a channel (under the
//! app's lock, so files keep sequence order) and never touches a file itself. The thread
//! takes everything queued, appends it, then fsyncs per `persistence.fsync`:
//! - `always`: every file written in this round is fsynced (group commit) before the
//!   round's acks are released: an ack means the lines are on stable storage;
//! - `interval`: files are fsynced every `fsync_interval`; an ack means the lines were
//!   written to the OS (they survive a logd crash, not a power cut);
//! - `never`: the OS writes back when it likes; an ack means written to the OS.
//!
//! A segment is closed past `segment_bytes`; the oldest closed segments of an app are
//! deleted past `retention_bytes_per_app`, and closed segments older than `retention_age`.
//!
//! Reading back: a reader resuming past what memory holds gets the older lines from the
//! segments ([`read_range`]), read while the writer goes on.
//!
//! Recovery at start reads every segment in order. The first record that is short, fails
//! its CRC, does not decode or breaks the sequence order marks a torn or corrupt tail: the
//! file is truncated there (logged and counted) and start-up goes on.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, oneshot};

use crate::config::{Fsync, Persistence};
use crate::line::{Line, Timestamp};
use crate::metrics::Metrics;
use crate::msgpack::{Head, Reader};

const MAGIC: &[u8; 8] = b"SLWSEG1\n";
/// Largest record accepted when reading back (a line is at most one frame).
const MAX_RECORD: usize = 1 << 30;

/// Encodes a numbered line as a segment record (header and payload) onto `out`.
pub fn encode_record(line: &Line, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    let _ = rmp::encode::write_array_len(out, 8);
    let _ = rmp::encode::write_uint(out, line.seq());
    let _ = rmp::encode::write_uint(out, line.time().secs);
    let _ = rmp::encode::write_uint(out, u64::from(line.time().nanos));
    let _ = rmp::encode::write_str(out, line.source());
    let _ = rmp::encode::write_str(out, line.dyno());
    let _ = rmp::encode::write_str(out, line.stream());
    let _ = rmp::encode::write_str(out, line.message());
    let _ = rmp::encode::write_bin(out, line.fields_msgpack());
    let payload = &out[start + 8..];
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode_payload(payload: &[u8]) -> Option<Line> {
    let mut r = Reader::new(payload);
    if r.array_len().ok()? != 8 {
        return None;
    }
    let uint = |r: &mut Reader<'_>| match r.head() {
        Ok(Head::Uint(n)) => Some(n),
        _ => None,
    };
    let seq = uint(&mut r)?;
    let secs = uint(&mut r)?;
    let nanos = u32::try_from(uint(&mut r)?).ok()?;
    let source = r.str().ok()?;
    let dyno = r.str().ok()?;
    let stream = r.str().ok()?;
    let message = r.str().ok()?;
    let fields = r.bytes().ok()?;
    let mut line = Line::new(Timestamp::new(secs, nanos), source, dyno, stream, message, fields.into());
    line.seq = seq;
    Some(line)
}

/// A segment file on disk.
#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    bytes: u64,
}

/// An app's files, as the writer tracks them.
#[derive(Debug, Default)]
struct AppFiles {
    /// Segments by first sequence number; the last is the one written to.
    segments: BTreeMap<u64, Segment>,
    active: Option<File>,
    dirty: bool,
    /// A write or fsync of the active segment failed: what it holds past `bytes` is
    /// unknown, so the next batch starts a new segment instead of appending after it.
    must_roll: bool,
}

impl AppFiles {
    /// After a failed write or fsync: cut the active segment back to what was written
    /// whole (best effort: a torn tail is also cut at the next start), close it, and start
    /// a new segment with the next batch, so no record is ever appended after a torn one
    /// (recovery stops reading a segment at its first bad record).
    fn abandon_active(&mut self) {
        if let Some(file) = self.active.take()
            && let Some((_, seg)) = self.segments.iter().next_back()
        {
            let _ = file.set_len(seg.bytes);
        }
        self.must_roll = true;
    }
}

/// The writer's view of every app's files.
type Files = HashMap<Arc<str>, AppFiles>;

/// What recovery found for one app.
#[derive(Debug)]
pub struct Recovered {
    /// The app.
    pub app: String,
    /// Its newest lines, oldest first (at most what memory keeps).
    pub lines: Vec<Line>,
    /// The last sequence number on disk.
    pub last_seq: u64,
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// An app directory's segment files with their first sequence numbers, oldest first.
fn segment_files(app_dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(app_dir)?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.strip_suffix(".seg")?.parse::<u64>().ok()?, e.path())))
        .collect();
    files.sort_unstable();
    Ok(files)
}

/// Reads every app's segments, truncating torn tails, and keeps the newest lines that fit
/// `max_lines` and `max_bytes` per app.
fn recover(dir: &Path, max_lines: usize, max_bytes: usize, metrics: &Metrics) -> io::Result<(Vec<Recovered>, Files)> {
    fs::create_dir_all(dir)?;
    let mut found = Vec::new();
    let mut files = HashMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_dir() || !slipway_config::app_name::is_valid(&name) {
            continue;
        }
        let paths = segment_files(&entry.path())?;
        let mut app_files = AppFiles::default();
        let mut lines: std::collections::VecDeque<Line> = std::collections::VecDeque::new();
        let mut bytes = 0usize;
        let mut last_seq = 0u64;
        for (first, path) in paths {
            let mut data = Vec::new();
            File::open(&path)?.read_to_end(&mut data)?;
            if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
                tracing::warn!(app = %name, file = %path.display(), "segment has no valid header: removed");
                metrics.segment_truncations.inc();
                fs::remove_file(&path)?;
                continue;
            }
            let mut records = Records::new(&data, last_seq);
            for line in records.by_ref() {
                last_seq = line.seq;
                bytes += line.approx_bytes();
                lines.push_back(line);
                while super::ring::over_limits(lines.len(), bytes, max_lines, max_bytes) {
                    if let Some(old) = lines.pop_front() {
                        bytes -= old.approx_bytes();
                    }
                }
            }
            let mut pos = records.pos;
            let cut = records.cut;
            if let Some((at, why)) = cut {
                tracing::warn!(app = %name, file = %path.display(), offset = at, reason = why, "segment tail truncated");
                metrics.segment_truncations.inc();
                OpenOptions::new().write(true).open(&path)?.set_len(at as u64)?;
                pos = at;
            }
            app_files.segments.insert(first, Segment { path, bytes: pos as u64 });
        }
        files.insert(Arc::from(name.as_str()), app_files);
        found.push(Recovered { app: name, lines: lines.into(), last_seq });
    }
    Ok((found, files))
}

/// Reads lines `from..=to` of `app` back from its segments under `dir`, for a reader
/// resuming past what memory holds: the newest gap-free run of them that ends at `to`,
/// at most `max_lines` long (what is older stays a gap for the reader). Empty when `to`
/// is not on disk (the writer lags, or retention deleted it).
///
/// Blocking. Reads segments newest first and stops once the run reaches `from` or
/// `max_lines`: O(bytes of the segments that hold the run). Safe while the writer
/// appends (a record being written reads as a torn tail and ends that segment's run) and
/// while retention deletes (a vanished segment ends the run).
pub fn read_range(dir: &Path, app: &str, from: u64, to: u64, max_lines: usize) -> Vec<Line> {
    let Ok(segments) = segment_files(&dir.join(app)) else { return Vec::new() };
    let segments = segments.into_iter().rev().filter(|(first, _)| *first <= to);
    // Runs of each segment, newest segment first; each run is ascending.
    let mut runs: Vec<Vec<Line>> = Vec::new();
    let mut want = to; // the sequence number the run must end at next
    let mut total = 0usize;
    for (_, path) in segments {
        let Ok(data) = fs::read(&path) else { break };
        if data.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            break;
        }
        let run: Vec<Line> =
            Records::new(&data, 0).skip_while(|l| l.seq < from).take_while(|l| l.seq <= want).collect();
        let gap_free = run.last().is_some_and(|l| l.seq == want)
            && run.first().is_some_and(|l| l.seq + run.len() as u64 - 1 == want);
        if !gap_free {
            break;
        }
        want = run[0].seq - 1;
        total += run.len();
        runs.push(run);
        if want < from || total >= max_lines {
            break;
        }
    }
    let mut lines: Vec<Line> = runs.into_iter().rev().flatten().collect();
    if lines.len() > max_lines {
        lines.drain(..lines.len() - max_lines);
    }
    lines
}

/// The records of a segment's bytes (after the magic), in order; stops at the first that
/// is short, fails its CRC, does not decode or does not follow the previous sequence
/// number, and says where and why in `cut`.
struct Records<'a> {
    data: &'a [u8],
    /// Where the next record starts (after the loop: the end of the last good one).
    pos: usize,
    last_seq: u64,
    cut: Option<(usize, &'static str)>,
}

impl<'a> Records<'a> {
    /// `data` is a whole segment, magic included; `after` is the last sequence number
    /// read before it.
    fn new(data: &'a [u8], after: u64) -> Records<'a> {
        Records { data, pos: MAGIC.len(), last_seq: after, cut: None }
    }
}

impl Iterator for Records<'_> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        if self.cut.is_some() || self.pos >= self.data.len() {
            return None;
        }
        match self.read() {
            Ok((line, len)) => {
                self.last_seq = line.seq;
                self.pos += len;
                Some(line)
            }
            Err(why) => {
                self.cut = Some((self.pos, why));
                None
            }
        }
    }
}

impl Records<'_> {
    /// The record at `pos` and its length, or why it is bad.
    fn read(&self) -> Result<(Line, usize), &'static str> {
        let (data, pos) = (self.data, self.pos);
        let header = data.get(pos..pos + 8).ok_or("torn record header")?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let payload = data.get(pos + 8..pos + 8 + len).filter(|_| len <= MAX_RECORD).ok_or("torn record")?;
        if crc32fast::hash(payload) != crc {
            return Err("checksum mismatch");
        }
        let line = decode_payload(payload).ok_or("undecodable record")?;
        if line.seq <= self.last_seq {
            return Err("sequence number out of order");
        }
        Ok((line, 8 + len))
    }
}

/// One batch for the writer.
#[derive(Debug)]
struct Batch {
    app: Arc<str>,
    lines: Vec<Arc<Line>>,
    bytes: usize,
    done: Option<oneshot::Sender<bool>>,
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

#[derive(Debug, Default)]
struct Pending {
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
        lines: impl Into<Vec<Arc<Line>>>,
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

struct Writer {
    dir: PathBuf,
    config: Persistence,
    files: HashMap<Arc<str>, AppFiles>,
    metrics: Arc<Metrics>,
    pending: Arc<Pending>,
    last_sync: Instant,
    last_retention: Instant,
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

    fn write_batch(&mut self, batch: &Batch, buf: &mut Vec<u8>) -> bool {
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
    fn sync_dirty(&mut self, all: bool) -> bool {
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
    fn retention(&mut self, app: &Arc<str>) {
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

#[cfg(test)]
mod tests;
