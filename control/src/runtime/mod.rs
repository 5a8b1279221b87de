//! Runtimes run an app's processes ("dynos") for a release and a formation, and tell the
//! route table where its web processes listen.
//!
//! [`Runtime`] is the seam: [`local::LocalRuntime`] supervises processes on this machine;
//! a Kubernetes runtime (Deployments and Services, picked up by the router's Kubernetes
//! source) will implement the same trait. The platform calls a runtime under its per-app
//! lock, so calls for one app never overlap.

pub mod local;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

use crate::model;

/// A release as a runtime needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePlan {
    /// The release's version.
    pub version: u64,
    /// Where its slug is.
    pub slug_dir: PathBuf,
    /// Process type → command.
    pub process_types: BTreeMap<String, String>,
    /// The config vars.
    pub env: BTreeMap<String, String>,
}

/// What an app should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPlan {
    /// The app.
    pub app: String,
    /// The release.
    pub release: ReleasePlan,
    /// Process type → count (types the release does not declare are ignored).
    pub formation: BTreeMap<String, u32>,
}

/// Which processes to restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartTarget {
    /// Every process.
    All,
    /// Every process of a type (`web`).
    Type(String),
    /// One process (`web.1`).
    Dyno(String),
}

/// The process type of one-off dynos (`run.1`, `run.2`...): never part of a formation,
/// never routed.
pub const ONE_OFF_TYPE: &str = "run";

/// A one-off dyno to start (`slipway run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOff {
    /// The command, run by the runtime's shell.
    pub command: String,
    /// Variables set on top of the release's config vars.
    pub env: BTreeMap<String, String>,
    /// Whether a client is attached: its I/O goes through [`Attached`] (and the output to
    /// the logs too); otherwise only to the logs, stdin empty.
    pub attach: bool,
}

/// A one-off dyno that started.
#[derive(Debug)]
pub struct StartedOneOff {
    /// The dyno, as `ps` shows it.
    pub dyno: model::Dyno,
    /// Its I/O, for an attached one.
    pub attached: Option<Attached>,
}

/// The I/O of an attached one-off dyno. Nothing of its output is lost: while nobody reads
/// `output`, the command blocks on its next write.
#[derive(Debug)]
pub struct Attached {
    /// Its stdin: dropping the sender closes it (EOF).
    pub stdin: mpsc::Sender<Bytes>,
    /// Its stdout and stderr, in the order each was written, then how it ended.
    pub output: mpsc::Receiver<Output>,
    /// Dropped (the client went away), it stops the command (SIGTERM to its process
    /// group, then SIGKILL after the grace period).
    pub stop: DropGuard,
}

/// What an attached one-off dyno says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes written to stdout.
    Stdout(Bytes),
    /// Bytes written to stderr.
    Stderr(Bytes),
    /// It ended: everything it wrote came before.
    Exit(Exit),
}

/// How a one-off dyno ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exit {
    /// Its exit status as a shell reports it: the code, or 128 + the signal that killed it.
    pub status: i32,
    /// `exited with status 3`, `was killed by SIGTERM (it ran longer than 1h)`.
    pub message: String,
}

/// A runtime failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// New web processes did not come up; what ran before keeps running.
    #[error("release v{version} did not start: {reason}")]
    BootFailed {
        /// The release.
        version: u64,
        /// Why, e.g. `web.1 exited with status 1 before accepting connections`.
        reason: String,
    },
    /// New web processes of a scale-up did not come up; they were stopped and what ran
    /// before keeps running.
    #[error("cannot scale: {reason}")]
    ScaleFailed {
        /// Why, e.g. `web.2 exited with status 1 before accepting connections on $PORT`.
        reason: String,
    },
    /// The release phase (the Procfile's `release` command) failed; nothing of the
    /// release started.
    #[error("release v{version} failed in its release phase: {reason}")]
    ReleasePhaseFailed {
        /// The release.
        version: u64,
        /// Why, e.g. `the release command exited with status 3`.
        reason: String,
    },
    /// An app setup's postdeploy script (`app.json`'s `scripts.postdeploy`) failed.
    #[error("the postdeploy script of release v{version} failed: {reason}")]
    PostdeployFailed {
        /// The release.
        version: u64,
        /// Why, e.g. `the postdeploy script exited with status 3`.
        reason: String,
    },
    /// The app already runs as many one-off dynos as it may.
    #[error("the app already runs {limit} one-off dynos, the most it may (runtime.one_off_limit)")]
    OneOffLimit {
        /// The limit.
        limit: usize,
    },
    /// A one-off dyno's command could not be started.
    #[error("the command did not start: {0}")]
    OneOffFailed(String),
    /// A restart named nothing that runs.
    #[error("no process matches {0:?}")]
    NothingToRestart(String),
}

/// Runs apps' processes; see the module docs.
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// Brings the app to `plan`. A new release (or nothing running yet) starts the new
    /// processes, waits until the web ones accept connections, points the routes at them,
    /// then stops the old ones: no request is lost. If the new web processes do not come
    /// up, they are stopped, the old ones keep serving, and the error says why. The same
    /// release with other counts starts the missing processes (waiting for web ones to
    /// accept connections, [`RuntimeError::ScaleFailed`] if they do not) and then stops
    /// the extra ones.
    fn apply(&self, plan: AppPlan) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Runs a new release's release phase, `command`, once to completion (before
    /// [`Runtime::apply`] starts any of its processes); an error if it does not succeed.
    fn release_phase<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleasePlan,
        command: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Runs an app setup's postdeploy script, `command`, once to completion with the
    /// release's code and config (after [`Runtime::apply`] started it); an error if it
    /// does not succeed.
    fn postdeploy<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleasePlan,
        command: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Starts a one-off dyno (`run.N`) running `one_off.command` with `release`'s code and
    /// config, next to the formation and never routed; it shows in [`Runtime::dynos`]
    /// until it ends, is stopped after `runtime.one_off_timeout`, and at most
    /// `runtime.one_off_limit` run at once per app. A Kubernetes runtime runs it as a Job.
    fn run_one_off<'a>(
        &'a self,
        app: &'a str,
        release: &'a ReleasePlan,
        one_off: OneOff,
    ) -> BoxFuture<'a, Result<StartedOneOff, RuntimeError>>;

    /// Restarts processes: replacements first, then the old ones go (as in a release switch).
    fn restart<'a>(&'a self, app: &'a str, target: RestartTarget) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Stops every process of the app, one-off dynos included (sleeping, destroying); its
    /// routes lose their endpoints.
    fn stop<'a>(&'a self, app: &'a str) -> BoxFuture<'a, ()>;

    /// The app's processes now, one-off dynos included.
    fn dynos(&self, app: &str) -> Vec<model::Dyno>;

    /// Stops every process of every app (control is shutting down).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}
