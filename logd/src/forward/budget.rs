//! The bytes all forward connections may buffer together (`forward.max_buffered_bytes`).
//!
//! Every connection accounts, in one shared [`Budget`], for what it holds: bytes read and
//! not yet handled (a partial frame, frames waiting for the store or the disk) plus the
//! space of the read it is about to make, reserved before the read: 4 KiB when the
//! connection sits between frames with nothing pending, 64 KiB while it is busy. So the
//! total is an upper bound of what forward input costs in memory at any moment, not an
//! estimate made after the fact. A read that does not fit waits (back-pressure: the socket
//! is not read, TCP flow control slows the sender) until others drain.
//!
//! Partial frames could hold the whole budget while each waits for more bytes (a
//! deadlock): so one connection at a time, in the middle of a frame, may take the
//! overdraw lane and read past the cap until that frame is complete. The total therefore
//! stays under `max + max_frame_bytes + 64 KiB`. A lane holder that stops sending loses it
//! to its frame or idle timer (`forward::timer`); so do partial frames waiting here, whose
//! frame timer keeps running.
//!
//! Cost per read: one compare-and-swap to reserve, one subtraction to settle, one for the
//! frames handled since the last read (each with its gauge update). Waiting is the slow
//! path: only while some read waits does a release touch the `Notify` (a lock).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use prometheus::{Histogram, IntGauge};
use tokio::sync::Notify;

pub use crate::config::{FORWARD_BUSY_READ as BUSY_READ, FORWARD_IDLE_READ as IDLE_READ};
use crate::metrics::Metrics;

/// The bytes forward connections hold, shared by all of them.
#[derive(Debug)]
pub struct Budget {
    max: usize,
    used: AtomicUsize,
    lane: AtomicBool,
    /// Reads waiting for room (when none, a release touches no lock).
    waiters: AtomicUsize,
    room: Notify,
    gauge: IntGauge,
    waiting: IntGauge,
    wait_seconds: Histogram,
}

impl Budget {
    /// A budget of `max` bytes, reported in `metrics`.
    pub fn new(max: usize, metrics: &Metrics) -> Budget {
        Budget {
            max,
            used: AtomicUsize::new(0),
            lane: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            room: Notify::new(),
            gauge: metrics.forward_buffered_bytes.clone(),
            waiting: metrics.forward_buffer_waiting.clone(),
            wait_seconds: metrics.forward_buffer_wait_seconds.clone(),
        }
    }

    /// Bytes held or reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// Reserves `n` if it fits under the cap.
    fn try_add(&self, n: usize) -> bool {
        let fits = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| u.checked_add(n).filter(|&total| total <= self.max));
        if fits.is_ok() {
            self.gauge.add(n as i64);
        }
        fits.is_ok()
    }

    /// Reserves `n` past the cap (the lane holder).
    fn force_add(&self, n: usize) {
        self.used.fetch_add(n, Ordering::SeqCst);
        self.gauge.add(n as i64);
    }

    /// Gives back `n`, and wakes the reads waiting for room, if any, to check again.
    fn sub(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.used.fetch_sub(n, Ordering::SeqCst);
        self.gauge.sub(n as i64);
        self.wake();
    }

    fn release_lane(&self) {
        self.lane.store(false, Ordering::SeqCst);
        self.wake();
    }

    /// A waiter counts itself (SeqCst) before it checks `used`, and a releaser changes
    /// `used` before it reads the count: either the waiter sees the release, or the
    /// releaser sees the waiter and wakes it.
    fn wake(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }
}

/// One connection's part of the budget; gives it all back when dropped.
#[derive(Debug)]
pub struct Share {
    budget: Arc<Budget>,
    /// Bytes read and not yet given back.
    held: usize,
    /// Space reserved for the read in progress.
    reserved: usize,
    /// Whether this connection holds the overdraw lane.
    lane: bool,
}

impl Share {
    /// A connection's share of `budget`, holding nothing yet.
    pub fn new(budget: Arc<Budget>) -> Share {
        Share { budget, held: 0, reserved: 0, lane: false }
    }

    /// Reserves `want` bytes for a read if that needs no waiting: under the cap, or this
    /// connection holds the lane.
    pub fn try_reserve(&mut self, want: usize) -> bool {
        debug_assert_eq!(self.reserved, 0, "one read at a time");
        if self.lane {
            self.budget.force_add(want);
        } else if !self.budget.try_add(want) {
            return false;
        }
        self.reserved = want;
        true
    }

    /// Waits until `want` bytes fit, or (when `mid_frame`) this connection gets the
    /// overdraw lane, and reserves them. Cancel-safe: dropped while waiting, it reserves
    /// nothing.
    pub async fn reserve(&mut self, want: usize, mid_frame: bool) {
        let budget = self.budget.clone();
        let _waiting = Waiting::start(&budget);
        loop {
            // Created before the check, so a release between the check and the wait is seen.
            let room = budget.room.notified();
            if self.try_reserve(want) {
                return;
            }
            if mid_frame && budget.lane.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                self.lane = true;
                tracing::debug!(want, used = budget.used(), "forward buffer cap reached: this frame reads past it");
                budget.force_add(want);
                self.reserved = want;
                return;
            }
            room.await;
        }
    }

    /// The read made with the reservation returned `n` bytes (`n` at most the reservation).
    pub fn settle(&mut self, n: usize) {
        let unused = self.reserved.saturating_sub(n);
        self.held += self.reserved - unused;
        self.reserved = 0;
        self.budget.sub(unused);
    }

    /// Gives back `n` bytes that were handled (their frames are done with).
    pub fn release(&mut self, n: usize) {
        let n = n.min(self.held);
        self.held -= n;
        self.budget.sub(n);
    }

    /// The frame this connection was in is complete: the lane, if held, goes to the next.
    pub fn frame_done(&mut self) {
        if self.lane {
            self.lane = false;
            self.budget.release_lane();
        }
    }

    /// Whether this connection holds the overdraw lane.
    pub fn has_lane(&self) -> bool {
        self.lane
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.sub(self.held + self.reserved);
        self.frame_done();
    }
}

/// A read waiting for room: counted in the waiting gauge, timed when it ends.
struct Waiting<'a> {
    budget: &'a Budget,
    since: std::time::Instant,
}

impl<'a> Waiting<'a> {
    fn start(budget: &'a Budget) -> Waiting<'a> {
        budget.waiters.fetch_add(1, Ordering::SeqCst);
        budget.waiting.inc();
        Waiting { budget, since: std::time::Instant::now() }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.budget.waiters.fetch_sub(1, Ordering::SeqCst);
        self.budget.waiting.dec();
        self.budget.wait_seconds.observe(self.since.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests;
