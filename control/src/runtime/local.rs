//! The local runtime: a supervisor that runs each dyno of an app's formation as a process
//! on this machine.
//!
//! Each dyno has a supervisor task: it picks a free `PORT`, starts the process (env =
//! inherited basics + config vars + `PORT`, `DYNO`; working directory = the release's
//! slug), and for `web` dynos probes the port until it accepts TCP connections, then marks
//! the dyno up and republishes the app's endpoints. When the process exits by itself, the
//! dyno is crashed: its endpoint goes, and it is restarted after an exponential backoff
//! (reset once a run lasted `stable_after`). Stopping sends SIGTERM to its process group,
//! then SIGKILL after `stop_grace`. Every step is also a log line (source `slipway`).
//!
//! An app's *active* dynos are the ones its routes point at (when up, for `web`). A
//! release switch or a restart starts replacements outside the active set, waits for the
//! web ones to accept connections, swaps them in, republishes the endpoints, and only
//! then retires the old ones (after `drain_delay`, so routers following the stream have
//! moved on and in-flight requests finish).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ledger::Ledger;
use super::process;
use super::{AppPlan, ReleasePlan, RestartTarget, Runtime, RuntimeError};
use crate::clock;
use crate::config::RuntimeConfig;
use crate::logs::LogSink;
use crate::model;
use crate::routes::RouteHub;

/// The process type that receives HTTP traffic.
const WEB: &str = "web";

/// Runs dynos as local processes; see the module docs.
#[derive(Debug, Clone)]
pub struct LocalRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RuntimeConfig,
    logs: LogSink,
    routes: Arc<RouteHub>,
    /// The variables of control's own environment passed on (`runtime.inherit_env`).
    inherited: BTreeMap<String, String>,
    apps: Mutex<HashMap<String, AppState>>,
    /// Ports handed to dynos that have not exited yet.
    ports: Mutex<HashSet<u16>>,
    /// Old dynos being drained and stopped in the background.
    retiring: TaskTracker,
    /// The process groups started and not yet seen stopped (found after a crash of control).
    ledger: Ledger,
}

#[derive(Debug, Default)]
struct AppState {
    release: Option<Arc<ReleasePlan>>,
    /// The active dynos.
    dynos: Vec<Arc<Dyno>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Up,
    Crashed,
    Stopping,
    Stopped,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Up => "up",
            Phase::Crashed => "crashed",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone)]
struct Status {
    phase: Phase,
    port: Option<u16>,
    since: i64,
    restarts: u32,
    ever_up: bool,
    last_exit: Option<String>,
}

#[derive(Debug)]
struct Dyno {
    app: String,
    /// `<type>.<index>`, for display and `DYNO`.
    name: String,
    process_type: String,
    /// The number of the dyno among its type's, from 1.
    index: u32,
    release: Arc<ReleasePlan>,
    command: String,
    status: watch::Sender<Status>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Dyno {
    fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    fn set(&self, phase: Phase, port: Option<u16>, restarts: u32, last_exit: Option<String>) {
        self.status.send_modify(|s| {
            s.ever_up |= phase == Phase::Up;
            s.phase = phase;
            s.port = port;
            s.since = clock::now_ms();
            s.restarts = restarts;
            if last_exit.is_some() {
                s.last_exit = last_exit;
            }
        });
    }

    fn is_web(&self) -> bool {
        self.process_type == WEB
    }

    /// Stops the process (SIGTERM, then SIGKILL) and waits for the supervisor to end.
    async fn stop_and_wait(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    fn model(&self) -> model::Dyno {
        let status = self.status();
        model::Dyno {
            name: self.name.clone(),
            process_type: self.process_type.clone(),
            state: status.phase.as_str().to_owned(),
            release: self.release.version,
            command: self.command.clone(),
            port: status.port,
            since: clock::rfc3339(status.since),
            restarts: status.restarts,
        }
    }
}

/// How one run of a process ended.
enum Outcome {
    /// Stopped on request.
    Stopped(String),
    /// Exited (or could not start) by itself.
    Crashed(String),
}

impl LocalRuntime {
    /// A runtime publishing endpoints to `routes` and output to `logs`, recording the
    /// processes it starts in `ledger`.
    pub fn new(config: RuntimeConfig, logs: LogSink, routes: Arc<RouteHub>, ledger: Ledger) -> LocalRuntime {
        let inherited = config
            .inherit_env
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value)))
            .collect();
        LocalRuntime {
            inner: Arc::new(Inner {
                config,
                logs,
                routes,
                inherited,
                apps: Mutex::default(),
                ports: Mutex::default(),
                retiring: TaskTracker::new(),
                ledger,
            }),
        }
    }
}

impl Inner {
    fn apps(&self) -> std::sync::MutexGuard<'_, HashMap<String, AppState>> {
        // Critical sections are plain map and vector edits; a poisoned lock holds
        // consistent data.
        self.apps.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Points the app's routes at its active, up web dynos. O(dynos of the app).
    fn refresh(&self, app: &str) {
        let endpoints: Vec<String> = {
            let apps = self.apps();
            let Some(state) = apps.get(app) else { return };
            state
                .dynos
                .iter()
                .filter(|d| d.is_web())
                .filter_map(|d| {
                    let s = d.status();
                    (s.phase == Phase::Up).then_some(s.port).flatten()
                })
                .map(|port| format!("127.0.0.1:{port}"))
                .collect()
        };
        self.routes.set_endpoints(app, endpoints);
    }

    /// A free loopback port not handed to another live dyno.
    fn alloc_port(&self) -> Option<u16> {
        for _ in 0..32 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).ok()?.port();
            let mut ports = self.ports.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if ports.insert(port) {
                return Some(port);
            }
        }
        None
    }

    fn free_port(&self, port: u16) {
        self.ports.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&port);
    }

    /// Creates and starts a dyno (not yet active).
    fn start_dyno(
        self: &Arc<Self>,
        app: &str,
        release: &Arc<ReleasePlan>,
        process_type: &str,
        index: u32,
    ) -> Arc<Dyno> {
        let command = release.process_types.get(process_type).cloned().unwrap_or_default();
        let dyno = Arc::new(Dyno {
            app: app.to_owned(),
            name: format!("{process_type}.{index}"),
            process_type: process_type.to_owned(),
            index,
            release: release.clone(),
            command,
            status: watch::Sender::new(Status {
                phase: Phase::Starting,
                port: None,
                since: clock::now_ms(),
                restarts: 0,
                ever_up: false,
                last_exit: None,
            }),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(supervise(self.clone(), dyno.clone()));
        *dyno.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        dyno
    }

    /// Stops `old` dynos in the background: after the drain delay when web dynos are
    /// among them (routers are still switching away from them), at once otherwise.
    fn retire(&self, old: Vec<Arc<Dyno>>) {
        if old.is_empty() {
            return;
        }
        let delay = if old.iter().any(|d| d.is_web()) { self.config.drain_delay } else { Duration::ZERO };
        self.retiring.spawn(async move {
            tokio::time::sleep(delay).await;
            join_all(old.iter().map(|d| d.stop_and_wait())).await;
        });
    }

    /// Starts `new` dynos of `release` (type, index) replacing `old` ones; see the module
    /// docs. On failure the new ones are stopped and nothing changes.
    async fn replace(
        self: &Arc<Self>,
        app: &str,
        release: Arc<ReleasePlan>,
        new: Vec<(String, u32)>,
        old: Vec<Arc<Dyno>>,
    ) -> Result<(), RuntimeError> {
        let started: Vec<Arc<Dyno>> = new.iter().map(|(t, i)| self.start_dyno(app, &release, t, *i)).collect();
        let deadline = Instant::now() + self.config.boot_timeout;
        let boots = started.iter().filter(|d| d.is_web()).map(|d| wait_booted(d, deadline, self.config.boot_timeout));
        let failure = join_all(boots).await.into_iter().find_map(Result::err);
        if let Some(reason) = failure {
            join_all(started.iter().map(|d| d.stop_and_wait())).await;
            return Err(RuntimeError::BootFailed { version: release.version, reason });
        }
        self.swap_in(app, started, old, Some(release));
        Ok(())
    }

    /// Makes `started` active in place of `old` (and `release` the app's, if given),
    /// points the routes at them, and retires `old`.
    fn swap_in(&self, app: &str, started: Vec<Arc<Dyno>>, old: Vec<Arc<Dyno>>, release: Option<Arc<ReleasePlan>>) {
        {
            let mut apps = self.apps();
            let state = apps.entry(app.to_owned()).or_default();
            state.dynos.retain(|d| !old.iter().any(|o| Arc::ptr_eq(d, o)));
            state.dynos.extend(started);
            state.dynos.sort_by(|a, b| dyno_order(a, b));
            if let Some(release) = release {
                state.release = Some(release);
            }
        }
        self.refresh(app);
        self.retire(old);
    }
}

fn dyno_order(a: &Dyno, b: &Dyno) -> std::cmp::Ordering {
    (a.process_type.as_str(), a.index).cmp(&(b.process_type.as_str(), b.index))
}

/// Waits until a web dyno accepts connections; the reason if it crashes first or the
/// deadline passes.
async fn wait_booted(dyno: &Dyno, deadline: Instant, limit: Duration) -> Result<(), String> {
    let mut rx = dyno.status.subscribe();
    let settled = tokio::time::timeout_at(
        deadline,
        rx.wait_for(|s| s.phase == Phase::Up || (s.phase == Phase::Crashed && !s.ever_up)),
    )
    .await;
    match settled {
        Ok(Ok(status)) if status.phase == Phase::Up => Ok(()),
        Ok(Ok(status)) => Err(format!(
            "{} {} before accepting connections on $PORT",
            dyno.name,
            status.last_exit.as_deref().unwrap_or("exited")
        )),
        Ok(Err(_)) => Err(format!("{} was stopped while starting", dyno.name)),
        Err(_) => Err(format!("{} did not accept connections on $PORT within {}", dyno.name, clock::human(limit))),
    }
}

/// The (type, index) pairs a formation asks for, for the types the release declares.
fn wanted(release: &ReleasePlan, formation: &BTreeMap<String, u32>) -> Vec<(String, u32)> {
    formation
        .iter()
        .filter(|(t, _)| release.process_types.contains_key(*t))
        .flat_map(|(t, n)| (1..=*n).map(move |i| (t.clone(), i)))
        .collect()
}

/// The supervisor of one dyno: runs, restarts and stops its process; see the module docs.
async fn supervise(inner: Arc<Inner>, dyno: Arc<Dyno>) {
    let config = &inner.config;
    let mut backoff = config.restart_backoff;
    let mut restarts = 0u32;
    loop {
        let port = inner.alloc_port();
        let mut env = inner.inherited.clone();
        env.extend(dyno.release.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(port) = port {
            env.insert("PORT".into(), port.to_string());
        }
        env.insert("DYNO".into(), dyno.name.clone());
        env.insert("SLIPWAY_APP".into(), dyno.app.clone());
        env.insert("SLIPWAY_RELEASE".into(), format!("v{}", dyno.release.version));
        dyno.set(Phase::Starting, port, restarts, None);
        inner.logs.event(&dyno.app, &dyno.name, format!("Starting process with command `{}`", dyno.command));
        let started = Instant::now();
        let outcome = match process::spawn(
            &config.shell,
            &dyno.command,
            &dyno.release.slug_dir,
            &env,
            &inner.logs,
            &dyno.app,
            &dyno.name,
        ) {
            Ok(mut child) => {
                let group = child.id();
                if let Some(group) = group {
                    inner.ledger.record(group);
                }
                let outcome = run(&inner, &dyno, &mut child, port).await;
                // `run` returns once the leader exited and the rest of its group was killed.
                if let Some(group) = group {
                    inner.ledger.forget(group);
                }
                outcome
            }
            Err(e) => Outcome::Crashed(format!("could not be started ({e})")),
        };
        if let Some(port) = port {
            inner.free_port(port);
        }
        let was = dyno.status().phase;
        match outcome {
            Outcome::Stopped(how) => {
                dyno.set(Phase::Stopped, None, restarts, Some(how.clone()));
                inner.logs.event(&dyno.app, &dyno.name, format!("Stopped (the process {how})"));
                return;
            }
            Outcome::Crashed(how) => {
                if started.elapsed() >= config.stable_after {
                    backoff = config.restart_backoff;
                }
                dyno.set(Phase::Crashed, None, restarts, Some(how.clone()));
                inner.refresh(&dyno.app);
                inner.logs.event(&dyno.app, &dyno.name, format!("Process {how}"));
                inner.logs.event(
                    &dyno.app,
                    &dyno.name,
                    format!("State changed from {} to crashed; restarting in {}", was.as_str(), human_short(backoff)),
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = dyno.stop.cancelled() => {
                        dyno.set(Phase::Stopped, None, restarts, None);
                        return;
                    }
                }
                restarts += 1;
                backoff = (backoff * 2).min(config.restart_backoff_max);
                inner.logs.event(&dyno.app, &dyno.name, format!("Restarting (restart {restarts})"));
            }
        }
    }
}

/// Waits for the process to exit or to be asked to stop; marks a web dyno up once its
/// port accepts connections (other types at once).
async fn run(inner: &Arc<Inner>, dyno: &Arc<Dyno>, child: &mut Child, port: Option<u16>) -> Outcome {
    let pgid = child.id();
    let restarts = dyno.status().restarts;
    let mut booting = true;
    let probe = probe(port);
    let mut probe = std::pin::pin!(probe);
    if !dyno.is_web() || port.is_none() {
        booting = false;
        dyno.set(Phase::Up, port, restarts, None);
        inner.logs.event(&dyno.app, &dyno.name, "State changed from starting to up".into());
    }
    loop {
        tokio::select! {
            status = child.wait() => {
                // Anything the leader left in its group would hold files or ports.
                if let Some(pgid) = pgid {
                    process::kill_group(pgid);
                }
                let how = match status {
                    Ok(status) => process::describe(status),
                    Err(e) => format!("could not be waited for ({e})"),
                };
                return Outcome::Crashed(how);
            }
            () = &mut probe, if booting => {
                booting = false;
                dyno.set(Phase::Up, port, restarts, None);
                inner.refresh(&dyno.app);
                inner.logs.event(&dyno.app, &dyno.name, format!("State changed from starting to up (port {})", port.unwrap_or(0)));
            }
            () = dyno.stop.cancelled() => {
                dyno.set(Phase::Stopping, port, restarts, None);
                inner.refresh(&dyno.app);
                inner.logs.event(&dyno.app, &dyno.name, "Stopping process with SIGTERM".into());
                let how = match process::terminate(child, inner.config.stop_grace).await {
                    Ok(status) => process::describe(status),
                    Err(e) => format!("could not be waited for ({e})"),
                };
                return Outcome::Stopped(how);
            }
        }
    }
}

/// Resolves once something accepts TCP connections on `127.0.0.1:port`. Polling is the
/// only way to see it from outside the process: every 20 ms at first, backing off to
/// 200 ms.
async fn probe(port: Option<u16>) {
    let Some(port) = port else { return std::future::pending().await };
    let mut every = Duration::from_millis(20);
    loop {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            return;
        }
        tokio::time::sleep(every).await;
        every = (every * 3 / 2).min(Duration::from_millis(200));
    }
}

/// `250ms`, `2s`, `1m 4s`.
fn human_short(d: Duration) -> String {
    if d < Duration::from_secs(1) { format!("{}ms", d.as_millis()) } else { clock::human(d) }
}

impl Runtime for LocalRuntime {
    fn apply(&self, plan: AppPlan) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let app = plan.app.as_str();
            let release = Arc::new(plan.release);
            let wanted = wanted(&release, &plan.formation);
            let (same, active) = {
                let apps = inner.apps();
                match apps.get(app) {
                    Some(state) => (state.release.as_deref() == Some(&*release), state.dynos.clone()),
                    None => (false, Vec::new()),
                }
            };
            if !same {
                if release.process_types.is_empty() && active.is_empty() {
                    // A release without code: nothing to run yet.
                    inner.apps().entry(app.to_owned()).or_default().release = Some(release);
                    return Ok(());
                }
                inner.logs.event(app, "", format!("Starting release v{}", release.version));
                return inner.replace(app, release, wanted, active).await;
            }
            // Same release: scale.
            let have: HashSet<(&str, u32)> = active.iter().map(|d| (d.process_type.as_str(), d.index)).collect();
            let want: HashSet<(&str, u32)> = wanted.iter().map(|(t, i)| (t.as_str(), *i)).collect();
            let extra: Vec<Arc<Dyno>> =
                active.iter().filter(|d| !want.contains(&(d.process_type.as_str(), d.index))).cloned().collect();
            let missing: Vec<&(String, u32)> =
                wanted.iter().filter(|(t, i)| !have.contains(&(t.as_str(), *i))).collect();
            if extra.is_empty() && missing.is_empty() {
                return Ok(());
            }
            let started: Vec<Arc<Dyno>> = missing.iter().map(|(t, i)| inner.start_dyno(app, &release, t, *i)).collect();
            inner.swap_in(app, started, extra, None);
            Ok(())
        })
    }

    fn restart<'a>(&'a self, app: &'a str, target: RestartTarget) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let (release, old) = {
                let apps = inner.apps();
                let Some(state) = apps.get(app) else {
                    return Err(RuntimeError::NothingToRestart(describe_target(&target)));
                };
                let old: Vec<Arc<Dyno>> = state
                    .dynos
                    .iter()
                    .filter(|d| match &target {
                        RestartTarget::All => true,
                        RestartTarget::Type(t) => &d.process_type == t,
                        RestartTarget::Dyno(n) => &d.name == n,
                    })
                    .cloned()
                    .collect();
                (state.release.clone(), old)
            };
            let Some(release) = release.filter(|_| !old.is_empty()) else {
                return Err(RuntimeError::NothingToRestart(describe_target(&target)));
            };
            inner.logs.event(app, "", format!("Restarting {}", describe_target(&target)));
            let new = old.iter().map(|d| (d.process_type.clone(), d.index)).collect();
            inner.replace(app, release, new, old).await
        })
    }

    fn stop<'a>(&'a self, app: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let state = self.inner.apps().remove(app);
            self.inner.routes.set_endpoints(app, Vec::new());
            if let Some(state) = state {
                join_all(state.dynos.iter().map(|d| d.stop_and_wait())).await;
            }
        })
    }

    fn dynos(&self, app: &str) -> Vec<model::Dyno> {
        self.inner.apps().get(app).map(|s| s.dynos.iter().map(|d| d.model()).collect()).unwrap_or_default()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let names: Vec<String> = self.inner.apps().keys().cloned().collect();
            join_all(names.iter().map(|app| self.stop(app))).await;
            self.inner.retiring.close();
            self.inner.retiring.wait().await;
        })
    }
}

fn describe_target(target: &RestartTarget) -> String {
    match target {
        RestartTarget::All => "all processes".to_owned(),
        RestartTarget::Type(t) => format!("{t} processes"),
        RestartTarget::Dyno(d) => d.clone(),
    }
}
