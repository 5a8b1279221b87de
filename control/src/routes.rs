//! The routes the control plane publishes, as a versioned table and a bounded log of
//! recent changes: what `GET /v1/routes` returns and `GET /v1/routes?watch=true` streams
//! (the wire format is the router's, [`slipway_router::spec`]).
//!
//! An app's routes are composed from two owners: the platform sets its *meta* (custom
//! domains, asleep or not) and the runtime sets its *endpoints* (ready web processes).
//! Every change that alters the composed [`AppRoutes`] bumps the version by one and
//! appends an `upsert` or `remove` event to the log; the log keeps the last `history`
//! events, so a router resuming from a version still in it gets exactly what it missed,
//! and one further behind (or from before a restart) gets a fresh snapshot.
//!
//! Versions start at the start-up time in microseconds, so they keep growing across
//! restarts of the control plane and a router never mistakes new state for old.
//!
//! The hub also knows which version each router has applied ([`Routers`], from their
//! activity reports), so the release switch can wait for them before it stops processes.

mod routers;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use slipway_router::spec::{AppOptions, AppRoutes, RouteEvent, RouteSet};
use tokio::sync::watch;

pub use routers::{MAX_ROUTERS, Routers};

/// The published routes; see the module docs.
#[derive(Debug)]
pub struct RouteHub {
    inner: Mutex<Inner>,
    /// The current version, for streams to wait on.
    changed: watch::Sender<u64>,
    history: usize,
    routers: Routers,
    /// Test seam (`slipway up --test-route-stream-delay`): how long, in ms, new streams
    /// wait before their first event. Zero in production.
    stream_delay_ms: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Inner {
    version: u64,
    apps: BTreeMap<String, Entry>,
    log: VecDeque<RouteEvent>,
}

impl Inner {
    /// Every app's routes, by name.
    fn published(&self) -> Vec<AppRoutes> {
        self.apps.iter().map(|(name, entry)| entry.compose(name)).collect()
    }
}

/// An app's parts; what is published is always `compose(name)`.
#[derive(Debug, Clone)]
struct Entry {
    hosts: Vec<String>,
    endpoints: Vec<String>,
    /// The dyno behind each endpoint that has a name (for the router's log lines).
    dynos: BTreeMap<String, String>,
    asleep: bool,
}

impl Entry {
    fn compose(&self, name: &str) -> AppRoutes {
        AppRoutes {
            name: name.to_owned(),
            hosts: self.hosts.clone(),
            endpoints: self.endpoints.clone(),
            dynos: self.dynos.clone(),
            paths: Vec::new(),
            // Asleep (or waking) and nothing to send to: the router holds requests and
            // asks to wake the app. Once endpoints exist, requests flow.
            options: AppOptions { sleeping: self.asleep && self.endpoints.is_empty(), ..AppOptions::default() },
        }
    }
}

/// What a stream resuming after a version gets first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatchUp {
    /// Nothing new.
    UpToDate,
    /// The changes since, in order.
    Events(Vec<RouteEvent>),
    /// Everything, as one snapshot.
    Snapshot(RouteEvent),
}

impl RouteHub {
    /// An empty table keeping the last `history` events; a router that has not reported
    /// for `router_timeout` is no longer waited for.
    pub fn new(history: usize, router_timeout: std::time::Duration) -> RouteHub {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        RouteHub {
            inner: Mutex::new(Inner { version: start, apps: BTreeMap::new(), log: VecDeque::new() }),
            changed: watch::Sender::new(start),
            history: history.max(1),
            routers: Routers::new(router_timeout),
            stream_delay_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the table half-written: every
        // change is computed first and then stored with plain assignments.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// Test seam: streams opened from now on send their first event `delay` after they
    /// open (to reproduce a router that is slow to get the routes).
    pub fn delay_streams(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.stream_delay_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long a new stream waits before its first event (see [`RouteHub::delay_streams`]).
    pub fn stream_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stream_delay_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The routers following the hub, and the versions they applied.
    pub fn routers(&self) -> &Routers {
        &self.routers
    }

    /// Creates an app, or replaces its meta (its endpoints stay). O(log apps).
    pub fn set_app(&self, name: &str, hosts: Vec<String>, asleep: bool) {
        let hosts = normalized(hosts);
        let mut inner = self.lock();
        let entry = match inner.apps.get(name) {
            Some(old) => Entry { hosts, asleep, ..old.clone() },
            None => Entry { hosts, endpoints: Vec::new(), dynos: BTreeMap::new(), asleep },
        };
        self.publish(&mut inner, name, entry);
    }

    /// Sets the custom domains of a known app; false if the app is not (or no longer)
    /// known. O(log apps).
    pub fn set_hosts(&self, name: &str, hosts: Vec<String>) -> bool {
        let hosts = normalized(hosts);
        self.update(name, |entry| entry.hosts = hosts)
    }

    /// Marks a known app asleep (or waking) or awake; false if the app is not (or no
    /// longer) known. O(log apps).
    pub fn set_asleep(&self, name: &str, asleep: bool) -> bool {
        self.update(name, |entry| entry.asleep = asleep)
    }

    /// Sets the endpoints of a known app; false if the app is not (or no longer) known.
    /// O(log apps).
    pub fn set_endpoints(&self, name: &str, endpoints: Vec<String>) -> bool {
        self.set_dyno_endpoints(name, endpoints.into_iter().map(|e| (e, None)).collect())
    }

    /// Sets the endpoints of a known app with the dyno behind each (`web.1`), which the
    /// router's log lines name; false if the app is not (or no longer) known. O(log apps
    /// + endpoints).
    pub fn set_dyno_endpoints(&self, name: &str, endpoints: Vec<(String, Option<String>)>) -> bool {
        let dynos: BTreeMap<String, String> =
            endpoints.iter().filter_map(|(e, d)| Some((e.clone(), d.clone()?))).collect();
        let endpoints = normalized(endpoints.into_iter().map(|(e, _)| e).collect());
        self.update(name, |entry| {
            entry.endpoints = endpoints;
            entry.dynos = dynos;
        })
    }

    /// Changes one part of a known app's entry and publishes the result; false if the app
    /// is not known.
    fn update(&self, name: &str, change: impl FnOnce(&mut Entry)) -> bool {
        let mut inner = self.lock();
        let Some(old) = inner.apps.get(name) else { return false };
        let mut entry = old.clone();
        change(&mut entry);
        self.publish(&mut inner, name, entry);
        true
    }

    /// Whether the app is published.
    pub fn contains(&self, name: &str) -> bool {
        self.lock().apps.contains_key(name)
    }

    /// The endpoints an app is routed to now.
    pub fn endpoints(&self, name: &str) -> Vec<String> {
        self.lock().apps.get(name).map(|e| e.endpoints.clone()).unwrap_or_default()
    }

    /// Removes an app.
    pub fn remove_app(&self, name: &str) {
        let mut inner = self.lock();
        if inner.apps.remove(name).is_some() {
            let version = inner.version + 1;
            self.append(&mut inner, RouteEvent::Remove { version, name: name.to_owned() });
        }
    }

    /// Stores `entry` and appends an upsert if the app's routes changed (a new app's
    /// always are).
    fn publish(&self, inner: &mut Inner, name: &str, entry: Entry) {
        let routes = entry.compose(name);
        if inner.apps.get(name).is_some_and(|old| old.compose(name) == routes) {
            inner.apps.insert(name.to_owned(), entry);
            return;
        }
        if let Err(e) = routes.validate() {
            // Names, hosts and endpoints are checked before they get here.
            tracing::error!(app = name, error = %e, "refusing to publish invalid routes");
            return;
        }
        inner.apps.insert(name.to_owned(), entry);
        let version = inner.version + 1;
        self.append(inner, RouteEvent::Upsert { version, app: routes });
    }

    fn append(&self, inner: &mut Inner, event: RouteEvent) {
        inner.version = event.version();
        inner.log.push_back(event);
        while inner.log.len() > self.history {
            inner.log.pop_front();
        }
        self.changed.send_replace(inner.version);
    }

    /// Every app at the current version (`GET /v1/routes`). O(apps).
    pub fn route_set(&self) -> RouteSet {
        let inner = self.lock();
        RouteSet { version: Some(inner.version), apps: inner.published() }
    }

    /// What a stream that has seen up to `after` (None: nothing) needs next.
    /// O(events since) when resuming, O(apps) for a snapshot.
    pub fn catch_up(&self, after: Option<u64>) -> CatchUp {
        let inner = self.lock();
        let snapshot = || CatchUp::Snapshot(RouteEvent::Snapshot { version: inner.version, apps: inner.published() });
        let Some(after) = after else { return snapshot() };
        if after == inner.version {
            return CatchUp::UpToDate;
        }
        // Events are numbered without gaps, so the log covers `after` if its oldest event
        // is at most the one right after it.
        let covered = after < inner.version && inner.log.front().is_some_and(|first| first.version() <= after + 1);
        if !covered {
            return snapshot();
        }
        let skip = inner.log.partition_point(|e| e.version() <= after);
        CatchUp::Events(inner.log.iter().skip(skip).cloned().collect())
    }

    /// Notified with the version after every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Sorted and without duplicates: the same set of hosts or endpoints is the same routes.
fn normalized(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

/// One server-sent event: `id` = version, `event` = kind, `data` = the event's JSON.
pub fn sse(event: &RouteEvent) -> Bytes {
    // A RouteEvent is strings, numbers and booleans: it always serializes.
    let json = serde_json::to_string(event).unwrap_or_default();
    Bytes::from(format!("id: {}\nevent: {}\ndata: {json}\n\n", event.version(), event.kind()))
}

#[cfg(test)]
mod tests;
