//! Router lines: one Heroku-style line per request in the app's own log, beside its
//! output, with source `router` and the dyno that answered — `slipway logs --tail` and the
//! viewer show them (`--source router`, `--dyno web.1`). Error lines carry a stable code
//! (`code.rs`); the text is `format.rs`'s.
//!
//! Never on the critical path: a finished request formats its line into its worker's
//! batch (a buffer reused for ever, behind a mutex only the worker thread and, for a swap,
//! the shipper take: no allocation and no waiting per request), and the shipper task
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
pub(crate) use format::Fields;

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
    /// The line being written (reused).
    text: String,
}

impl Batch {
    fn new(lines: usize) -> Batch {
        // Room for typical lines up front (about 300 bytes each with the record keys);
        // the buffer then grows to what the longest batch needed and stays.
        Batch { entries: Entries::with_capacity(lines.min(1024) * 320), text: String::with_capacity(512) }
    }
}

impl WorkerLines {
    /// Whether `path=` keeps query strings.
    pub(crate) fn query_strings(&self) -> bool {
        self.query_strings
    }

    /// Queues the line of a request of `app`, unless sampled out (error lines never are)
    /// or the batch is full (then it is dropped and counted). O(line length).
    pub(crate) fn record(&self, app: &str, fields: &Fields<'_>) {
        if fields.code.is_none_or(|c| !c.is_error()) && !self.sampling.keep(app) {
            return;
        }
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if batch.entries.len() >= self.capacity {
            drop(batch);
            self.dropped.queue_full.inc();
            return;
        }
        let Batch { entries, text } = &mut *batch;
        format::write(text, fields);
        let record = [("app", app), ("dyno", fields.dyno), ("source", SOURCE), ("log", text.as_str())];
        entries.push(EventTime::from_system_time(SystemTime::now()), &record);
        let queued = entries.len();
        drop(batch);
        // Half full: send now rather than at the next tick.
        if queued == self.capacity.div_ceil(2) {
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
