//! The routers following this control plane, as their activity reports show them: each
//! one's id, the route version it has applied last and when it last reported.
//!
//! The release switch asks [`Routers::wait_applied`] before it stops processes that the
//! routes no longer point at: a router still reconnecting to the route stream (backoff up
//! to a few seconds) would go on sending requests to them and answer 502. A router counts
//! while it reports (every `activity_interval`, its heartbeat) and for `router_timeout`
//! after its last report; one that never said which version it applied (an older router,
//! or one that has not applied any event yet, so it routes nothing of ours) is not waited
//! for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Most routers tracked at once; reports from further new ids are not tracked (logged).
pub const MAX_ROUTERS: usize = 1024;

/// The routers that report; see the module docs.
#[derive(Debug)]
pub struct Routers {
    seen: Mutex<HashMap<String, Seen>>,
    /// Bumped after every report, for waiters to look again.
    reported: watch::Sender<u64>,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The route version it applied; None: it did not say.
    version: Option<u64>,
    at: Instant,
}

impl Routers {
    /// No routers yet; one that has not reported for `timeout` no longer counts.
    pub fn new(timeout: Duration) -> Routers {
        Routers { seen: Mutex::default(), reported: watch::Sender::new(0), timeout }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        // Plain map edits: a poisoned lock holds consistent data.
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a report of router `id` (already checked) having applied `version`.
    /// O(routers): silent routers are dropped here, so the map stays bounded.
    pub fn report(&self, id: &str, version: Option<u64>) {
        let now = Instant::now();
        {
            let mut seen = self.lock();
            seen.retain(|_, s| now.duration_since(s.at) < self.timeout);
            if !seen.contains_key(id) && seen.len() >= MAX_ROUTERS {
                tracing::warn!(router = id, max = MAX_ROUTERS, "too many routers report; this one is not tracked");
                return;
            }
            // A report that says nothing of the version keeps what the router said before.
            let version = version.or_else(|| seen.get(id).and_then(|s| s.version));
            seen.insert(id.to_owned(), Seen { version, at: now });
        }
        self.reported.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The routers that count now (reported within the timeout).
    pub fn count(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|s| now.duration_since(s.at) < self.timeout).count()
    }

    /// The routers that count and have applied a version below `version`, and the instant
    /// the first of them stops counting if it stays silent. O(routers).
    fn lagging(&self, version: u64) -> (Vec<String>, Option<Instant>) {
        let now = Instant::now();
        let seen = self.lock();
        let mut ids = Vec::new();
        let mut expires: Option<Instant> = None;
        for (id, s) in seen.iter() {
            let lags = s.version.is_some_and(|v| v < version);
            if lags && now.duration_since(s.at) < self.timeout {
                ids.push(id.clone());
                let at = s.at + self.timeout;
                expires = Some(expires.map_or(at, |e| e.min(at)));
            }
        }
        ids.sort();
        (ids, expires)
    }

    /// Waits until every router that counts has applied `version` or later (routers that
    /// go silent stop counting), or until `deadline`. Returns the routers still behind at
    /// the deadline (empty: all applied it).
    pub async fn wait_applied(&self, version: u64, deadline: Instant) -> Vec<String> {
        let mut reported = self.reported.subscribe();
        loop {
            // Mark seen before looking, so a report right after the look wakes the wait.
            reported.borrow_and_update();
            let (behind, expires) = self.lagging(version);
            if behind.is_empty() || Instant::now() >= deadline {
                return behind;
            }
            let until = expires.map_or(deadline, |e| e.min(deadline));
            tokio::select! {
                changed = reported.changed() => if changed.is_err() { return behind },
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
