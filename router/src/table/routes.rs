//! The live route table: host → app, read on every request without a lock.
//!
//! Two levels, each an immutable snapshot behind an `ArcSwap`:
//! - [`RouteTable`] maps app names and custom hosts to `Arc<App>`. It is published whole by
//!   the single writer (`table/update.rs`), but built copy-on-write from 256 shards, so
//!   adding or removing an app copies one shard (≈ n/256 entries) plus the shard array,
//!   never the whole table.
//! - Each [`App`] holds its own [`AppState`] (endpoints, options) behind its own `ArcSwap`.
//!   Changing an app's endpoints swaps that state in place: O(endpoints of that app), and
//!   no other app, shard or connection is touched.
//!
//! A request does: one `ArcSwap::load` of the table, one hash lookup (custom host, then
//! `<app>.<zone>`), one `load` of the app's state. O(1) in the number of apps.
//!
//! Path routing (Kubernetes Ingress paths): a host's entry in `hosts` is a [`HostRoute`],
//! either one app for the whole host (custom domains, and a host whose only rule is the
//! prefix `/`) or the host's path rules, longest first, plus the app holding the whole
//! host, if any, for paths no rule matches. A host-only lookup costs one enum match more
//! than before; only hosts with path rules walk their rules (O(rules of that host)).
//! Wildcard hosts `*.example.com` are keyed `.example.com` and looked up only after
//! every exact lookup missed, and only when the table has any.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use hashbrown::HashTable;

use crate::metrics::{AppMetrics, Metrics};
use crate::spec::{AppRoutes, Balance, PathMatch};
use crate::upstream::endpoint::Endpoint;

const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;

/// A published snapshot of the routes.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Version of this snapshot; every published change raises it.
    pub version: u64,
    pub(crate) apps: ShardMap<Arc<App>>,
    pub(crate) hosts: ShardMap<HostRoute>,
    /// Wildcard keys (`.example.com`) in `hosts`.
    pub(crate) wildcards: usize,
}

/// What a host routes to.
#[derive(Debug, Clone)]
pub(crate) enum HostRoute {
    /// One app for every path.
    App(Arc<App>),
    /// Path rules.
    Paths(Arc<PathRoutes>),
}

impl HostRoute {
    /// The app serving `path` on this host. O(1) for a whole-host route, O(rules) else.
    #[inline]
    fn pick(&self, path: &str) -> Option<Arc<App>> {
        match self {
            HostRoute::App(app) => Some(app.clone()),
            HostRoute::Paths(paths) => paths.pick(path).cloned(),
        }
    }

    /// The app that holds the whole host (a custom domain), if any.
    pub(crate) fn whole(&self) -> Option<&Arc<App>> {
        match self {
            HostRoute::App(app) => Some(app),
            HostRoute::Paths(paths) => paths.whole.as_ref(),
        }
    }
}

/// A host's path rules: longest path first, `exact` before `prefix` of the same length
/// (the Ingress precedence), and the whole-host app for paths no rule matches.
#[derive(Debug, Default)]
pub(crate) struct PathRoutes {
    pub(crate) rules: Box<[PathRule]>,
    pub(crate) whole: Option<Arc<App>>,
}

/// One path rule in the table.
#[derive(Debug, Clone)]
pub(crate) struct PathRule {
    /// The rule's path, for `prefix` without its trailing `/` (so `/` is empty).
    pub(crate) path: Box<str>,
    pub(crate) kind: PathMatch,
    pub(crate) app: Arc<App>,
}

impl PathRule {
    /// Whether the rule matches `path`. O(rule length).
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            PathMatch::Exact => path == &*self.path,
            PathMatch::Prefix => {
                path.starts_with(&*self.path)
                    && (path.len() == self.path.len() || path.as_bytes()[self.path.len()] == b'/')
            }
        }
    }

    /// The key a rule is ordered by: longest first, exact before prefix.
    pub(crate) fn order(&self) -> (std::cmp::Reverse<usize>, bool) {
        (std::cmp::Reverse(self.path.len()), self.kind == PathMatch::Prefix)
    }
}

impl PathRoutes {
    /// The first (longest) matching rule's app, else the whole-host app.
    fn pick(&self, path: &str) -> Option<&Arc<App>> {
        self.rules.iter().find(|rule| rule.matches(path)).map(|rule| &rule.app).or(self.whole.as_ref())
    }
}

/// The key of a path rule's host in `hosts`: a wildcard `*.example.com` is `.example.com`.
pub(crate) fn host_key(host: &str) -> &str {
    host.strip_prefix('*').unwrap_or(host)
}

impl RouteTable {
    /// An empty table at version 0.
    pub fn empty() -> RouteTable {
        RouteTable { version: 0, apps: ShardMap::new(), hosts: ShardMap::new(), wildcards: 0 }
    }

    /// Number of apps.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// Whether there are no apps.
    pub fn is_empty(&self) -> bool {
        self.apps.len() == 0
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Option<&Arc<App>> {
        self.apps.get(name)
    }

    /// Every app, in no particular order.
    pub fn apps(&self) -> impl Iterator<Item = &Arc<App>> {
        self.apps.values()
    }
}

/// The router's view of the routes: the live table plus the zones it serves.
#[derive(Debug)]
pub struct Routes {
    table: ArcSwap<RouteTable>,
    zones: Box<[Box<str>]>,
    /// The version of the last published snapshot, for those who wait on changes.
    published: tokio::sync::watch::Sender<u64>,
}

impl Routes {
    /// An empty table for `zones`.
    pub fn new(zones: &[String]) -> Routes {
        Routes {
            table: ArcSwap::from_pointee(RouteTable::empty()),
            zones: zones.iter().map(|z| z.as_str().into()).collect(),
            published: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Follows the version of the published snapshot: `changed()` wakes after each publish
    /// (for embedders that wait until a change is served instead of polling).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// The zones served.
    pub fn zones(&self) -> &[Box<str>] {
        &self.zones
    }

    /// Publishes a new snapshot (the writer only).
    pub(crate) fn publish(&self, table: RouteTable) {
        let version = table.version;
        self.table.store(Arc::new(table));
        self.published.send_replace(version);
    }

    /// The app serving `path` on `host` (lower-case, no port): a custom host or a host
    /// with path rules first, then `<app>.<zone>`, then a wildcard host. Lock-free; O(1)
    /// in the number of apps, O(zones), O(path rules of the host).
    pub fn lookup(&self, host: &str, path: &str) -> Option<Arc<App>> {
        let table = self.table.load();
        if let Some(route) = table.hosts.get(host) {
            return route.pick(path);
        }
        if let Some(app) = self.app_label(host).and_then(|name| table.apps.get(name)) {
            return Some(app.clone());
        }
        if table.wildcards == 0 {
            return None;
        }
        // `a.example.com` → `.example.com`, the key of `*.example.com`.
        let dot = host.find('.')?;
        table.hosts.get(&host[dot..])?.pick(path)
    }

    /// Whether some route serves `host` (any path): ACME's judge of which hosts may get a
    /// certificate.
    pub fn serves_host(&self, host: &str) -> bool {
        let table = self.table.load();
        if table.hosts.get(host).is_some() || self.app_label(host).and_then(|name| table.apps.get(name)).is_some() {
            return true;
        }
        table.wildcards != 0 && host.find('.').is_some_and(|dot| table.hosts.get(&host[dot..]).is_some())
    }

    /// For `<label>.<zone>`, the label (if it is a single DNS label).
    pub fn app_label<'h>(&self, host: &'h str) -> Option<&'h str> {
        self.zones.iter().find_map(|zone| {
            let label = host.strip_suffix(&**zone)?.strip_suffix('.')?;
            (!label.is_empty() && !label.contains('.')).then_some(label)
        })
    }
}

/// An app in the table. The same `App` stays in place across updates that keep the app,
/// so its concurrency count, balancing cursor and metrics carry over.
#[derive(Debug)]
pub struct App {
    /// Its name.
    pub name: Box<str>,
    state: ArcSwap<AppState>,
    inflight: AtomicU32,
    pub(crate) cursor: AtomicUsize,
    metrics: OnceLock<AppMetrics>,
    /// Requests routed to this app since the last activity report.
    served: AtomicU64,
    /// Notified whenever the app's state changes or it is removed (a sleeping app's
    /// request waits on it).
    changed: tokio::sync::Notify,
    /// When the router last asked the control plane to wake this app (ms since start).
    pub(crate) wake_requested: AtomicU64,
    /// The last call to wake the app failed (its waiting requests' lines say S11).
    pub(crate) wake_failed: AtomicBool,
    /// Set when the app leaves the table (a later app of the same name is a new `App`).
    removed: AtomicBool,
}

/// An app's routing state at one moment; replaced whole on every change.
#[derive(Debug)]
pub struct AppState {
    /// The routes as last given (for `GET /v1/routes`).
    pub spec: AppRoutes,
    /// Endpoints, in the given order.
    pub endpoints: Box<[Arc<Endpoint>]>,
    /// Balancing policy in force.
    pub balance: Balance,
    /// Concurrent request limit in force; 0 is none.
    pub max_concurrent: u32,
    /// Response-head timeout in force.
    pub response_timeout: Duration,
    /// The source that last wrote this app (and owns it for "replace all").
    pub source: Source,
}

impl App {
    pub(crate) fn new(name: &str, state: AppState) -> Arc<App> {
        Arc::new(App {
            name: name.into(),
            state: ArcSwap::from_pointee(state),
            inflight: AtomicU32::new(0),
            cursor: AtomicUsize::new(0),
            metrics: OnceLock::new(),
            served: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
            wake_requested: AtomicU64::new(0),
            wake_failed: AtomicBool::new(false),
            removed: AtomicBool::new(false),
        })
    }

    /// The current state.
    pub fn state(&self) -> Arc<AppState> {
        self.state.load_full()
    }

    /// Replaces the state in place. O(1); readers see the old or the new state, whole.
    pub(crate) fn set_state(&self, state: AppState) {
        self.state.store(Arc::new(state));
        self.changed.notify_waiters();
    }

    /// Marks the app as gone from the table and wakes whoever waits on a change (the
    /// writer only).
    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Whether the app has left the table.
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Resolves at the next state change or at removal; create it before checking.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Counts a request routed to this app.
    pub(crate) fn count_request(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests routed since the last call.
    pub(crate) fn take_served(&self) -> u64 {
        self.served.swap(0, Ordering::Relaxed)
    }

    /// This app's metric handles, created on first use.
    pub(crate) fn metrics(&self, metrics: &Metrics) -> &AppMetrics {
        self.metrics.get_or_init(|| metrics.for_app(&self.name))
    }

    /// Whether metric series were created for this app.
    pub(crate) fn has_metrics(&self) -> bool {
        self.metrics.get().is_some()
    }

    /// Takes one of `limit` concurrent-request slots (0 = unlimited); None when all are taken.
    pub(crate) fn try_acquire(self: &Arc<Self>, limit: u32) -> Option<Permit> {
        let before = self.inflight.fetch_add(1, Ordering::AcqRel);
        if limit != 0 && before >= limit {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Permit(self.clone()))
    }

    /// Requests in flight.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }
}

/// One of an app's concurrent-request slots; released on drop.
#[derive(Debug)]
pub struct Permit(Arc<App>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a change comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The routes file.
    File,
    /// The admin API.
    Admin,
    /// The control plane's route stream.
    Control,
    /// The Kubernetes API (Ingresses, Services, EndpointSlices).
    Kubernetes,
}

impl Source {
    /// Lower-case name, as shown in `GET /v1/routes` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Admin => "admin",
            Source::Control => "control",
            Source::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string-keyed map split into 256 shards, each behind its own `Arc`, so a copy of the
/// map costs 256 pointer copies and a write copies only the shard it touches.
#[derive(Debug, Clone)]
pub(crate) struct ShardMap<V> {
    shards: Box<[Arc<Shard<V>>]>,
    len: usize,
}

type Shard<V> = HashTable<(Box<str>, V)>;

fn hash(key: &str) -> u64 {
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    use std::hash::BuildHasher;
    STATE.get_or_init(foldhash::fast::RandomState::default).hash_one(key)
}

/// The shard of a hash: bits above the ones hashbrown uses for buckets and tags stay
/// varied within a shard.
fn shard_of(hash: u64) -> usize {
    ((hash >> 32) as usize) & (SHARDS - 1)
}

impl<V: Clone> ShardMap<V> {
    pub(crate) fn new() -> Self {
        ShardMap { shards: (0..SHARDS).map(|_| Arc::new(HashTable::new())).collect(), len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// O(1).
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        let h = hash(key);
        self.shards[shard_of(h)].find(h, |(k, _)| &**k == key).map(|(_, v)| v)
    }

    /// O(n/256) when the shard is shared with a published snapshot (it is copied), O(1)
    /// when this batch already copied it.
    pub(crate) fn insert(&mut self, key: &str, value: V) -> Option<V> {
        let h = hash(key);
        let shard = Arc::make_mut(&mut self.shards[shard_of(h)]);
        match shard.entry(h, |(k, _)| &**k == key, |(k, _)| hash(k)) {
            hashbrown::hash_table::Entry::Occupied(mut e) => Some(std::mem::replace(&mut e.get_mut().1, value)),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((key.into(), value));
                self.len += 1;
                None
            }
        }
    }

    /// Same cost as `insert`.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let h = hash(key);
        let slot = &mut self.shards[shard_of(h)];
        slot.find(h, |(k, _)| &**k == key)?;
        let shard = Arc::make_mut(slot);
        let (entry, _) = shard.find_entry(h, |(k, _)| &**k == key).ok()?.remove();
        self.len -= 1;
        Some(entry.1)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|s| s.iter().map(|(_, v)| v))
    }
}

#[cfg(test)]
mod tests;
