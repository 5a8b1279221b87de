//! One app's history: a ring of its newest lines (bounded by lines and bytes), its next
//! sequence number, and the broadcast channel its subscribers listen on.
//!
//! Appending and subscribing take the app's lock for O(lines appended) or O(backlog) work;
//! lines are numbered, kept and broadcast under it, so a subscriber's backlog (taken under
//! the same lock) and its live feed meet without a gap or a duplicate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::hub::{Event, Filter, Start, Subscription};
use crate::line::{Line, SharedLine};

/// Largest batch sent to subscribers as one event (bounds what one queue slot holds).
pub const EVENT_LINES: usize = 64;

/// One app's history and live feed.
#[derive(Debug)]
pub struct AppLog {
    name: Arc<str>,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Event>,
}

#[derive(Debug)]
pub(crate) struct Ring {
    pub(crate) lines: VecDeque<SharedLine>,
    pub(crate) bytes: usize,
    /// The sequence number the next line gets (the first is 1).
    pub(crate) next_seq: u64,
}

/// Lines and bytes kept by all apps together. Only changed under the lock of the app
/// whose ring changes, together with that change, so it never counts a line's removal
/// before its addition.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) bytes: AtomicUsize,
    pub(crate) lines: AtomicUsize,
}

/// What an append changed, for the store's accounting.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub(crate) evicted_lines: usize,
    /// All apps' bytes right after this append.
    pub(crate) total_bytes: usize,
}

/// Whether an app's history of `lines` lines and `bytes` bytes is past its bounds (the
/// byte bound always leaves at least the newest line). Appending and disk recovery trim
/// with the same rule.
pub(crate) fn over_limits(lines: usize, bytes: usize, max_lines: usize, max_bytes: usize) -> bool {
    lines > max_lines || (bytes > max_bytes && lines > 1)
}

impl AppLog {
    pub(crate) fn new(name: Arc<str>, queue: usize, next_seq: u64) -> AppLog {
        let (tx, _) = broadcast::channel(queue);
        AppLog { name, ring: Mutex::new(Ring { lines: VecDeque::new(), bytes: 0, next_seq: next_seq.max(1) }), tx }
    }

    /// The app's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the ring consistent (every step is a push
        // or a pop), so a poisoned lock is still usable.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lines and bytes kept, and the last sequence number given.
    pub fn stats(&self) -> (usize, usize, u64) {
        let ring = self.lock();
        (ring.lines.len(), ring.bytes, ring.next_seq - 1)
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Numbers, keeps and broadcasts `lines` (drained: the caller keeps the vector's
    /// capacity for the next frame); evicts past the per-app bounds. `on_kept`, when given,
    /// runs under the lock and is handed the numbered lines (the disk queue uses it to keep
    /// order). O(lines + evicted); without `on_kept` and without subscribers, no allocation
    /// but each line's own.
    pub(crate) fn append(
        &self,
        lines: &mut Vec<Line>,
        arrival: u64,
        max_lines: usize,
        max_bytes: usize,
        totals: &Totals,
        on_kept: Option<impl FnOnce(Vec<SharedLine>)>,
    ) -> Appended {
        let mut out = Appended::default();
        let count = lines.len();
        let (mut added_bytes, mut evicted_bytes) = (0, 0);
        let mut ring = self.lock();
        let mut seq = ring.next_seq;
        ring.lines.reserve(count);
        let broadcast = self.tx.receiver_count() > 0;
        let mut kept = on_kept.as_ref().map(|_| Vec::with_capacity(count));
        let mut drain = lines.drain(..);
        let mut left = count;
        while left > 0 {
            let n = left.min(EVENT_LINES);
            left -= n;
            // One allocation per batch of EVENT_LINES lines, built in place.
            let batch: Arc<[Line]> = drain
                .by_ref()
                .take(n)
                .map(|mut line| {
                    line.seq = seq;
                    line.arrival = arrival;
                    seq += 1;
                    added_bytes += line.approx_bytes();
                    line
                })
                .collect();
            for line in SharedLine::all(&batch) {
                if let Some(kept) = &mut kept {
                    kept.push(line.clone());
                }
                ring.lines.push_back(line);
            }
            if broadcast {
                // Err only when every receiver is gone meanwhile: nothing to do.
                let _ = self.tx.send(Event::Lines(batch));
            }
        }
        drop(drain);
        ring.next_seq = seq;
        ring.bytes += added_bytes;
        if let (Some(on_kept), Some(kept)) = (on_kept, kept) {
            on_kept(kept);
        }
        while over_limits(ring.lines.len(), ring.bytes, max_lines, max_bytes) {
            let Some(old) = ring.lines.pop_front() else { break };
            let size = old.approx_bytes();
            ring.bytes -= size;
            evicted_bytes += size;
            out.evicted_lines += 1;
        }
        totals.lines.fetch_add(count, Ordering::Relaxed);
        totals.lines.fetch_sub(out.evicted_lines, Ordering::Relaxed);
        out.total_bytes = totals.bytes.fetch_add(added_bytes, Ordering::AcqRel) + added_bytes;
        totals.bytes.fetch_sub(evicted_bytes, Ordering::AcqRel);
        out.total_bytes -= evicted_bytes;
        drop(ring);
        out
    }

    /// Evicts the app's oldest lines that arrived at or before `arrival`, at most `want`
    /// bytes' worth (at least one line). Returns (bytes, lines) evicted.
    pub(crate) fn evict_oldest(&self, arrival: u64, want: usize, totals: &Totals) -> usize {
        let mut ring = self.lock();
        let (mut bytes, mut lines) = (0, 0);
        while let Some(front) = ring.lines.front() {
            if front.arrival > arrival || (lines > 0 && bytes >= want) {
                break;
            }
            let size = front.approx_bytes();
            ring.lines.pop_front();
            ring.bytes -= size;
            bytes += size;
            lines += 1;
        }
        totals.bytes.fetch_sub(bytes, Ordering::AcqRel);
        totals.lines.fetch_sub(lines, Ordering::Relaxed);
        lines
    }

    /// The arrival number of the oldest line kept.
    pub(crate) fn oldest_arrival(&self) -> Option<u64> {
        self.lock().lines.front().map(|l| l.arrival)
    }

    /// Loads lines read back from disk: already numbered, and already trimmed by recovery
    /// to the per-app bounds (with [`over_limits`]).
    pub(crate) fn restore(&self, lines: Vec<Line>, totals: &Totals) {
        let mut ring = self.lock();
        let mut left = lines.len();
        let mut lines = lines.into_iter();
        while left > 0 {
            let n = left.min(EVENT_LINES);
            left -= n;
            // In batches like appended lines, so evicting the restored ones frees them bit by bit.
            let batch: Arc<[Line]> = lines.by_ref().take(n).collect();
            for line in SharedLine::all(&batch) {
                ring.next_seq = ring.next_seq.max(line.seq + 1);
                ring.bytes += line.approx_bytes();
                ring.lines.push_back(line);
            }
        }
        totals.bytes.fetch_add(ring.bytes, Ordering::AcqRel);
        totals.lines.fetch_add(ring.lines.len(), Ordering::Relaxed);
    }

    /// Sends a heartbeat tick to the subscribers.
    pub(crate) fn heartbeat(&self) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Event::Heartbeat);
        }
    }

    /// Subscribes: the backlog chosen by `start` and, when following, the live feed.
    /// Under the lock: O(backlog) `Arc` clones (O(history) with a filter and no `after`);
    /// the filter itself runs after the lock is released, so a costly `grep`/`regex` never
    /// holds up ingest.
    pub fn subscribe(&self, start: Start, filter: Filter, follow: bool) -> Subscription {
        let ring = self.lock();
        let rx = follow.then(|| self.tx.subscribe());
        let last = ring.next_seq - 1;
        let front = ring.lines.front().map_or(ring.next_seq, |l| l.seq);
        let mut gap = None;
        let mut reset = false;
        let (candidates, tail): (Vec<SharedLine>, Option<usize>) = match start.after {
            Some(after) if after <= last => {
                if after + 1 < front {
                    gap = Some((after + 1, front - 1));
                }
                let skip = usize::try_from((after + 1).saturating_sub(front)).unwrap_or(usize::MAX);
                (ring.lines.iter().skip(skip).cloned().collect(), None)
            }
            _ => {
                reset = start.after.is_some();
                let take = if filter.is_empty() { start.tail } else { usize::MAX };
                let skip = ring.lines.len().saturating_sub(take);
                (ring.lines.iter().skip(skip).cloned().collect(), Some(start.tail))
            }
        };
        drop(ring);
        let backlog = match tail {
            None => candidates.into_iter().filter(|l| filter.matches(l)).collect(),
            Some(tail) => {
                let mut kept: Vec<SharedLine> =
                    candidates.into_iter().rev().filter(|l| filter.matches(l)).take(tail).collect();
                kept.reverse();
                kept
            }
        };
        Subscription::new(self.name.clone(), rx, backlog, gap, reset, last, filter)
    }
}
