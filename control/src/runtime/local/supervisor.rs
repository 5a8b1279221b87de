//! One dyno and its supervisor.
//!
//! Each dyno has a supervisor task: it picks a free `PORT`, starts the process (env =
//! inherited basics + config vars + `PORT`, `DYNO`; working directory = the release's
//! slug), and for `web` dynos probes the port until it accepts TCP connections, then marks
//! the dyno up and republishes the app's endpoints. When the process exits by itself, the
//! dyno is crashed: its endpoint goes, and it is restarted after an exponential backoff
//! (reset once a run lasted `stable_after`). Stopping sends SIGTERM to its process group,
//! then SIGKILL after `stop_grace`. Every step is also a log line (source `slipway`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::process;
use crate::clock;
use crate::model;
use crate::runtime::ReleasePlan;

/// The process type that receives HTTP traffic.
pub(super) const WEB: &str = "web";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
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
pub(super) struct Status {
    pub(super) phase: Phase,
    pub(super) port: Option<u16>,
    since: i64,
    restarts: u32,
    pub(super) ever_up: bool,
    pub(super) last_exit: Option<String>,
}

#[derive(Debug)]
pub(super) struct Dyno {
    app: String,
    /// `<type>.<index>`, for display and `DYNO`.
    pub(super) name: String,
    pub(super) process_type: String,
    /// The number of the dyno among its type's, from 1.
    pub(super) index: u32,
    release: Arc<ReleasePlan>,
    command: String,
    pub(super) status: watch::Sender<Status>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Dyno {
    pub(super) fn status(&self) -> Status {
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

    pub(super) fn is_web(&self) -> bool {
        self.process_type == WEB
    }

    /// Stops the process (SIGTERM, then SIGKILL) and waits for the supervisor to end.
    pub(super) async fn stop_and_wait(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    pub(super) fn model(&self) -> model::Dyno {
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

impl Inner {
    /// Creates and starts a dyno (not yet active).
    pub(super) fn start_dyno(
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
}

/// The supervisor of one dyno: runs, restarts and stops its process; see the module docs.
async fn supervise(inner: Arc<Inner>, dyno: Arc<Dyno>) {
    let config = &inner.config;
    let mut backoff = config.restart_backoff;
    let mut restarts = 0u32;
    loop {
        let port = inner.ports.alloc();
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
            (&dyno.app, &dyno.name, crate::logs::SOURCE_APP),
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
            inner.ports.free(port);
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
