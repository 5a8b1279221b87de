//! A forward connection's two timers: idle (`forward.idle_timeout`) and frame
//! (`forward.frame_timeout`, `forward.frame_min_rate`).
//!
//! - Idle: a read that waits longer than `idle` for the client's next byte closes the
//!   connection. Only time spent waiting for the client counts: not the time logd takes
//!   to handle a frame, to get its lines to disk before the ack, or to find buffer space
//!   (`forward::budget`). A busy sender waiting for its ack is never idle.
//! - Frame: a frame must be complete within `frame` of its first byte, plus one second
//!   for every `min_rate` bytes of it received so far (Apache's `mod_reqtimeout` rule for
//!   request bodies). A slowloris dribbling a frame is cut at about `frame`; a large frame
//!   arriving at `min_rate` or faster never is. This timer keeps running while the
//!   connection waits for buffer space, so partial frames cannot hold the budget forever.
//!
//! Cost: one `Sleep` per connection, armed lazily. It never fires later than a deadline
//! and is reset only when it fires: at most once per `min(idle, frame)` while nothing
//! times out, never per read. Every deadline starts at or after the moment it is armed
//! for, so arming it `min(idle, frame)` ahead is never late for a frame or read that
//! starts after that.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest wait for the client's next byte.
    pub idle: Duration,
    /// Time a frame has from its first byte to its last, before the rate allowance.
    pub frame: Duration,
    /// Bytes per second of frame that earn one more second; 0: no allowance.
    pub min_rate: u64,
}

/// Which timer ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No byte for `idle`.
    Idle,
    /// A frame not complete in time.
    Frame,
}

impl Expired {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Expired::Idle => "idle",
            Expired::Frame => "frame",
        }
    }
}

impl Timeouts {
    /// When a frame that started at `started` and has `received` bytes so far runs out.
    pub fn frame_deadline(&self, started: Instant, received: usize) -> Instant {
        let allowance = match self.min_rate {
            0 => Duration::ZERO,
            rate => Duration::from_millis((received as u64).saturating_mul(1000) / rate),
        };
        started + self.frame + allowance
    }

    /// How far ahead the timer is armed when no deadline is nearer.
    fn step(&self) -> Duration {
        self.idle.min(self.frame)
    }
}

/// One connection's timer.
#[derive(Debug)]
pub struct Timer {
    limits: Timeouts,
    sleep: Pin<Box<Sleep>>,
}

impl Timer {
    /// A timer armed from now.
    pub fn new(limits: Timeouts) -> Timer {
        Timer { limits, sleep: Box::pin(tokio::time::sleep(limits.step())) }
    }

    /// The limits.
    pub fn limits(&self) -> &Timeouts {
        &self.limits
    }

    /// Completes when a timer runs out: idle, when `reading_since` is the start of a read
    /// waiting for the client; frame, when `frame` is a frame's start and its bytes so far.
    /// With neither, it never completes. Cancel-safe.
    pub async fn expired(&mut self, reading_since: Option<Instant>, frame: Option<(Instant, usize)>) -> Expired {
        let idle = reading_since.map(|since| since + self.limits.idle);
        let frame = frame.map(|(started, received)| self.limits.frame_deadline(started, received));
        loop {
            self.sleep.as_mut().await;
            let now = Instant::now();
            // Woken late (a busy runtime), both may have passed: the earlier one is why.
            match (idle.filter(|at| *at <= now), frame.filter(|at| *at <= now)) {
                (Some(idle), Some(frame)) => return if frame < idle { Expired::Frame } else { Expired::Idle },
                (Some(_), None) => return Expired::Idle,
                (None, Some(_)) => return Expired::Frame,
                (None, None) => {}
            }
            let next = [idle, frame].into_iter().flatten().fold(now + self.limits.step(), Instant::min);
            self.sleep.as_mut().reset(next);
        }
    }
}

#[cfg(test)]
mod tests;
