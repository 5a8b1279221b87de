//! The single writer of the route table.
//!
//! Every source (routes file, admin API, later the control plane and Kubernetes) sends its
//! changes to one task through [`RouteWriter`]. The task takes whatever changes are queued
//! (up to 512), applies them in order to a copy-on-write copy of the table, publishes one
//! new snapshot, and only then answers each sender, so a `PUT` that returned is already
//! being served.
//!
//! Ownership: each app belongs to the source that last wrote it (`AppState::source`). A source's "replace all"
//! replaces exactly the apps that source owns (and takes over any it names), so a routes
//! file and the admin API can be used side by side without erasing each other.
//!
//! Costs (n apps in the table, e endpoints of the app, S = 256 shards):
//! - endpoints or options of an existing app: O(e), in place; no shard is copied;
//! - a new or removed app, or changed hosts: O(n/S) per touched shard;
//! - changed path rules: the same, plus O(rules of each host they touch);
//! - publishing a batch: O(S) pointer copies;
//! - replace all for one source: O(n) (it walks the table for that source's apps) plus
//!   the above per app.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::spec::{AppRoutes, Balance, EndpointAddr, MAX_VERSION, PathMatch, PathRoute, SpecError};
use crate::table::routes::{App, AppState, HostRoute, PathRoutes, PathRule, RouteTable, Routes, Source, host_key};
use crate::upstream::endpoint::Endpoint;

/// One change to the routes.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create or replace one app.
    Upsert(AppRoutes),
    /// Remove one app.
    Remove(String),
    /// Several changes from one source applied in order and published together (a
    /// source that batches a burst). Each is applied or refused on its own; the result is
    /// the first refusal, if any.
    Batch(Vec<Change>),
    /// Replace every app the source owns with `apps`.
    Replace {
        /// The version the table takes: newer than the table's and at most
        /// [`MAX_VERSION`]. The table's own version is accepted only for a re-send that
        /// changes nothing (a no-op). None: the table's version plus one.
        version: Option<u64>,
        /// The new set.
        apps: Vec<AppRoutes>,
    },
}

/// Why a change was refused. Nothing of a refused change is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] SpecError),
    /// The change carries a version that is not newer than the table's (an equal one is
    /// accepted only when the change would change nothing).
    #[error("version {given} is not newer than the current version {current}")]
    Stale {
        /// Version carried by the change.
        given: u64,
        /// Version of the table.
        current: u64,
    },
    /// No such app.
    #[error("no app named {0:?}")]
    NotFound(String),
    /// The table's version cannot go any higher (u64 would wrap).
    #[error("the route table is at its highest version, {0}; restart the router to start again from 0")]
    VersionExhausted(u64),
    /// The writer has stopped (the router is shutting down).
    #[error("the router is shutting down")]
    Closed,
}

/// Settings the writer needs to build endpoints and apply defaults.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    pub(crate) workers: usize,
    pub(crate) max_idle: usize,
    pub(crate) balance: Balance,
    pub(crate) max_concurrent: u32,
    pub(crate) response_timeout: std::time::Duration,
}

#[cfg(test)]
impl Defaults {
    /// What the unit tests of the table's writers use: one worker, least outstanding.
    pub(crate) fn for_tests() -> Defaults {
        Defaults {
            workers: 1,
            max_idle: 4,
            balance: Balance::LeastOutstanding,
            max_concurrent: 10,
            response_timeout: std::time::Duration::from_secs(5),
        }
    }
}

type Reply = oneshot::Sender<Result<u64, UpdateError>>;

/// Sends changes to the writer task.
#[derive(Debug, Clone)]
pub struct RouteWriter {
    tx: mpsc::Sender<(Source, Change, Reply)>,
}

impl RouteWriter {
    /// Applies `change` from `source`; returns the table version that serves it.
    pub async fn apply(&self, source: Source, change: Change) -> Result<u64, UpdateError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((source, change, reply)).await.map_err(|_| UpdateError::Closed)?;
        answer.await.map_err(|_| UpdateError::Closed)?
    }
}

/// Starts the writer task on the current runtime.
pub(crate) fn spawn_writer(routes: Arc<Routes>, metrics: Arc<Metrics>, defaults: Defaults) -> RouteWriter {
    let (tx, rx) = mpsc::channel(1024);
    let writer = Writer { routes, metrics, defaults, endpoints: 0, paths: HashMap::new() };
    tokio::spawn(writer.run(rx));
    RouteWriter { tx }
}

/// Upper bound of changes in one published batch.
const MAX_BATCH: usize = 512;

struct Writer {
    routes: Arc<Routes>,
    metrics: Arc<Metrics>,
    defaults: Defaults,
    /// Endpoints in the table (kept incrementally so publishing stays O(S)).
    endpoints: usize,
    /// Path rules by host key (`table/routes.rs`'s `host_key`), each host's in lookup
    /// order: what the table's `HostRoute::Paths` entries are built from.
    paths: HashMap<Box<str>, Vec<PathRule>>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<(Source, Change, Reply)>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let mut table = RouteTable::clone(&self.routes.snapshot());
            let mut results = Vec::with_capacity(batch.len());
            let mut changed = false;
            for (source, change, _) in batch.iter_mut() {
                let change = std::mem::replace(change, Change::Remove(String::new()));
                let result = match change {
                    Change::Batch(changes) => {
                        let mut first = Ok(());
                        for change in changes {
                            let result = self.apply_counted(&mut table, *source, change);
                            changed |= result.is_ok();
                            if first.is_ok() {
                                first = result;
                            }
                        }
                        first
                    }
                    change => {
                        let result = self.apply_counted(&mut table, *source, change);
                        changed |= result.is_ok();
                        result
                    }
                };
                results.push(result);
            }
            let version = table.version;
            if changed {
                self.metrics.table_version.set(version as i64);
                self.metrics.table_apps.set(table.len() as i64);
                self.metrics.table_endpoints.set(self.endpoints as i64);
                self.routes.publish(table);
            }
            for ((_, _, reply), result) in batch.drain(..).zip(results) {
                let _ = reply.send(result.map(|()| version));
            }
        }
    }

    /// [`Writer::apply`], counted in `slipway_router_route_updates_total`.
    fn apply_counted(&mut self, table: &mut RouteTable, source: Source, change: Change) -> Result<(), UpdateError> {
        let result = self.apply(table, source, change);
        let label = if result.is_ok() { "ok" } else { "refused" };
        self.metrics.route_updates.with_label_values(&[source.as_str(), label]).inc();
        result
    }

    /// Applies one change to `table`, raising its version; on error `table` is unchanged.
    fn apply(&mut self, table: &mut RouteTable, source: Source, change: Change) -> Result<(), UpdateError> {
        match change {
            // Nested batches are flattened by the caller; one here is applied in order.
            Change::Batch(changes) => {
                for change in changes {
                    self.apply(table, source, change)?;
                }
            }
            Change::Upsert(spec) => {
                let endpoints = spec.validate()?;
                self.check_hosts(table, &spec, &|_| false)?;
                let next = next_version(table)?;
                self.put_app(table, spec, endpoints, source);
                table.version = next;
            }
            Change::Remove(name) => {
                if table.app(&name).is_none() {
                    return Err(UpdateError::NotFound(name));
                }
                let next = next_version(table)?;
                self.remove_app(table, &name);
                table.version = next;
            }
            Change::Replace { version, apps } => {
                if let Some(given) = version {
                    if given > MAX_VERSION {
                        let problem =
                            format!("{given} is above the highest version a replace may carry, {MAX_VERSION}");
                        return Err(SpecError::new("version", problem).into());
                    }
                    if given < table.version {
                        return Err(UpdateError::Stale { given, current: table.version });
                    }
                }
                let mut names = HashSet::with_capacity(apps.len());
                let mut parsed = Vec::with_capacity(apps.len());
                for (i, spec) in apps.iter().enumerate() {
                    let within = |e: SpecError| e.within(&format!("apps[{i}]"));
                    parsed.push(spec.validate().map_err(within)?);
                    if !names.insert(spec.name.as_str()) {
                        return Err(within(SpecError::new("name", format!("{:?} is listed twice", spec.name))).into());
                    }
                }
                // The current version again: a re-send of what is served is a no-op; anything
                // else would change the table without a new version.
                if version == Some(table.version) {
                    if owns_exactly(table, source, &apps) {
                        return Ok(());
                    }
                    return Err(UpdateError::Stale { given: table.version, current: table.version });
                }
                let next = match version {
                    Some(given) => given,
                    None => next_version(table)?,
                };
                // Hosts: unique within the set, and not held by an app that stays.
                let replaced = |app: &App| names.contains(&*app.name) || app.state().source == source;
                let mut seen: HashMap<&str, &str> = HashMap::new();
                let mut seen_paths: HashMap<(&str, String, PathMatch), &str> = HashMap::new();
                for (i, spec) in apps.iter().enumerate() {
                    for (j, rule) in spec.paths.iter().enumerate() {
                        if let Some(other) = seen_paths.insert(rule_key(rule), &spec.name) {
                            let e = SpecError::new(
                                format!("apps[{i}].paths[{j}]"),
                                format!("{} {:?} is also listed for app {other:?}", rule.host, rule.path),
                            );
                            return Err(e.into());
                        }
                    }
                    self.check_hosts(table, spec, &replaced).map_err(|e| e.within(&format!("apps[{i}]")))?;
                    for (j, host) in spec.hosts.iter().enumerate() {
                        if let Some(other) = seen.insert(host, &spec.name) {
                            let e = SpecError::new(
                                format!("apps[{i}].hosts[{j}]"),
                                format!("{host:?} is also listed for app {other:?}"),
                            );
                            return Err(e.into());
                        }
                    }
                }
                let dropped: Vec<Box<str>> = table
                    .apps()
                    .filter(|app| app.state().source == source && !names.contains(&*app.name))
                    .map(|app| app.name.clone())
                    .collect();
                for name in dropped {
                    self.remove_app(table, &name);
                }
                for (spec, endpoints) in apps.into_iter().zip(parsed) {
                    self.put_app(table, spec, endpoints, source);
                }
                table.version = next;
            }
        }
        Ok(())
    }

    /// Refuses hosts that are another app's `<name>.<zone>` or that another app holds
    /// (unless `replaced` says that app is being rewritten in the same change).
    fn check_hosts(
        &self,
        table: &RouteTable,
        spec: &AppRoutes,
        replaced: &dyn Fn(&App) -> bool,
    ) -> Result<(), SpecError> {
        for (i, host) in spec.hosts.iter().enumerate() {
            if let Some(label) = self.routes.app_label(host)
                && label != spec.name
            {
                return Err(SpecError::new(
                    format!("hosts[{i}]"),
                    format!("{host:?} is the zone address of app {label:?}; only that app can use it"),
                ));
            }
            if let Some(holder) = self.whole_of(table, host)
                && *holder.name != *spec.name
                && !replaced(&holder)
            {
                return Err(SpecError::new(
                    format!("hosts[{i}]"),
                    format!("{host:?} already routes to app {:?}", holder.name),
                ));
            }
        }
        for (i, rule) in spec.paths.iter().enumerate() {
            if let Some(label) = self.routes.app_label(&rule.host)
                && label != spec.name
            {
                return Err(SpecError::new(
                    format!("paths[{i}].host"),
                    format!("{:?} is the zone address of app {label:?}; only that app can use it", rule.host),
                ));
            }
            let (key, path, kind) = rule_key(rule);
            let taken = self.paths.get(key).and_then(|rules| {
                rules
                    .iter()
                    .find(|r| *r.path == *path && r.kind == kind && *r.app.name != *spec.name && !replaced(&r.app))
            });
            if let Some(taken) = taken {
                return Err(SpecError::new(
                    format!("paths[{i}]"),
                    format!("{} {:?} already routes to app {:?}", rule.host, rule.path, taken.app.name),
                ));
            }
        }
        Ok(())
    }

    /// The app holding the whole host `key` (a custom domain), if any. A host whose only
    /// rule is the prefix `/` is stored as a whole-host route too, but holds no custom
    /// domain: its key has path rules.
    fn whole_of(&self, table: &RouteTable, key: &str) -> Option<Arc<App>> {
        match table.hosts.get(key)? {
            HostRoute::App(app) if !self.paths.contains_key(key) => Some(app.clone()),
            HostRoute::App(_) => None,
            route @ HostRoute::Paths(_) => route.whole().cloned(),
        }
    }

    /// Rebuilds the `hosts` entry of `key` from `whole` and the key's path rules.
    /// O(n/S) for the shard, O(rules of the host).
    fn set_host(&self, table: &mut RouteTable, key: &str, whole: Option<Arc<App>>) {
        let rules = self.paths.get(key).map(Vec::as_slice).filter(|rules| !rules.is_empty());
        let entry = match (whole, rules) {
            (None, None) => None,
            (Some(app), None) => Some(HostRoute::App(app)),
            // A lone prefix `/`: every path goes to one app, at the cost of a host-only route.
            (None, Some([only])) if only.kind == PathMatch::Prefix && only.path.is_empty() => {
                Some(HostRoute::App(only.app.clone()))
            }
            (whole, Some(rules)) => Some(HostRoute::Paths(Arc::new(PathRoutes { rules: rules.into(), whole }))),
        };
        let before = table.hosts.get(key).is_some();
        match entry {
            Some(entry) => {
                table.hosts.insert(key, entry);
            }
            None => {
                table.hosts.remove(key);
            }
        }
        if key.starts_with('.') {
            let after = table.hosts.get(key).is_some();
            table.wildcards = table.wildcards + usize::from(after) - usize::from(before);
        }
    }

    /// Replaces `app`'s path rules `old` with `new` and rebuilds the hosts they touch.
    fn set_paths(&mut self, table: &mut RouteTable, app: &Arc<App>, old: &[PathRoute], new: &[PathRoute]) {
        let mut keys: Vec<&str> = old.iter().chain(new).map(|rule| host_key(&rule.host)).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            // Before the rules change: `whole_of` tells a lone `/` rule from a custom domain by them.
            let whole = self.whole_of(table, key);
            let rules = self.paths.entry(key.into()).or_default();
            rules.retain(|rule| !Arc::ptr_eq(&rule.app, app));
            for rule in new.iter().filter(|rule| host_key(&rule.host) == key) {
                let (_, path, kind) = rule_key(rule);
                rules.push(PathRule { path: path.into(), kind, app: app.clone() });
            }
            rules.sort_by_key(PathRule::order);
            if rules.is_empty() {
                self.paths.remove(key);
            }
            self.set_host(table, key, whole);
        }
    }

    /// Creates the app or updates it in place (keeping its endpoints that stay).
    fn put_app(&mut self, table: &mut RouteTable, spec: AppRoutes, addrs: Vec<EndpointAddr>, source: Source) {
        match table.app(&spec.name).cloned() {
            Some(app) => {
                let old = app.state();
                for host in old.spec.hosts.iter().filter(|h| !spec.hosts.contains(h)) {
                    if self.whole_of(table, host).is_some_and(|holder| Arc::ptr_eq(&holder, &app)) {
                        self.set_host(table, host, None);
                    }
                }
                for host in spec.hosts.iter().filter(|h| !old.spec.hosts.contains(h)) {
                    self.set_host(table, host, Some(app.clone()));
                }
                if old.spec.paths != spec.paths {
                    self.set_paths(table, &app, &old.spec.paths, &spec.paths);
                }
                let state = self.state_for(spec, addrs, &old.endpoints, source);
                self.endpoints = self.endpoints + state.endpoints.len() - old.endpoints.len();
                app.set_state(state);
            }
            None => {
                let name = spec.name.clone();
                let hosts = spec.hosts.clone();
                let paths = spec.paths.clone();
                let state = self.state_for(spec, addrs, &[], source);
                self.endpoints += state.endpoints.len();
                let app = App::new(&name, state);
                for host in &hosts {
                    self.set_host(table, host, Some(app.clone()));
                }
                self.set_paths(table, &app, &[], &paths);
                table.apps.insert(&name, app);
            }
        }
    }

    fn remove_app(&mut self, table: &mut RouteTable, name: &str) {
        let Some(app) = table.apps.remove(name) else { return };
        // Requests held for it (a sleeping app) get the 404 page now, not at their timeout.
        app.mark_removed();
        let state = app.state();
        for host in &state.spec.hosts {
            if self.whole_of(table, host).is_some_and(|holder| Arc::ptr_eq(&holder, &app)) {
                self.set_host(table, host, None);
            }
        }
        self.set_paths(table, &app, &state.spec.paths, &[]);
        self.endpoints -= state.endpoints.len();
        if app.has_metrics() {
            self.metrics.remove_app(name);
        }
    }

    /// Builds an app state, reusing the `Arc<Endpoint>` of every address that stays.
    fn state_for(&self, spec: AppRoutes, addrs: Vec<EndpointAddr>, old: &[Arc<Endpoint>], source: Source) -> AppState {
        let by_addr: HashMap<&EndpointAddr, &Arc<Endpoint>> = old.iter().map(|e| (&e.addr, e)).collect();
        let d = &self.defaults;
        // `addrs` is parsed from `spec.endpoints`, in the same order.
        let endpoints = addrs
            .into_iter()
            .zip(&spec.endpoints)
            .map(|(addr, text)| {
                let dyno = spec.dynos.get(text).map(String::as_str);
                match by_addr.get(&addr) {
                    // Same address, same dyno: keep its counters, health and pool.
                    Some(existing) if existing.dyno.as_deref() == dyno => Arc::clone(existing),
                    _ => Endpoint::new(addr, dyno, d.workers, d.max_idle),
                }
            })
            .collect();
        AppState {
            endpoints,
            balance: spec.options.balance.unwrap_or(d.balance),
            max_concurrent: spec.options.max_concurrent_requests.unwrap_or(d.max_concurrent),
            response_timeout: spec.options.response_timeout.unwrap_or(d.response_timeout),
            source,
            spec,
        }
    }
}

/// A path rule as the table compares rules: host key, path (a prefix without its
/// trailing `/`), match.
fn rule_key(rule: &PathRoute) -> (&str, String, PathMatch) {
    let path = match rule.kind {
        PathMatch::Prefix => rule.path.trim_end_matches('/').to_owned(),
        PathMatch::Exact => rule.path.clone(),
    };
    (host_key(&rule.host), path, rule.kind)
}

/// The version after one more change; an error rather than a wrap (or a panic).
fn next_version(table: &RouteTable) -> Result<u64, UpdateError> {
    table.version.checked_add(1).ok_or(UpdateError::VersionExhausted(table.version))
}

/// Whether `source` owns exactly `apps` (names unique), each as given: replacing them
/// would change nothing. O(n).
fn owns_exactly(table: &RouteTable, source: Source, apps: &[AppRoutes]) -> bool {
    let owned = table.apps().filter(|app| app.state().source == source).count();
    owned == apps.len()
        && apps.iter().all(|spec| {
            table.app(&spec.name).is_some_and(|app| {
                let state = app.state();
                state.source == source && state.spec == *spec
            })
        })
}

#[cfg(test)]
mod tests;
