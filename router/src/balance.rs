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

use crate::endpoint::Endpoint;
use crate::spec::Balance;

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
mod tests {
    use super::*;

    fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
        (0..n).map(|i| Endpoint::new(format!("127.0.0.1:{}", 1000 + i).parse().unwrap(), 1, 1)).collect()
    }

    #[test]
    fn round_robin_visits_each_endpoint_in_turn() {
        let eps = endpoints(3);
        let cursor = AtomicUsize::new(0);
        let picks: Vec<_> =
            (0..6).map(|_| pick(&eps, Balance::RoundRobin, &cursor, Tried::default()).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn least_outstanding_avoids_the_busy_endpoint() {
        let eps = endpoints(2);
        let _busy: Vec<_> = (0..5).map(|_| eps[0].start_request()).collect();
        let cursor = AtomicUsize::new(0);
        for _ in 0..100 {
            assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, Tried::default()), Some(1));
        }
    }

    #[test]
    fn tried_and_ejected_endpoints_are_skipped_until_none_is_left() {
        let eps = endpoints(3);
        let cursor = AtomicUsize::new(0);
        assert!(eps[1].connect_failed(1));
        let mut tried = Tried::default();
        tried.add(0);
        for _ in 0..50 {
            assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, tried), Some(2));
        }
        tried.add(2);
        // Only the ejected one is left: fail open.
        assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, tried), Some(1));
        tried.add(1);
        assert_eq!(pick(&eps, Balance::LeastOutstanding, &cursor, tried), None);
    }

    #[test]
    fn spreads_load_over_all_endpoints() {
        let eps = endpoints(4);
        let cursor = AtomicUsize::new(0);
        let mut seen = [0; 4];
        for _ in 0..400 {
            seen[pick(&eps, Balance::LeastOutstanding, &cursor, Tried::default()).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
