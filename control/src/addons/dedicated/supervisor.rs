//! Server processes of dedicated add-ons, supervised like dynos: each runs in its own
//! process group, recorded in the runtime's process ledger (so a control plane killed
//! without stopping them stops them on its next start), restarted with the runtime's
//! backoff when it exits, and stopped (the server's own fast-shutdown signal, then
//! SIGKILL) when its add-on goes or the control plane stops.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Signal;
use slipway_config::process_group::signal_group;
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::runtime::local::ledger::Ledger;

/// How to start one server again and again.
pub(crate) type MakeCommand = Arc<dyn Fn() -> Command + Send + Sync>;

/// Time a server has to stop after its shutdown signal before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The supervised servers, by add-on name.
#[derive(Debug)]
pub(crate) struct Supervisor {
    ledger: Ledger,
    backoff: Duration,
    backoff_max: Duration,
    running: Mutex<HashMap<String, Running>>,
}

impl Supervisor {
    /// A supervisor recording its processes in `ledger`, restarting with `backoff`
    /// doubling up to `backoff_max`.
    pub(crate) fn new(ledger: Ledger, backoff: Duration, backoff_max: Duration) -> Supervisor {
        Supervisor { ledger, backoff, backoff_max, running: Mutex::default() }
    }

    /// Whether add-on `name`'s server is supervised now.
    pub(crate) fn is_running(&self, name: &str) -> bool {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(name)
    }

    /// Starts supervising add-on `name`'s server (no-op if it is already).
    pub(crate) fn start(&self, name: &str, make: MakeCommand, stop_signal: Signal) {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.contains_key(name) {
            return;
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(
            name.to_owned(),
            make,
            stop_signal,
            stop.clone(),
            self.ledger.clone(),
            (self.backoff, self.backoff_max),
        ));
        running.insert(name.to_owned(), Running { stop, task });
    }

    /// Stops add-on `name`'s server and waits until it is gone.
    pub(crate) async fn stop(&self, name: &str) {
        let running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
        if let Some(running) = running {
            running.stop.cancel();
            let _ = running.task.await;
        }
    }

    /// Stops every server (shutdown).
    pub(crate) async fn stop_all(&self) {
        let all: Vec<Running> =
            self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain().map(|(_, r)| r).collect();
        for running in &all {
            running.stop.cancel();
        }
        for running in all {
            let _ = running.task.await;
        }
    }
}

async fn supervise(
    name: String,
    make: MakeCommand,
    stop_signal: Signal,
    stop: CancellationToken,
    ledger: Ledger,
    (first, max): (Duration, Duration),
) {
    let mut backoff = first;
    loop {
        let mut command = make();
        command.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
        match command.spawn() {
            Ok(mut child) => {
                let group = child.id().unwrap_or(0);
                ledger.record(group);
                tracing::info!(addon = %name, pid = group, "add-on server started");
                let started = tokio::time::Instant::now();
                tokio::select! {
                    status = child.wait() => {
                        ledger.forget(group);
                        let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                        tracing::warn!(addon = %name, status = %status, restart_in = ?backoff, "add-on server exited; restarting it");
                        // A server that ran a while gets the first backoff again.
                        if started.elapsed() > Duration::from_secs(60) {
                            backoff = first;
                        }
                    }
                    () = stop.cancelled() => {
                        signal_group(group, stop_signal);
                        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                            signal_group(group, Signal::KILL);
                            let _ = child.wait().await;
                        }
                        // What else the server started in its group (PostgreSQL's workers).
                        signal_group(group, Signal::KILL);
                        ledger.forget(group);
                        tracing::info!(addon = %name, "add-on server stopped");
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(addon = %name, error = %e, restart_in = ?backoff, "cannot start the add-on server")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(max);
    }
}
