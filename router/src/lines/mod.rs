//! Router lines: one Heroku-style line per request in the app's own log, beside its
//! output, with source `router` and the dyno that answered — `slipway logs --tail` and the
//! viewer show them (`--source router`, `--dyno web.1`). Error lines carry a stable code
//! (`code.rs`); the text is `format.rs`'s.
//!
//! Never on the critical path: a finished request formats its line straight into its
//! worker's batch (the encoded records, in a buffer reused for ever, behind a mutex only
//! the worker thread and, for a swap, the shipper take: no allocation and no waiting per
//! request), and the shipper task
//! (`ship.rs`, on the control runtime) swaps each batch out and sends it to logd as one
//! acked Fluent forward message with logd's own client. A batch holds at most
//! `lines.queue` lines: when logd is slow or down, further lines are dropped and counted
//! (`slipway_router_log_lines_dropped_total{reason="queue_full"}`), requests never wait.
//! With `[lines]` off none of this exists and a request pays one `None` check.
//!
//! Imports only `config` and `metrics` (and `slipway_logd`'s forward client); the request
//! stack (`stack/body.rs`) records the lines.

pub(crate) mod code;
pub(crate) mod format;
mod ship;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use slipway_logd::forward::client::{Entries, EventTime};
use tokio::sync::Notify;

pub(crate) use code::Code;
pub(crate) use format::{Fields, Request};

use crate::config;
use crate::metrics::{LinesDropped, Metrics};

/// The `source` of router lines in logd.
pub(crate) const SOURCE: &str = "router";

/// Every worker's batch, and what the shipper needs.
#[derive(Debug)]
pub(crate) struct Lines {
    workers: Box<[Arc<WorkerLines>]>,
    notify: Arc<Notify>,
    config: config::Lines,
    metrics: Arc<Metrics>,
}

impl Lines {
    /// Batches for `workers` worker threads.
    pub(crate) fn new(config: &config::Lines, metrics: Arc<Metrics>, workers: usize) -> Arc<Lines> {
        let notify = Arc::new(Notify::new());
        let sampling = Sampling::new(config);
        let workers = (0..workers.max(1))
            .map(|_| {
                Arc::new(WorkerLines {
                    batch: Mutex::new(Batch::new(config.queue)),
                    capacity: config.queue,
                    query_strings: config.query_strings,
                    sampling: sampling.clone(),
                    dropped: metrics.lines_dropped.clone(),
                    notify: notify.clone(),
                })
            })
            .collect();
        Arc::new(Lines { workers, notify, config: config.clone(), metrics })
    }

    /// Worker `index`'s batch.
    pub(crate) fn worker(&self, index: usize) -> Arc<WorkerLines> {
        self.workers[index % self.workers.len()].clone()
    }

    /// Starts the shipper on the current runtime.
    pub(crate) fn spawn_shipper(self: &Arc<Self>) {
        tokio::spawn(ship::run(self.clone()));
    }
}

/// One worker thread's batch of lines for logd.
#[derive(Debug)]
pub(crate) struct WorkerLines {
    batch: Mutex<Batch>,
    capacity: usize,
    query_strings: bool,
    sampling: Sampling,
    dropped: LinesDropped,
    notify: Arc<Notify>,
}

#[derive(Debug)]
struct Batch {
    entries: Entries,
    /// Buffers for the request part of lines begun ([`Started`]), given back when their
    /// line is queued.
    #[expect(clippy::vec_box, reason = "the boxes move into requests' Started, one pointer each")]
    spare: Vec<Box<String>>,
}

/// Buffers kept in a worker's pool: about as many as requests it has in flight at once.
const SPARE_BUFFERS: usize = 1024;
/// A buffer that grew past this (a long path) is not kept.
const SPARE_BYTES: usize = 1024;

impl Batch {
    fn new(lines: usize) -> Batch {
        // Room for typical lines up front (about 300 bytes each with the record keys);
        // the buffer then grows to what the longest batch needed and stays.
        Batch { entries: Entries::with_capacity(lines.min(1024) * 320), spare: Vec::new() }
    }

    #[expect(clippy::box_collection, reason = "the pool's boxes, see Started")]
    fn give_back(&mut self, mut text: Box<String>) {
        if self.spare.len() < SPARE_BUFFERS && text.capacity() <= SPARE_BYTES {
            text.clear();
            self.spare.push(text);
        }
    }
}

/// A request's line, begun when it was routed: its request part (method, path, host,
/// request id, client) written while the request is at hand, so nothing of it has to be
/// kept until the response ends. Its buffer comes from the worker's pool (boxed, so a
/// request carries one pointer: it is moved with the request's future).
#[derive(Debug)]
pub(crate) struct Started {
    #[expect(clippy::box_collection, reason = "one pointer in the request's future; the box is reused")]
    text: Box<String>,
}

impl WorkerLines {
    /// Whether `path=` keeps query strings.
    pub(crate) fn query_strings(&self) -> bool {
        self.query_strings
    }

    /// Begins the line of a routed request with its request part. No allocation once the
    /// pool has a buffer.
    pub(crate) fn start(&self, request: &Request<'_>) -> Started {
        let spare = self.batch.lock().unwrap_or_else(PoisonError::into_inner).spare.pop();
        let mut text = spare.unwrap_or_else(|| Box::new(String::with_capacity(256)));
        format::write_request(&mut *text, request);
        Started { text }
    }

    /// Queues the line of a request of `app`, begun as `started`, unless sampled out
    /// (error lines never are) or the batch is full (then it is dropped and counted).
    /// O(line length).
    pub(crate) fn record(&self, app: &str, started: Started, fields: &Fields<'_>) {
        let keep = fields.code.is_some_and(Code::is_error) || self.sampling.keep(app);
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        let full = keep && batch.entries.len() >= self.capacity;
        let queued = (keep && !full).then(|| {
            let record = [("app", app), ("dyno", fields.dyno), ("source", SOURCE)];
            let time = EventTime::from_system_time(SystemTime::now());
            batch.entries.push_with(time, &record, "log", |out| format::write(out, fields, &started.text));
            batch.entries.len()
        });
        batch.give_back(started.text);
        drop(batch);
        if full {
            self.dropped.queue_full.inc();
        }
        // Half full: send now rather than at the next tick.
        if queued == Some(self.capacity.div_ceil(2)) {
            self.notify.notify_one();
        }
    }

    /// A request that matched no app: its line has no app log to go to.
    pub(crate) fn no_app(&self) {
        self.dropped.no_app.inc();
    }

    /// Swaps the batch with `spare` (empty), which then holds the queued lines. O(1).
    fn take(&self, spare: &mut Entries) {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut batch.entries, spare);
    }
}

/// Which share of an app's lines is kept.
#[derive(Debug, Clone)]
struct Sampling {
    default: f64,
    apps: Arc<hashbrown::HashMap<Box<str>, f64, foldhash::fast::RandomState>>,
}

impl Sampling {
    fn new(config: &config::Lines) -> Sampling {
        let apps = config.sample_apps.iter().map(|(app, rate)| (Box::from(app.as_str()), *rate)).collect();
        Sampling { default: config.sample, apps: Arc::new(apps) }
    }

    /// Whether to keep one line of `app`. No lookup unless some app has its own rate.
    fn keep(&self, app: &str) -> bool {
        let rate =
            if self.apps.is_empty() { self.default } else { self.apps.get(app).copied().unwrap_or(self.default) };
        rate >= 1.0 || (rate > 0.0 && fastrand::f64() < rate)
    }
}

#[cfg(test)]
mod tests;
