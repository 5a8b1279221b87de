//! Where log records go: the dynos' stdout and stderr (source `app`; `release` for the
//! release phase, `run` for one-off dynos) and control's own
//! events about an app (source `slipway`: releases, crashes, restarts, scaling), all sent
//! to logd over the Fluent forward protocol with logd's forward client
//! (`slipway_logd::forward::client`: encoding, acks, the shared-key handshake).
//!
//! Records go through a bounded queue to one sender task, which batches whatever is
//! queued into one Forward message and waits for logd's ack before sending the next; on
//! any failure it reconnects with backoff and sends the same batch again. When logd is
//! slow or down and the queue is full, new records are dropped and counted: a dyno's
//! output is never held back by its logs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use slipway_logd::forward::client::{Entries, EventTime, Reconnect};
use tokio::sync::mpsc;

/// Most records in one Forward message.
const MAX_BATCH: usize = 512;
/// The tag of control's Forward messages.
const TAG: &str = "slipway";

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The app.
    pub app: String,
    /// The process (`web.1`), or empty.
    pub dyno: String,
    /// `app` for the app's output, `slipway` for control's events.
    pub source: &'static str,
    /// `stdout`, `stderr`, or empty.
    pub stream: &'static str,
    /// The line, without its newline.
    pub message: String,
    /// When it was written.
    pub time: SystemTime,
}

/// The source of control's own events.
pub const SOURCE_SLIPWAY: &str = "slipway";
/// The source of the apps' own output.
pub const SOURCE_APP: &str = "app";
/// The source of a release phase's output (the Procfile's `release` command).
pub const SOURCE_RELEASE: &str = "release";
/// The source of an app setup's postdeploy script's output (`app.json`).
pub const SOURCE_POSTDEPLOY: &str = "postdeploy";
/// The source of a one-off dyno's output (`slipway run`, dyno `run.N`).
pub const SOURCE_RUN: &str = "run";

/// A handle on the log pipeline; cheap to clone.
#[derive(Debug, Clone)]
pub struct LogSink {
    queue: Option<mpsc::Sender<Record>>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    /// Starts the sender task to logd at `addr` (on the current runtime); without an
    /// address, records are dropped.
    pub fn start(addr: Option<SocketAddr>, shared_key: Option<String>, queue: usize) -> LogSink {
        let dropped = Arc::new(AtomicU64::new(0));
        let Some(addr) = addr else {
            tracing::warn!("no [logd] forward address: the apps' output is not kept");
            return LogSink { queue: None, dropped };
        };
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(send_loop(addr, shared_key, rx, dropped.clone()));
        LogSink { queue: Some(tx), dropped }
    }

    /// Queues a record; drops it (and counts it) if the queue is full.
    pub fn send(&self, record: Record) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A line of a dyno's output.
    pub fn output(&self, app: &str, dyno: &str, stream: &'static str, message: String) {
        self.line(app, dyno, SOURCE_APP, stream, message);
    }

    /// A line of a process's output, from `source` (`app`, `release`).
    pub fn line(&self, app: &str, dyno: &str, source: &'static str, stream: &'static str, message: String) {
        self.send(Record {
            app: app.to_owned(),
            dyno: dyno.to_owned(),
            source,
            stream,
            message,
            time: SystemTime::now(),
        });
    }

    /// One of control's events about an app (also logged locally).
    pub fn event(&self, app: &str, dyno: &str, message: String) {
        tracing::info!(app, dyno, event = %message, "app event");
        self.send(Record {
            app: app.to_owned(),
            dyno: dyno.to_owned(),
            source: SOURCE_SLIPWAY,
            stream: "",
            message,
            time: SystemTime::now(),
        });
    }
}

async fn send_loop(
    addr: SocketAddr,
    shared_key: Option<String>,
    mut queue: mpsc::Receiver<Record>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch: Vec<Record> = Vec::with_capacity(MAX_BATCH);
    let mut entries = Entries::default();
    let mut logd = Reconnect::new(addr, shared_key, hostname(), "control");
    let mut reported_drops = 0;
    loop {
        let mut conn = logd.connect().await;
        loop {
            if batch.is_empty() {
                match queue.recv().await {
                    Some(record) => batch.push(record),
                    None => return,
                }
            }
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            encode(&batch, &mut entries);
            match conn.send_forward(TAG, &entries).await {
                Ok(()) => {
                    batch.clear();
                    logd.reset();
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, lines = batch.len(), "sending logs to logd failed; reconnecting");
                    break;
                }
            }
            let now_dropped = dropped.load(Ordering::Relaxed);
            if now_dropped > reported_drops {
                tracing::warn!(
                    dropped = now_dropped - reported_drops,
                    "log lines dropped: logd is too slow or was down"
                );
                reported_drops = now_dropped;
            }
        }
        logd.pause().await;
    }
}

/// `records` as Forward entries `[EventTime, record]`. The tag carries no app: each record
/// says its `app`, `dyno`, `source` and `stream` (logd's default rules read these keys
/// first), and `log` holds the message.
fn encode(records: &[Record], entries: &mut Entries) {
    entries.clear();
    for record in records {
        let fields = [
            ("app", record.app.as_str()),
            ("dyno", record.dyno.as_str()),
            ("source", record.source),
            ("stream", record.stream),
            ("log", record.message.as_str()),
        ];
        entries.push(EventTime::from_system_time(record.time), &fields);
    }
}

/// The name control gives in the handshake: the machine's, or `slipway-control`.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "slipway-control".to_owned())
}

#[cfg(test)]
mod tests;
