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

use futures_util::future::BoxFuture;

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

    /// Restarts processes: replacements first, then the old ones go (as in a release switch).
    fn restart<'a>(&'a self, app: &'a str, target: RestartTarget) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Stops every process of the app (sleeping, destroying); its routes lose their endpoints.
    fn stop<'a>(&'a self, app: &'a str) -> BoxFuture<'a, ()>;

    /// The app's processes now.
    fn dynos(&self, app: &str) -> Vec<model::Dyno>;

    /// Stops every process of every app (control is shutting down).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}
