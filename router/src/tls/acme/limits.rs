//! Order rate limits (per host and for the whole router, over a sliding window) and the
//! backoff after a host's failed orders. Only the issuer's order path uses it, under one
//! mutex held for a few comparisons; the handshake path never does.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Settings, from `[acme]`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Orders per host per window.
    pub per_host: u32,
    /// Orders per window, all hosts.
    pub global: u32,
    /// The window.
    pub window: Duration,
    /// First wait after a failure.
    pub backoff: Duration,
    /// Longest wait after failures.
    pub backoff_max: Duration,
}

#[derive(Debug, Default)]
struct Host {
    orders: VecDeque<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// The limiter's state.
#[derive(Debug)]
pub struct Limits {
    settings: Settings,
    orders: VecDeque<Instant>,
    hosts: HashMap<String, Host>,
}

impl Limits {
    /// No orders yet.
    pub fn new(settings: Settings) -> Limits {
        Limits { settings, orders: VecDeque::new(), hosts: HashMap::new() }
    }

    /// Takes a slot for an order of `host` at `now`, or says why not. O(orders in the window).
    pub fn admit(&mut self, host: &str, now: Instant) -> Result<(), &'static str> {
        let window = self.settings.window;
        let expired = |t: &Instant| now.saturating_duration_since(*t) >= window;
        while self.orders.front().is_some_and(expired) {
            self.orders.pop_front();
        }
        // Hosts with nothing left to remember are dropped, so the map stays as small as
        // the hosts ordered within a window or backing off.
        self.hosts.retain(|_, h| {
            while h.orders.front().is_some_and(expired) {
                h.orders.pop_front();
            }
            !h.orders.is_empty() || h.failures > 0
        });
        let entry = self.hosts.get(host);
        if entry.and_then(|h| h.retry_at).is_some_and(|at| now < at) {
            return Err("backing off after a failed order");
        }
        if entry.is_some_and(|h| h.orders.len() >= self.settings.per_host as usize) {
            return Err("over the per-host order rate");
        }
        if self.orders.len() >= self.settings.global as usize {
            return Err("over the router's order rate");
        }
        self.orders.push_back(now);
        self.hosts.entry(host.to_owned()).or_default().orders.push_back(now);
        Ok(())
    }

    /// Records that `host`'s order failed at `now`: it waits `backoff`, doubled for each
    /// further failure in a row, at most `backoff_max`.
    pub fn failed(&mut self, host: &str, now: Instant) {
        let entry = self.hosts.entry(host.to_owned()).or_default();
        entry.failures = entry.failures.saturating_add(1);
        let factor = 1u32.checked_shl(entry.failures - 1).unwrap_or(u32::MAX);
        let wait = self.settings.backoff.saturating_mul(factor).min(self.settings.backoff_max);
        entry.retry_at = Some(now + wait);
    }

    /// Records that `host`'s order succeeded: no more backoff.
    pub fn succeeded(&mut self, host: &str) {
        if let Some(entry) = self.hosts.get_mut(host) {
            entry.failures = 0;
            entry.retry_at = None;
        }
    }
}

#[cfg(test)]
mod tests;
