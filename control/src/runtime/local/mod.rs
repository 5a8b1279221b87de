//! The local runtime: a supervisor that runs each dyno of an app's formation as a process
//! on this machine.
//!
//! An app's *active* dynos are the ones its routes point at (when up, for `web`). This
//! file holds the runtime's state (each app's release and active dynos, shared by every
//! task of the runtime) and the [`Runtime`] calls: a new release, a restart and the same
//! release with other counts all go through the release switch (scaling starts only the
//! missing dynos and retires only the extra ones).
//! The parts, each in its own file:
//!
//! - `supervisor.rs`: one dyno, and the task that runs, probes, restarts and stops its
//!   process;
//! - `switch.rs`: the zero-downtime release switch, replacements up before the old dynos go;
//! - `ports.rs`: the loopback ports handed to dynos;
//! - `command.rs`: a command run once with a release's code and config, which
//!   `release_phase.rs` (a release's one-shot commands: the release phase, an app setup's
//!   postdeploy script) and `one_off.rs` (one-off dynos, `slipway run`) both use;
//! - `process.rs`: one OS process (its process group, environment, output pumped to the
//!   logs);
//! - [`ledger`]: the process groups started, on disk, so that a killed control plane stops
//!   them on its next start.

mod command;
pub mod ledger;
mod one_off;
mod ports;
mod process;
mod release_phase;
mod supervisor;
mod switch;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, join_all};
use tokio_util::task::TaskTracker;

use ledger::Ledger;
use ports::Ports;
use release_phase::OneShot;
use supervisor::{Dyno, Phase};

use super::{AppPlan, OneOff, ReleasePlan, RestartTarget, Runtime, RuntimeError, StartedOneOff};
use crate::config::RuntimeConfig;
use crate::logs::LogSink;
use crate::model;
use crate::routes::RouteHub;

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
    /// Each app's one-off dynos (never among its active dynos, so never routed).
    one_offs: Mutex<HashMap<String, one_off::AppOneOffs>>,
    /// Ports handed to dynos that have not exited yet.
    ports: Ports,
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
                one_offs: Mutex::default(),
                ports: Ports::default(),
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
        let endpoints: Vec<(String, Option<String>)> = {
            let apps = self.apps();
            let Some(state) = apps.get(app) else { return };
            state
                .dynos
                .iter()
                .filter(|d| d.is_web())
                .filter_map(|d| {
                    let s = d.status();
                    let port = (s.phase == Phase::Up).then_some(s.port).flatten()?;
                    Some((format!("127.0.0.1:{port}"), Some(d.name.clone())))
                })
                .collect()
        };
        self.routes.set_dyno_endpoints(app, endpoints);
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

impl Runtime for LocalRuntime {
    fn release_phase<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleasePlan,
        command: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.inner.release_phase(app, release, command, &OneShot::RELEASE))
    }

    fn postdeploy<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleasePlan,
        command: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(self.inner.release_phase(app, release, command, &OneShot::POSTDEPLOY))
    }

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
            let missing: Vec<(String, u32)> =
                wanted.iter().filter(|(t, i)| !have.contains(&(t.as_str(), *i))).cloned().collect();
            if extra.is_empty() && missing.is_empty() {
                return Ok(());
            }
            // New web dynos must come up before the extra ones go; if they do not, nothing
            // changes and the caller keeps the old formation.
            inner.replace(app, release, missing, extra).await.map_err(|e| match e {
                RuntimeError::BootFailed { reason, .. } => RuntimeError::ScaleFailed { reason },
                other => other,
            })
        })
    }

    fn run_one_off<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleasePlan,
        one_off: OneOff,
    ) -> BoxFuture<'a, Result<StartedOneOff, RuntimeError>> {
        Box::pin(async move { self.inner.run_one_off(app, release, one_off) })
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
            let formation = async {
                if let Some(state) = state {
                    join_all(state.dynos.iter().map(|d| d.stop_and_wait())).await;
                }
            };
            tokio::join!(formation, self.inner.stop_one_offs(app));
        })
    }

    fn dynos(&self, app: &str) -> Vec<model::Dyno> {
        let mut dynos: Vec<model::Dyno> =
            self.inner.apps().get(app).map(|s| s.dynos.iter().map(|d| d.model()).collect()).unwrap_or_default();
        dynos.extend(self.inner.one_off_dynos(app));
        dynos
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut names: Vec<String> = self.inner.apps().keys().cloned().collect();
            let more: Vec<String> =
                self.inner.apps_with_one_offs().into_iter().filter(|a| !names.contains(a)).collect();
            names.extend(more);
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
