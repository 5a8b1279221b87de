//! The control plane's operations: what the API (and `slipway up`, and the sleeper) ask
//! for, carried out against the store, the runtime, the route table and the logs.
//!
//! Every operation that changes what an app runs takes the app's lock first, so releases,
//! scaling, restarts, sleeping and waking of one app happen one at a time, in order; other
//! apps are not held up. A release is created `pending`, handed to the runtime, and marked
//! `succeeded` (it becomes the app's live release) or `failed` (the previous one keeps
//! serving) — so the live release, its config and what runs always agree.
//!
//! This file holds the [`Platform`] itself (its parts, the per-app lock, start-up
//! [`restore`](Platform::restore) and [`shutdown`](Platform::shutdown)) and what every
//! resource shares; each resource's operations are an `impl Platform` block in its own
//! file, as in `api/` and `store/`: [`apps`], [`acme`] (the ACME store routers share), [`addons`] (and their [`backups`]),
//! [`releases`] (deploys and rollbacks included), [`setup`] (an app made from a source and
//! its `app.json`, all or nothing), [`config_vars`], [`formation`] (scaling and restarts),
//! [`one_off`] (one-off dynos, `slipway run`), [`domains`],
//! [`tokens`] (log tokens) and [`sleep`] (activity, sleeping and waking).

pub mod acme;
pub mod addons;
pub mod apps;
pub mod backups;
pub mod config_vars;
pub mod domains;
pub mod formation;
mod locks;
pub mod one_off;
pub mod releases;
pub mod setup;
pub mod sleep;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::addons::{AddonError, Providers};
use crate::build::Builder;
use crate::config::Config;
use crate::deploy::FetchError;
use crate::logs::LogSink;
use crate::model;
use crate::routes::RouteHub;
use crate::runtime::{AppPlan, ReleasePlan, Runtime, RuntimeError};
use crate::slug::{self, Slugs};
use crate::store::{AppRow, ReleaseRow, Store, StoreError};
use locks::{AppLock, AppLocks};

/// A failed operation, as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// No such app.
    #[error("app {0:?} not found")]
    NoSuchApp(String),
    /// Something else named in the request does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A field of the request is invalid.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field (`name`, `sleep_after`, `hostname`, a config key...).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The request conflicts with the state (a taken name).
    #[error("{0}")]
    Conflict(String),
    /// The deployed source is unusable.
    #[error(transparent)]
    Source(#[from] FetchError),
    /// A release did not start; the previous one keeps running.
    #[error("{error}; v{previous} keeps running")]
    ReleaseFailed {
        /// What the runtime said.
        error: RuntimeError,
        /// The release still live.
        previous: u64,
    },
    /// A scale did not take effect; the stored formation and what runs are unchanged.
    #[error("{0}; the formation is unchanged")]
    ScaleFailed(RuntimeError),
    /// Required config vars of an app setup's `app.json` have no value.
    #[error("app.json requires a value for {}: give them as overrides (`--set KEY=VALUE`)", .0.join(", "))]
    MissingEnv(Vec<String>),
    /// An app setup failed at `step`; what it had made is removed again.
    #[error("app setup failed at {step}: {problem}; {}", match cleanup {
        None => "nothing of the app is kept".to_owned(),
        Some(e) => format!("removing what it made failed too ({e}): destroy the app to finish"),
    })]
    SetupFailed {
        /// `add-on heroku-redis (app.json addons[1])`, `deploy`, `postdeploy`.
        step: String,
        /// What went wrong.
        problem: String,
        /// Why removing what the setup had made failed, if it did.
        cleanup: Option<String>,
    },
    /// A limit is reached (one-off dynos running at once).
    #[error("{0}")]
    Limit(String),
    /// The app has no code to run yet.
    #[error("{0}")]
    NothingToRun(String),
    /// A command could not be started.
    #[error("{0}")]
    StartFailed(String),
    /// A feature needs configuration it does not have.
    #[error("{0}")]
    Unavailable(String),
    /// An add-on server failed or refused, or the kind cannot do what was asked.
    #[error(transparent)]
    Addon(#[from] AddonError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<slug::SlugError> for PlatformError {
    fn from(e: slug::SlugError) -> Self {
        PlatformError::Source(FetchError::Slug(e))
    }
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> PlatformError {
    PlatformError::Invalid { field: field.into(), problem: problem.into() }
}

/// A deploy's source.
#[derive(Debug)]
pub enum Source {
    /// An uploaded tarball, on disk, with its SHA-256.
    Tarball {
        /// The file.
        file: std::path::PathBuf,
        /// Its SHA-256, hex.
        sha256: String,
    },
    /// A git repository at a ref.
    Git(model::GitDeploy),
}

/// The control plane's operations; see the module docs.
#[derive(Debug)]
pub struct Platform {
    /// The configuration.
    pub config: Config,
    /// The state.
    pub store: Store,
    /// The published routes.
    pub routes: Arc<RouteHub>,
    /// Where the apps run.
    pub runtime: Arc<dyn Runtime>,
    /// Where log records go.
    pub logs: LogSink,
    /// Slugs on disk.
    pub slugs: Slugs,
    builder: Arc<dyn Builder>,
    /// The add-on providers.
    providers: Providers,
    signer: Option<slipway_logd::Signer>,
    locks: AppLocks,
    /// Last time each app served a request (or started).
    activity: Mutex<HashMap<String, Instant>>,
    /// Add-ons being backed up, restored or destroyed.
    backup_jobs: backups::Jobs,
}

impl Platform {
    /// Assembles the platform.
    pub fn new(
        config: Config,
        store: Store,
        routes: Arc<RouteHub>,
        runtime: Arc<dyn Runtime>,
        logs: LogSink,
        builder: Arc<dyn Builder>,
        providers: Providers,
    ) -> Result<Platform, PlatformError> {
        let signer = match &config.logd.signing_key {
            Some(key) => Some(
                slipway_logd::Signer::new(key.as_bytes()).map_err(|e| invalid("logd.signing_key", e.to_string()))?,
            ),
            None => None,
        };
        let slugs = Slugs::new(&config.data_dir);
        Ok(Platform {
            config,
            store,
            routes,
            runtime,
            logs,
            slugs,
            builder,
            providers,
            signer,
            locks: AppLocks::default(),
            activity: Mutex::default(),
            backup_jobs: backups::Jobs::default(),
        })
    }

    /// The app's lock (see the module docs).
    async fn lock(&self, app: &str) -> AppLock<'_> {
        self.locks.lock(app).await
    }

    /// How many apps have a lock entry now: only those with an operation holding or
    /// waiting for their lock (so destroyed apps leave none).
    pub fn app_locks(&self) -> usize {
        self.locks.len()
    }

    async fn app_row(&self, name: &str) -> Result<AppRow, PlatformError> {
        self.store.app(name).await?.ok_or_else(|| PlatformError::NoSuchApp(name.to_owned()))
    }

    async fn current_release(&self, app: &AppRow) -> Result<ReleaseRow, PlatformError> {
        let version = app.current_release.unwrap_or(1);
        self.store
            .release(app.id, version)
            .await?
            .ok_or_else(|| PlatformError::NotFound(format!("release v{version} of app {:?} is missing", app.name)))
    }

    async fn hosts(&self, app: &AppRow) -> Result<Vec<String>, PlatformError> {
        Ok(self.store.domains(app.id).await?.into_iter().map(|(h, _)| h).collect())
    }

    fn plan(&self, app: &AppRow, release: &ReleaseRow, formation: BTreeMap<String, u32>) -> AppPlan {
        let (slug_dir, process_types) = match &release.slug {
            Some(slug) => {
                let mut types = slug.process_types.clone();
                // The release phase runs once per release, never as a dyno.
                types.remove(releases::RELEASE_TYPE);
                (self.slugs.dir(&app.name, &slug.id), types)
            }
            None => (self.config.data_dir.clone(), BTreeMap::new()),
        };
        AppPlan {
            app: app.name.clone(),
            release: ReleasePlan { version: release.version, slug_dir, process_types, env: release.config.clone() },
            formation,
        }
    }

    /// At start: removes apps whose setup a previous run left halfway, settles releases it
    /// left pending, puts right add-ons it left
    /// halfway, publishes every app's routes, and starts the apps that are awake (in the
    /// background).
    pub async fn restore(self: &Arc<Self>) -> Result<(), PlatformError> {
        // Setups a previous run left halfway go first: their add-ons, no longer recorded,
        // are then leftovers that the add-ons' reconcile removes from their servers.
        for app in self.store.unfinished_setups().await? {
            self.store.delete_app(app.id).await?;
            let slugs = self.slugs.clone();
            let name = app.name.clone();
            let _ = tokio::task::spawn_blocking(move || slugs.remove_app(&name)).await;
            tracing::warn!(app = %app.name, "app setup left halfway by a previous run: removed");
            self.logs.event(&app.name, "", "App setup left halfway by a previous run: removed".into());
        }
        let failed = self.store.fail_pending_releases().await?;
        if failed > 0 {
            tracing::warn!(releases = failed, "releases left pending by the previous run are marked failed");
        }
        self.recover_backups().await?;
        // Read before the API serves: add-ons created from now on are not leftovers.
        self.reconcile_addons(self.store.all_addons().await?);
        let apps = self.store.apps().await?;
        for app in &apps {
            // Every app is published as asleep until its processes are up: routers hold
            // the requests that arrive meanwhile (as for a sleeping app being woken) instead
            // of answering 503 "no endpoints" while the apps start again.
            self.routes.set_app(&app.name, self.hosts(app).await?, true);
            self.touch(&app.name);
        }
        for app in apps.into_iter().filter(|a| !a.sleeping) {
            let platform = self.clone();
            tokio::spawn(async move {
                let _lock = platform.lock(&app.name).await;
                // Read again under the lock: an API call may have come first.
                let app = match platform.store.app(&app.name).await {
                    Ok(Some(app)) => app,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(app = %app.name, error = %e, "cannot start the app");
                        return;
                    }
                };
                if !app.sleeping
                    && let Err(e) = platform.start_current(&app).await
                {
                    tracing::error!(app = %app.name, error = %e, "cannot start the app");
                }
                platform.routes.set_asleep(&app.name, app.sleeping);
            });
        }
        Ok(())
    }

    /// Runs the app's live release with its formation (the caller holds the app's lock).
    async fn start_current(&self, app: &AppRow) -> Result<(), PlatformError> {
        let release = self.current_release(app).await?;
        let formation = self.store.formation(app.id).await?;
        self.run_release(app, &release, formation).await
    }

    /// Runs `release`, the app's live release, with `formation` (the caller holds the
    /// app's lock).
    async fn run_release(
        &self,
        app: &AppRow,
        release: &ReleaseRow,
        formation: BTreeMap<String, u32>,
    ) -> Result<(), PlatformError> {
        self.runtime
            .apply(self.plan(app, release, formation))
            .await
            .map_err(|error| PlatformError::ReleaseFailed { error, previous: release.version })
    }

    /// Stops every app's processes and the dedicated add-on servers (shutdown).
    pub async fn shutdown(&self) {
        self.runtime.shutdown().await;
        self.providers.shutdown().await;
    }
}

fn conflict(e: StoreError) -> PlatformError {
    match e {
        StoreError::Conflict(message) => PlatformError::Conflict(message),
        other => PlatformError::Store(other),
    }
}

#[cfg(test)]
mod tests;
