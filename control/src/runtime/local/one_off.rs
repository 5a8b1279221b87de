//! One-off dynos (`slipway run`): a command run once with an app's live release, as dyno
//! `run.N` (N counts up per app while the control plane runs), next to the formation and
//! never routed (no `PORT`, not among the dynos the routes are made of).
//!
//! A detached one's output goes line by line to the logs (source `run`). An attached
//! one's stdout and stderr are read here in chunks, each sent both to the logs (cut into
//! lines) and, in order, to the client through a bounded channel: while the client does
//! not read, the command blocks on its next write, so nothing is lost; bytes from the
//! client go to its stdin, and the channel's end is its EOF. The exit comes after the
//! last output. Dropping the client's handle stops the command.
//!
//! Either way it is stopped after `runtime.one_off_timeout`, with the app
//! (`Runtime::stop`) and with the control plane, like every process: SIGTERM to its
//! process group, SIGKILL after `runtime.stop_grace`. At most `runtime.one_off_limit`
//! run at once per app.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::command::{Ended, Io, Once};
use super::process::{self, Lines};
use crate::clock;
use crate::logs::SOURCE_RUN;
use crate::model;
use crate::runtime::{Attached, Exit, ONE_OFF_TYPE, OneOff, Output, ReleasePlan, RuntimeError, StartedOneOff};

/// Output chunks queued for an attached client before the command waits.
const QUEUED_CHUNKS: usize = 16;
/// Largest chunk of output read at once (one message to the client).
const CHUNK: usize = 16 * 1024;

/// The one-off dynos of one app.
#[derive(Debug, Default)]
pub(super) struct AppOneOffs {
    /// The number of the last one started.
    last: u32,
    running: Vec<Arc<Running>>,
}

/// A one-off dyno that has not ended.
#[derive(Debug)]
pub(super) struct Running {
    name: String,
    command: String,
    release: u64,
    since: i64,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Running {
    fn model(&self) -> model::Dyno {
        model::Dyno {
            name: self.name.clone(),
            process_type: ONE_OFF_TYPE.to_owned(),
            state: "up".to_owned(),
            release: self.release,
            command: self.command.clone(),
            port: None,
            since: clock::rfc3339(self.since),
            restarts: 0,
        }
    }

    /// Stops the command and waits until it has ended.
    async fn stop_and_wait(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Inner {
    fn one_offs(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, AppOneOffs>> {
        // Critical sections are plain map and vector edits.
        self.one_offs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a one-off dyno; see the module docs.
    pub(super) fn run_one_off(
        self: &Arc<Self>,
        app: &str,
        release: &ReleasePlan,
        one_off: OneOff,
    ) -> Result<StartedOneOff, RuntimeError> {
        let limit = self.config.one_off_limit;
        // Reserved under the lock, so concurrent runs cannot pass the limit together.
        let running = {
            let mut all = self.one_offs();
            let runs = all.entry(app.to_owned()).or_default();
            if runs.running.len() >= limit {
                return Err(RuntimeError::OneOffLimit { limit });
            }
            runs.last += 1;
            let running = Arc::new(Running {
                name: format!("{ONE_OFF_TYPE}.{}", runs.last),
                command: one_off.command.clone(),
                release: release.version,
                since: clock::now_ms(),
                stop: CancellationToken::new(),
                task: Mutex::new(None),
            });
            runs.running.push(running.clone());
            running
        };
        let name = running.name.as_str();
        let io = if one_off.attach { Io::Piped } else { Io::Logged(SOURCE_RUN) };
        let once = match self.start_once(app, release, name, &one_off.command, &one_off.env, io) {
            Ok(once) => once,
            Err(e) => {
                self.forget_one_off(app, &running);
                return Err(RuntimeError::OneOffFailed(e.to_string()));
            }
        };
        let how = if one_off.attach { "attached" } else { "detached" };
        self.logs.event(app, name, format!("Starting one-off process ({how}) with command `{}`", one_off.command));
        let (attached, io) = if one_off.attach {
            let (stdin, stdin_rx) = mpsc::channel(QUEUED_CHUNKS);
            let (output_tx, output) = mpsc::channel(QUEUED_CHUNKS);
            let stop = running.stop.clone().drop_guard();
            (Some(Attached { stdin, output, stop }), Some((stdin_rx, output_tx)))
        } else {
            (None, None)
        };
        let task = tokio::spawn(supervise(self.clone(), app.to_owned(), running.clone(), once, io));
        *running.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        Ok(StartedOneOff { dyno: running.model(), attached })
    }

    fn forget_one_off(&self, app: &str, running: &Arc<Running>) {
        let mut all = self.one_offs();
        if let Some(runs) = all.get_mut(app) {
            runs.running.retain(|r| !Arc::ptr_eq(r, running));
        }
    }

    /// The app's one-off dynos now.
    pub(super) fn one_off_dynos(&self, app: &str) -> Vec<model::Dyno> {
        self.one_offs().get(app).map(|runs| runs.running.iter().map(|r| r.model()).collect()).unwrap_or_default()
    }

    /// The apps with one-off dynos running.
    pub(super) fn apps_with_one_offs(&self) -> Vec<String> {
        self.one_offs().iter().filter(|(_, runs)| !runs.running.is_empty()).map(|(app, _)| app.clone()).collect()
    }

    /// Stops the app's one-off dynos and waits until they have ended.
    pub(super) async fn stop_one_offs(&self, app: &str) {
        let running: Vec<Arc<Running>> = self.one_offs().get(app).map(|runs| runs.running.clone()).unwrap_or_default();
        join_all(running.iter().map(|r| r.stop_and_wait())).await;
    }
}

/// Runs one one-off dyno to its end; see the module docs.
async fn supervise(
    inner: Arc<Inner>,
    app: String,
    running: Arc<Running>,
    mut once: Once,
    io: Option<(mpsc::Receiver<Bytes>, mpsc::Sender<Output>)>,
) {
    let config = &inner.config;
    let (limit, grace) = (config.one_off_timeout, config.stop_grace);
    let name = running.name.as_str();
    let ended = match io {
        None => once.wait(limit, &running.stop, grace).await,
        Some((stdin, output)) => {
            let child_stdin = once.child.stdin.take();
            let feeding = tokio::spawn(feed(child_stdin, stdin));
            let tag = |stream| Lines::new(inner.logs.clone(), (app.clone(), name.to_owned(), SOURCE_RUN), stream);
            let stdout = once.child.stdout.take();
            let stderr = once.child.stderr.take();
            let reading = futures_util::future::join(
                relay(stdout, tag("stdout"), &output, Output::Stdout, &running.stop),
                relay(stderr, tag("stderr"), &output, Output::Stderr, &running.stop),
            );
            // The pipes close once the command and its group are gone (`wait` kills what
            // is left), so the relays end after the wait.
            let (ended, _) = tokio::join!(once.wait(limit, &running.stop, grace), reading);
            feeding.abort();
            if !running.stop.is_cancelled() {
                let _ = output.send(Output::Exit(exit(&ended, config.one_off_timeout))).await;
            }
            ended
        }
    };
    drop(once);
    let message = match &ended {
        Ended::Stopped(_) => {
            "Stopped (the client disconnected, the app stopped or the control plane is stopping)".to_owned()
        }
        other => format!("Process {}", exit(other, config.one_off_timeout).message),
    };
    inner.logs.event(&app, name, message);
    inner.forget_one_off(&app, &running);
}

/// Writes what the client sends to the command's stdin; closes it at the channel's end.
async fn feed(stdin: Option<tokio::process::ChildStdin>, mut from: mpsc::Receiver<Bytes>) {
    let Some(mut stdin) = stdin else { return };
    while let Some(chunk) = from.recv().await {
        if stdin.write_all(&chunk).await.is_err() {
            // The command closed its stdin: the rest is not wanted.
            return;
        }
    }
    let _ = stdin.shutdown().await;
}

/// Reads one output pipe to its end: each chunk to the logs and, until the client is
/// gone or the command is being stopped, to the client.
async fn relay(
    pipe: Option<impl AsyncRead + Unpin>,
    mut lines: Lines,
    output: &mpsc::Sender<Output>,
    wrap: fn(Bytes) -> Output,
    stop: &CancellationToken,
) {
    let Some(mut pipe) = pipe else { return };
    let mut client = true;
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(CHUNK);
        match pipe.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let chunk = buf.split().freeze();
        lines.feed(&chunk);
        if client {
            // Once the client is gone (or never came), the output is only logged.
            client = tokio::select! {
                sent = output.send(wrap(chunk)) => sent.is_ok(),
                () = stop.cancelled() => false,
            };
        }
    }
}

/// The exit a client is told of.
fn exit(ended: &Ended, limit: std::time::Duration) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    let status = |s: &std::process::ExitStatus| s.code().or_else(|| s.signal().map(|n| 128 + n)).unwrap_or(1);
    match ended {
        Ended::Exited(s) => Exit { status: status(s), message: process::describe(*s) },
        Ended::TimedOut(s) => Exit {
            status: s.as_ref().map_or(137, status),
            message: format!("ran longer than {} (runtime.one_off_timeout) and was stopped", clock::human(limit)),
        },
        Ended::Stopped(s) => Exit { status: s.as_ref().map_or(143, status), message: "was stopped".to_owned() },
        Ended::Failed(e) => Exit { status: 1, message: format!("could not be waited for ({e})") },
    }
}
