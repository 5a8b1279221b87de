//! The log store: every app's history ([`AppLog`]), the global memory cap, and the
//! optional disk writer.
//!
//! Ingest appends a frame's lines per app (one lock of that app per frame); the store adds
//! up bytes with atomics and, when the global cap is crossed, one task evicts the oldest
//! lines across apps down to 90% of the cap (amortised: a sweep over the apps per 10% of
//! the cap ingested, not per line).
//!
//! May import: `hub` (each app publishes its lines on its channel), `line`, `metrics`,
//! `config`; never the front ends that call it.

pub mod ring;
pub mod segment;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::sync::oneshot;

pub use ring::AppLog;
use ring::Totals;

use crate::config::{Config, History};
use crate::hub::{Filter, Start, Subscription};
use crate::line::Line;
use crate::metrics::Metrics;

/// Why the store could not open.
#[derive(Debug, thiserror::Error)]
#[error("config: key \"persistence.dir\": cannot use {dir}: {source}")]
pub struct StoreError {
    dir: String,
    source: std::io::Error,
}

/// Every app's history.
#[derive(Debug)]
pub struct Store {
    apps: DashMap<Arc<str>, Arc<AppLog>>,
    history: History,
    queue: usize,
    totals: Totals,
    arrivals: AtomicU64,
    evicting: AtomicBool,
    disk: Option<segment::Disk>,
    metrics: Arc<Metrics>,
}

impl Store {
    /// Opens the store, reading back the disk history when persistence is on. Blocking.
    pub fn open(config: &Config, metrics: Arc<Metrics>) -> Result<Store, StoreError> {
        let history = config.history.clone();
        let mut store = Store {
            apps: DashMap::new(),
            queue: config.http.subscriber_queue,
            totals: Totals::default(),
            arrivals: AtomicU64::new(1),
            evicting: AtomicBool::new(false),
            disk: None,
            metrics,
            history,
        };
        if let Some(dir) = &config.persistence.dir {
            let (disk, recovered) = segment::Disk::open(
                &config.persistence,
                dir,
                store.history.max_lines_per_app,
                store.history.max_bytes_per_app,
                store.metrics.clone(),
            )
            .map_err(|source| StoreError { dir: dir.display().to_string(), source })?;
            for r in recovered {
                let app = Arc::new(AppLog::new(Arc::from(r.app.as_str()), store.queue, r.last_seq + 1));
                let n = r.lines.len();
                // `Disk::open` kept only what fits `max_lines_per_app`/`max_bytes_per_app`.
                app.restore(r.lines, &store.totals);
                tracing::info!(app = %r.app, lines = n, last_seq = r.last_seq, "history restored from disk");
                store.apps.insert(app.name().clone(), app);
            }
            store.disk = Some(disk);
            store.tick_gauges();
        }
        Ok(store)
    }

    /// Subscribes to `log` (see [`AppLog::subscribe`]); with persistence on, a resume
    /// point older than memory is served from the segments that still hold those lines
    /// (at most `history.max_lines_per_app` of them, read off the async threads), and
    /// only what disk lacks too is reported as a gap.
    pub async fn subscribe(&self, log: &Arc<AppLog>, start: Start, filter: Filter, follow: bool) -> Subscription {
        let mut sub = log.subscribe(start, filter, follow);
        if let (Some((from, to)), Some(disk)) = (sub.gap(), &self.disk) {
            let (dir, app, max) = (disk.dir().to_owned(), log.name().clone(), self.history.max_lines_per_app);
            let read = tokio::task::spawn_blocking(move || segment::read_range(&dir, &app, from, to, max)).await;
            if let Ok(lines) = read {
                sub.fill_gap(lines);
            }
        }
        sub
    }

    /// App `name`'s history, created if new; `None` when `history.max_apps` is reached.
    pub fn app(&self, name: &str) -> Option<Arc<AppLog>> {
        if let Some(app) = self.apps.get(name) {
            return Some(app.clone());
        }
        if self.apps.len() >= self.history.max_apps {
            return None;
        }
        let app = self
            .apps
            .entry(Arc::from(name))
            .or_insert_with(|| Arc::new(AppLog::new(Arc::from(name), self.queue, 1)))
            .clone();
        self.metrics.apps.set(self.apps.len() as i64);
        Some(app)
    }

    /// App `name`'s history if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<AppLog>> {
        self.apps.get(name).map(|a| a.clone())
    }

    /// Every app.
    pub fn apps(&self) -> Vec<Arc<AppLog>> {
        self.apps.iter().map(|a| a.value().clone()).collect()
    }

    /// Keeps `lines` for `app` (numbering and broadcasting them), leaving `lines` empty
    /// with its capacity. With persistence and `durable`, returns a receiver that says
    /// when they are on disk.
    pub fn append(&self, app: &AppLog, lines: &mut Vec<Line>, durable: bool) -> Option<oneshot::Receiver<bool>> {
        if lines.is_empty() {
            return None;
        }
        let arrival = self.arrivals.fetch_add(1, Ordering::Relaxed);
        let h = &self.history;
        let mut on_disk = None;
        let count = lines.len();
        let to_disk = self.disk.as_ref().map(|disk| |kept| on_disk = disk.queue(app.name(), kept, durable));
        let appended = app.append(lines, arrival, h.max_lines_per_app, h.max_bytes_per_app, &self.totals, to_disk);
        self.metrics.records.inc_by(count as u64);
        if appended.evicted_lines > 0 {
            self.metrics.evicted.with_label_values(&["app_limit"]).inc_by(appended.evicted_lines as u64);
        }
        if appended.total_bytes > h.max_bytes_total {
            self.evict_global();
        }
        on_disk
    }

    /// Waits while the disk writer is too far behind (no-op without persistence).
    pub async fn backpressure(&self) {
        if let Some(disk) = &self.disk {
            disk.backpressure().await;
        }
    }

    /// Brings the total down to 90% of `max_bytes_total` by evicting the oldest lines of
    /// any app. O(apps · log apps) per sweep; one sweep at a time.
    fn evict_global(&self) {
        if self.evicting.swap(true, Ordering::AcqRel) {
            return;
        }
        let target = self.history.max_bytes_total / 10 * 9;
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        let apps = self.apps();
        for (i, app) in apps.iter().enumerate() {
            if let Some(arrival) = app.oldest_arrival() {
                heap.push(Reverse((arrival, i)));
            }
        }
        let mut evicted_lines = 0;
        while self.bytes() > target {
            let Some(Reverse((_, i))) = heap.pop() else { break };
            let next = heap.peek().map_or(u64::MAX, |Reverse((a, _))| *a);
            let want = self.bytes().saturating_sub(target);
            evicted_lines += apps[i].evict_oldest(next, want, &self.totals);
            if let Some(arrival) = apps[i].oldest_arrival() {
                heap.push(Reverse((arrival, i)));
            }
        }
        self.metrics.evicted.with_label_values(&["global_limit"]).inc_by(evicted_lines as u64);
        self.evicting.store(false, Ordering::Release);
    }

    /// Sends a heartbeat tick to every app's subscribers, forgets apps that never had a
    /// line and have no one left following them (so requests for made-up names cannot
    /// use up `history.max_apps`), and refreshes the gauges. O(apps).
    pub fn tick(&self) {
        for app in self.apps.iter() {
            app.heartbeat();
        }
        // Only the map holds such an app (no connection caches it, no subscriber), and it
        // never numbered a line, so forgetting it loses nothing.
        self.apps.retain(|_, app| Arc::strong_count(app) > 1 || app.subscribers() > 0 || app.stats().2 > 0);
        self.tick_gauges();
    }

    pub fn tick_gauges(&self) {
        self.metrics.history_bytes.set(self.bytes() as i64);
        self.metrics.history_lines.set(self.totals.lines.load(Ordering::Relaxed) as i64);
        self.metrics.apps.set(self.apps.len() as i64);
    }

    /// Approximate bytes in memory.
    pub fn bytes(&self) -> usize {
        self.totals.bytes.load(Ordering::Acquire)
    }

    /// Flushes and stops the disk writer. Blocking.
    pub fn close(&self) {
        if let Some(disk) = &self.disk {
            disk.close();
        }
    }
}

#[cfg(test)]
mod tests;
