//! Choosing an endpoint for a request.
//!
//! Least outstanding requests with the power of two choices (the default): pick two
//! endpoints at random and take the one with fewer requests in flight. It needs no shared
//! queue, reacts to a slow endpoint within a few requests, and avoids the herd behaviour of
//! "always the least loaded". Round-robin is the alternative, per app.
//!
//! Ejected endpoints are skipped while any other is eligible; when every untried endpoint
//! is ejected we try them anyway (fail open), since the probe may not have noticed a
//! recovery yet and an attempt costs one connect.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::spec::Balance;
use crate::upstream::endpoint::Endpoint;

/// Endpoints already tried for this request (by index; indexes past 127 are never
/// marked, so very large sets may see a repeat, which is harmless).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tried(u128);

impl Tried {
    pub(crate) fn add(&mut self, index: usize) {
        if index < 128 {
            self.0 |= 1 << index;
        }
    }

    fn has(self, index: usize) -> bool {
        index < 128 && self.0 & (1 << index) != 0
    }
}

/// Picks an endpoint index, or None when every endpoint was tried. O(n) in the app's
/// endpoint count, O(1) for the common single-endpoint app.
pub(crate) fn pick(endpoints: &[Arc<Endpoint>], policy: Balance, cursor: &AtomicUsize, tried: Tried) -> Option<usize> {
    match endpoints.len() {
        0 => return None,
        1 => return (!tried.has(0)).then_some(0),
        _ => {}
    }
    let healthy = |i: usize| !tried.has(i) && !endpoints[i].is_ejected();
    let untried = |i: usize| !tried.has(i);
    let n = (0..endpoints.len()).filter(|&i| healthy(i)).count();
    if n > 0 {
        choose(endpoints, policy, cursor, n, healthy)
    } else {
        let n = (0..endpoints.len()).filter(|&i| untried(i)).count();
        if n == 0 {
            return None;
        }
        choose(endpoints, policy, cursor, n, untried)
    }
}

/// Chooses among the `n` endpoints that satisfy `eligible`.
fn choose(
    endpoints: &[Arc<Endpoint>],
    policy: Balance,
    cursor: &AtomicUsize,
    n: usize,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let nth = |k: usize| (0..endpoints.len()).filter(|&i| eligible(i)).nth(k);
    match policy {
        Balance::RoundRobin => nth(cursor.fetch_add(1, Ordering::Relaxed) % n),
        Balance::LeastOutstanding => {
            if n == 1 {
                return nth(0);
            }
            let a = fastrand::usize(..n);
            let mut b = fastrand::usize(..n - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (nth(a)?, nth(b)?);
            if endpoints[b].outstanding() < endpoints[a].outstanding() { Some(b) } else { Some(a) }
        }
    }
}

#[cfg(test)]
mod tests;
