//! The control plane's operations: what the API (and `slipway up`, and the sleeper) ask
//! for, carried out against the store, the runtime, the route table and the logs.
//!
//! Every operation that changes what an app runs takes the app's lock first, so releases,
//! scaling, restarts, sleeping and waking of one app happen one at a time, in order; other
//! apps are not held up. A release is created `pending`, handed to the runtime, and marked
//! `succeeded` (it becomes the app's live release) or `failed` (the previous one keeps
//! serving) — so the live release, its config and what runs always agree.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::build::Builder;
use crate::clock;
use crate::config::Config;
use crate::deploy::{self, FetchError};
use crate::logs::LogSink;
use crate::model;
use crate::routes::RouteHub;
use crate::runtime::{AppPlan, ReleasePlan, RestartTarget, Runtime, RuntimeError};
use crate::slug::{self, Slugs};
use crate::store::{AppRow, NewRelease, ReleaseRow, ReleaseStatus, SlugRow, Store, StoreError};

/// Most processes of one type.
pub const MAX_QUANTITY: u32 = 100;
/// Config vars the runtime sets itself.
pub const RESERVED_VARS: [&str; 4] = ["PORT", "DYNO", "SLIPWAY_APP", "SLIPWAY_RELEASE"];
/// Longest config var value, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

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
    /// A feature needs configuration it does not have.
    #[error("{0}")]
    Unavailable(String),
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
    signer: Option<slipway_logd::Signer>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Last time each app served a request (or started).
    activity: Mutex<HashMap<String, Instant>>,
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
            signer,
            locks: Mutex::default(),
            activity: Mutex::default(),
        })
    }

    /// The app's lock (see the module docs).
    async fn lock(&self, app: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(app.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
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
            Some(slug) => (self.slugs.dir(&app.name, &slug.id), slug.process_types.clone()),
            None => (self.config.data_dir.clone(), BTreeMap::new()),
        };
        AppPlan {
            app: app.name.clone(),
            release: ReleasePlan { version: release.version, slug_dir, process_types, env: release.config.clone() },
            formation,
        }
    }

    /// Marks the app as just active (it will not sleep for its `sleep_after`).
    pub fn touch(&self, app: &str) {
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(app.to_owned(), Instant::now());
    }

    fn idle_for(&self, app: &str) -> Duration {
        let mut activity = self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        activity.entry(app.to_owned()).or_insert_with(Instant::now).elapsed()
    }

    /// At start: settles releases a previous run left pending, publishes every app's
    /// routes, and starts the apps that are awake (in the background).
    pub async fn restore(self: &Arc<Self>) -> Result<(), PlatformError> {
        let failed = self.store.fail_pending_releases().await?;
        if failed > 0 {
            tracing::warn!(releases = failed, "releases left pending by the previous run are marked failed");
        }
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

    // ---- apps -------------------------------------------------------------------------

    /// Creates an app.
    pub async fn create_app(&self, new: model::NewApp) -> Result<model::App, PlatformError> {
        slipway_config::app_name::check(&new.name).map_err(|p| invalid("name", p))?;
        let min = self.config.sleep.min_sleep_after;
        let sleep_after = new.sleep_after.as_deref().map(|t| parse_sleep_after(t, min)).transpose()?;
        let app = self.store.create_app(&new.name, sleep_after, clock::now_ms()).await.map_err(conflict)?;
        self.routes.set_app(&app.name, Vec::new(), false);
        self.touch(&app.name);
        self.logs.event(&app.name, "", "App created (release v1: Initial release)".into());
        self.app_model(&app).await
    }

    /// Every app.
    pub async fn apps(&self) -> Result<Vec<model::App>, PlatformError> {
        let mut out = Vec::new();
        for app in self.store.apps().await? {
            out.push(self.app_model(&app).await?);
        }
        Ok(out)
    }

    /// Fails with [`PlatformError::NoSuchApp`] unless the app exists.
    pub async fn require_app(&self, name: &str) -> Result<(), PlatformError> {
        self.app_row(name).await.map(drop)
    }

    /// One app.
    pub async fn app(&self, name: &str) -> Result<model::App, PlatformError> {
        let app = self.app_row(name).await?;
        self.app_model(&app).await
    }

    async fn app_model(&self, app: &AppRow) -> Result<model::App, PlatformError> {
        let release = self.current_release(app).await?;
        let types = release.slug.as_ref().map(|s| s.process_types.clone()).unwrap_or_default();
        let formation =
            self.store.formation(app.id).await?.into_iter().filter(|(t, _)| types.contains_key(t)).collect();
        Ok(model::App {
            name: app.name.clone(),
            created_at: clock::rfc3339(app.created_at),
            url: self.config.app_url(&app.name),
            sleep_after: app.sleep_after.map(clock::human),
            sleeping: app.sleeping,
            release: app.current_release,
            domains: self.hosts(app).await?,
            formation,
        })
    }

    /// Changes an app's settings.
    pub async fn update_app(&self, name: &str, patch: model::AppPatch) -> Result<model::App, PlatformError> {
        let _lock = self.lock(name).await;
        let mut app = self.app_row(name).await?;
        if let Some(sleep_after) = patch.sleep_after {
            let min = self.config.sleep.min_sleep_after;
            let sleep_after = sleep_after.as_deref().map(|t| parse_sleep_after(t, min)).transpose()?;
            self.store.set_sleep_after(app.id, sleep_after).await?;
            // As stored: whole seconds.
            app.sleep_after = sleep_after.map(|d| Duration::from_secs(d.as_secs()));
            self.touch(name);
            let message = match sleep_after {
                Some(d) => format!("Sleeps after {} without requests", clock::human(d)),
                None => "Never sleeps".to_owned(),
            };
            self.logs.event(name, "", message);
        }
        // Under the lock nothing else changes the row: it is what was read and written.
        self.app_model(&app).await
    }

    /// Destroys an app: stops its processes, removes its routes, state and slugs.
    pub async fn destroy_app(&self, name: &str) -> Result<(), PlatformError> {
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        self.runtime.stop(name).await;
        self.routes.remove_app(name);
        self.store.delete_app(app.id).await?;
        let slugs = self.slugs.clone();
        let owned = name.to_owned();
        let _ = tokio::task::spawn_blocking(move || slugs.remove_app(&owned)).await;
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
        self.logs.event(name, "", "App destroyed".into());
        Ok(())
    }

    // ---- releases ---------------------------------------------------------------------

    /// Creates a release of `app` and makes it live (the caller holds the app's lock).
    async fn release(
        &self,
        app: &AppRow,
        slug: Option<&SlugRow>,
        config: &BTreeMap<String, String>,
        description: &str,
    ) -> Result<ReleaseRow, PlatformError> {
        let new = NewRelease { description, slug_id: slug.map(|s| s.id.as_str()), config };
        let release = self.store.create_release(app.id, new, clock::now_ms()).await?;
        let version = release.version;
        self.logs.event(&app.name, "", format!("Release v{version} created: {description}"));
        if app.sleeping {
            // It runs when the app wakes.
            self.store.finish_release(app.id, version, ReleaseStatus::Succeeded).await?;
            self.logs.event(
                &app.name,
                "",
                format!("Release v{version} is live (the app is asleep until its next request)"),
            );
        } else {
            let formation = self.store.formation(app.id).await?;
            match self.runtime.apply(self.plan(app, &release, formation)).await {
                Ok(()) => {
                    self.store.finish_release(app.id, version, ReleaseStatus::Succeeded).await?;
                    self.logs.event(&app.name, "", format!("Release v{version} is live"));
                }
                Err(error) => {
                    self.store.finish_release(app.id, version, ReleaseStatus::Failed).await?;
                    let previous = app.current_release.unwrap_or(1);
                    self.logs.event(
                        &app.name,
                        "",
                        format!("Release v{version} failed: {error}; v{previous} keeps running"),
                    );
                    return Err(PlatformError::ReleaseFailed { error, previous });
                }
            }
        }
        self.touch(&app.name);
        // Settled as succeeded just above: it was pending (made under the app's lock, and
        // only the start-up sweep fails pending releases), so it is live now.
        Ok(ReleaseRow { status: ReleaseStatus::Succeeded, ..release })
    }

    /// Every release, newest first.
    pub async fn releases(&self, name: &str) -> Result<Vec<model::Release>, PlatformError> {
        let app = self.app_row(name).await?;
        let releases = self.store.releases(app.id).await?;
        Ok(releases.iter().map(|r| release_model(r, app.current_release, false)).collect())
    }

    /// One release, with its config.
    pub async fn release_info(&self, name: &str, version: u64) -> Result<model::Release, PlatformError> {
        let app = self.app_row(name).await?;
        let release = self.store.release(app.id, version).await?.ok_or_else(|| no_release(name, version))?;
        Ok(release_model(&release, app.current_release, true))
    }

    /// Deploys a source: fetch, build, and release it with the current config.
    pub async fn deploy(&self, name: &str, source: Source) -> Result<model::Release, PlatformError> {
        // Fail before any work if the app does not exist.
        self.app_row(name).await?;
        let fetched = match source {
            Source::Tarball { file, sha256 } => {
                deploy::from_tarball(&self.slugs, file, sha256, self.config.deploy.max_source_bytes).await?
            }
            Source::Git(git) => {
                let d = &self.config.deploy;
                deploy::from_git(&self.slugs, &d.git, &git.url, git.reference.as_deref(), d.git_timeout).await?
            }
        };
        let built = self.builder.build(name, &fetched.root).await?;
        let _lock = self.lock(name).await;
        // Re-read under the lock: the app may have been destroyed or released meanwhile.
        let app = self.app_row(name).await?;
        let slugs = self.slugs.clone();
        let (app_name, slug_id, root) = (app.name.clone(), fetched.slug_id.clone(), fetched.root.clone());
        tokio::task::spawn_blocking(move || slugs.install(&app_name, &slug_id, &root))
            .await
            .map_err(|e| slug::SlugError::Archive(format!("installing stopped: {e}")))??;
        drop(fetched.work);
        let slug = SlugRow {
            id: fetched.slug_id,
            created_at: clock::now_ms(),
            source: fetched.source,
            process_types: built.process_types,
        };
        self.store.insert_slug(app.id, &slug).await?;
        self.store.add_process_types(app.id, slug.process_types.keys()).await?;
        let current = self.current_release(&app).await?;
        let description = format!("Deploy {}", slug.source.short());
        let release = self.release(&app, Some(&slug), &current.config, &description).await?;
        Ok(release_model(&release, Some(release.version), false))
    }

    /// Makes a new release equal to release `version` (default: the one before the live
    /// release).
    pub async fn rollback(&self, name: &str, version: Option<u64>) -> Result<model::Release, PlatformError> {
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        let current = app.current_release.unwrap_or(1);
        let target = match version {
            Some(v) => v,
            None => {
                let releases = self.store.releases(app.id).await?;
                releases
                    .iter()
                    .find(|r| r.version < current && r.status == ReleaseStatus::Succeeded)
                    .map(|r| r.version)
                    .ok_or_else(|| {
                        invalid("version", format!("v{current} is the first release: there is nothing to roll back to"))
                    })?
            }
        };
        let release = self.store.release(app.id, target).await?.ok_or_else(|| no_release(name, target))?;
        let description = format!("Rollback to v{target}");
        let made = self.release(&app, release.slug.as_ref(), &release.config, &description).await?;
        Ok(release_model(&made, Some(made.version), false))
    }

    // ---- config vars ------------------------------------------------------------------

    /// The live config vars.
    pub async fn config_vars(&self, name: &str) -> Result<BTreeMap<String, String>, PlatformError> {
        let app = self.app_row(name).await?;
        Ok(self.current_release(&app).await?.config)
    }

    /// Sets and unsets config vars; a change makes a new release.
    pub async fn set_config(
        &self,
        name: &str,
        patch: model::ConfigPatch,
    ) -> Result<model::ConfigChanged, PlatformError> {
        if patch.is_empty() {
            return Err(invalid("config", "give at least one var to set or unset"));
        }
        for (key, value) in &patch {
            check_var(key, value.as_deref())?;
        }
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        let current = self.current_release(&app).await?;
        let mut config = current.config.clone();
        let (mut set, mut unset) = (Vec::new(), Vec::new());
        for (key, value) in patch {
            match value {
                Some(value) => {
                    if config.get(&key) != Some(&value) {
                        set.push(key.clone());
                    }
                    config.insert(key, value);
                }
                None => {
                    if config.remove(&key).is_some() {
                        unset.push(key);
                    }
                }
            }
        }
        if set.is_empty() && unset.is_empty() {
            return Ok(model::ConfigChanged {
                config,
                changed: false,
                release: release_model(&current, app.current_release, false),
            });
        }
        let mut parts = Vec::new();
        if !set.is_empty() {
            parts.push(format!("Set {}", set.join(", ")));
        }
        if !unset.is_empty() {
            parts.push(format!("Unset {}", unset.join(", ")));
        }
        let release = self.release(&app, current.slug.as_ref(), &config, &parts.join("; ")).await?;
        Ok(model::ConfigChanged {
            config,
            changed: true,
            release: release_model(&release, Some(release.version), false),
        })
    }

    // ---- formation and dynos ----------------------------------------------------------

    /// The live release's process types with their counts.
    pub async fn formation(&self, name: &str) -> Result<Vec<model::ProcessType>, PlatformError> {
        let app = self.app_row(name).await?;
        let release = self.current_release(&app).await?;
        let quantities = self.store.formation(app.id).await?;
        Ok(process_types(&release, &quantities))
    }

    /// Changes process counts.
    pub async fn scale(&self, name: &str, scale: model::Scale) -> Result<Vec<model::ProcessType>, PlatformError> {
        if scale.is_empty() {
            return Err(invalid("formation", "give at least one process type and count, e.g. {\"web\": 2}"));
        }
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        let release = self.current_release(&app).await?;
        let types = release.slug.as_ref().map(|s| s.process_types.clone()).unwrap_or_default();
        for (process_type, quantity) in &scale {
            if !types.contains_key(process_type) {
                let known: Vec<&str> = types.keys().map(String::as_str).collect();
                let problem = if known.is_empty() {
                    format!("release v{} has no processes yet: deploy first", release.version)
                } else {
                    format!(
                        "release v{} has no process type {process_type:?}; its Procfile declares: {}",
                        release.version,
                        known.join(", ")
                    )
                };
                return Err(invalid(process_type.clone(), problem));
            }
            if *quantity > MAX_QUANTITY {
                return Err(invalid(process_type.clone(), format!("at most {MAX_QUANTITY} processes per type")));
            }
        }
        self.store.set_formation(app.id, &scale).await?;
        let counts: Vec<String> = scale.iter().map(|(t, n)| format!("{t}={n}")).collect();
        self.logs.event(name, "", format!("Scaled to {}", counts.join(", ")));
        let formation = self.store.formation(app.id).await?;
        let answer = process_types(&release, &formation);
        if !app.sleeping {
            self.run_release(&app, &release, formation).await?;
        }
        Ok(answer)
    }

    /// The app's processes.
    pub async fn dynos(&self, name: &str) -> Result<Vec<model::Dyno>, PlatformError> {
        self.app_row(name).await?;
        Ok(self.runtime.dynos(name))
    }

    /// Restarts processes: `web`, `web.1`, or all.
    pub async fn restart(&self, name: &str, target: Option<&str>) -> Result<(), PlatformError> {
        let target = match target {
            None => RestartTarget::All,
            Some(t) => match t.split_once('.') {
                Some((process_type, index)) => {
                    slug::check_process_type(process_type).map_err(|p| invalid("target", p))?;
                    if index.parse::<u32>().is_err() {
                        return Err(invalid("target", format!("{t:?} is not a process like \"web.1\"")));
                    }
                    RestartTarget::Dyno(t.to_owned())
                }
                None => {
                    slug::check_process_type(t).map_err(|p| invalid("target", p))?;
                    RestartTarget::Type(t.to_owned())
                }
            },
        };
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        match self.runtime.restart(name, target).await {
            Ok(()) => {
                self.touch(name);
                Ok(())
            }
            Err(e @ RuntimeError::NothingToRestart(_)) => Err(PlatformError::NotFound(e.to_string())),
            Err(error) => Err(PlatformError::ReleaseFailed { error, previous: app.current_release.unwrap_or(1) }),
        }
    }

    // ---- domains ----------------------------------------------------------------------

    /// The app's custom domains.
    pub async fn domains(&self, name: &str) -> Result<Vec<model::Domain>, PlatformError> {
        let app = self.app_row(name).await?;
        Ok(self
            .store
            .domains(app.id)
            .await?
            .into_iter()
            .map(|(hostname, at)| model::Domain { hostname, created_at: clock::rfc3339(at) })
            .collect())
    }

    /// Adds a custom domain.
    pub async fn add_domain(&self, name: &str, hostname: &str) -> Result<model::Domain, PlatformError> {
        let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        slipway_router::spec::check_host(&hostname).map_err(|p| invalid("hostname", p))?;
        if !hostname.contains('.') {
            return Err(invalid("hostname", format!("{hostname:?} is not a domain like \"shop.example.com\"")));
        }
        if let Some(zone) =
            self.config.apps.zones.iter().find(|z| hostname == **z || hostname.ends_with(&format!(".{z}")))
        {
            return Err(invalid(
                "hostname",
                format!(
                    "{hostname:?} is inside the zone {zone:?}, where names are app names; apps get <app>.{zone} without a domain"
                ),
            ));
        }
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        let mut hosts = self.hosts(&app).await?;
        if hosts.len() >= slipway_router::spec::MAX_HOSTS && !hosts.contains(&hostname) {
            let max = slipway_router::spec::MAX_HOSTS;
            return Err(invalid("hostname", format!("an app has at most {max} custom domains")));
        }
        let now = clock::now_ms();
        self.store.add_domain(app.id, &hostname, now).await.map_err(conflict)?;
        // Under the lock the app's domains are the ones read plus this one (set_hosts
        // drops it if it was there already).
        hosts.push(hostname.clone());
        self.routes.set_hosts(name, hosts);
        self.logs.event(name, "", format!("Domain {hostname} added"));
        Ok(model::Domain { hostname, created_at: clock::rfc3339(now) })
    }

    /// Removes a custom domain.
    pub async fn remove_domain(&self, name: &str, hostname: &str) -> Result<(), PlatformError> {
        let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        if !self.store.remove_domain(app.id, &hostname).await? {
            return Err(PlatformError::NotFound(format!("app {name:?} has no domain {hostname:?}")));
        }
        self.routes.set_hosts(name, self.hosts(&app).await?);
        self.logs.event(name, "", format!("Domain {hostname} removed"));
        Ok(())
    }

    // ---- logs -------------------------------------------------------------------------

    /// A token reading the app's logs on logd, with the URLs to use it on.
    pub async fn log_token(&self, name: &str) -> Result<model::LogToken, PlatformError> {
        self.app_row(name).await?;
        let (Some(signer), Some(url)) = (&self.signer, &self.config.logd.url) else {
            return Err(PlatformError::Unavailable(
                "log tokens need [logd] url and signing_key in the control plane's config".into(),
            ));
        };
        let mut claims = slipway_logd::Claims::for_app(name, self.config.logd.token_ttl);
        claims.scope = Some(slipway_logd::token::SCOPE_LOGS_READ.to_owned());
        let token = signer.sign(&claims);
        let base = url.trim_end_matches('/');
        let expires = i64::try_from(claims.exp).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
        Ok(model::LogToken {
            stream_url: format!("{base}/v1/apps/{name}/logs"),
            viewer_url: format!("{base}/apps/{name}?token={token}"),
            expires_at: clock::rfc3339(expires),
            token,
        })
    }

    // ---- sleeping ---------------------------------------------------------------------

    /// Records routers' request counts: apps that served requests are active.
    pub fn record_activity(&self, activity: &slipway_router::spec::Activity) {
        for (app, requests) in &activity.apps {
            // Only apps this control plane routes: a router's other sources are not ours.
            if *requests > 0 && self.routes.contains(app) {
                self.touch(app);
            }
        }
    }

    /// Puts to sleep every awake app idle for longer than its `sleep_after`.
    pub async fn sleep_idle_apps(&self) -> Result<(), PlatformError> {
        for app in self.store.apps().await? {
            let Some(after) = app.sleep_after else { continue };
            // Only apps with processes to stop (not before their first deploy).
            if app.sleeping || self.idle_for(&app.name) < after || self.runtime.dynos(&app.name).is_empty() {
                continue;
            }
            let _lock = self.lock(&app.name).await;
            // Re-check under the lock: a request or a wake may have come in meanwhile.
            let Some(app) = self.store.app(&app.name).await? else { continue };
            if app.sleeping || self.idle_for(&app.name) < after {
                continue;
            }
            // Mark asleep first: once the endpoints go, routers hold requests and wake it.
            self.routes.set_asleep(&app.name, true);
            self.store.set_sleeping(app.id, true).await?;
            self.runtime.stop(&app.name).await;
            self.logs.event(
                &app.name,
                "",
                format!("No requests for {}: sleeping (scaled to zero) until the next request", clock::human(after)),
            );
        }
        Ok(())
    }

    /// Wakes a sleeping app (a router holds a request for it): starts its formation in the
    /// background; the routes keep it marked sleeping until its web processes are up.
    /// Returns whether it was asleep.
    pub async fn wake(self: &Arc<Self>, name: &str) -> Result<bool, PlatformError> {
        let app = self.app_row(name).await?;
        self.touch(name);
        if !app.sleeping {
            return Ok(false);
        }
        let platform = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let _lock = platform.lock(&name).await;
            let app = match platform.store.app(&name).await {
                Ok(Some(app)) if app.sleeping => app,
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(app = %name, error = %e, "cannot wake the app");
                    return;
                }
            };
            platform.logs.event(&name, "", "Waking up: a request is waiting".into());
            let woken = async {
                platform.store.set_sleeping(app.id, false).await?;
                let awake = AppRow { sleeping: false, ..app.clone() };
                platform.start_current(&awake).await?;
                platform.routes.set_asleep(&name, false);
                Ok::<_, PlatformError>(())
            };
            match woken.await {
                Ok(()) => {
                    platform.touch(&name);
                    platform.logs.event(&name, "", "Awake".into());
                }
                Err(e) => {
                    tracing::error!(app = %name, error = %e, "waking the app failed");
                    platform.logs.event(&name, "", format!("Waking up failed: {e}"));
                    // Back to sleep, so the next request tries again.
                    let _ = platform.store.set_sleeping(app.id, true).await;
                }
            }
        });
        Ok(true)
    }

    /// Stops every app's processes (shutdown).
    pub async fn shutdown(&self) {
        self.runtime.shutdown().await;
    }
}

fn conflict(e: StoreError) -> PlatformError {
    match e {
        StoreError::Conflict(message) => PlatformError::Conflict(message),
        other => PlatformError::Store(other),
    }
}

/// The release's process types with their quantities in `formation`.
fn process_types(release: &ReleaseRow, formation: &BTreeMap<String, u32>) -> Vec<model::ProcessType> {
    let types = release.slug.as_ref().map(|s| s.process_types.clone()).unwrap_or_default();
    types
        .into_iter()
        .map(|(t, command)| model::ProcessType {
            quantity: formation.get(&t).copied().unwrap_or(0),
            process_type: t,
            command,
        })
        .collect()
}

fn no_release(app: &str, version: u64) -> PlatformError {
    PlatformError::NotFound(format!("app {app:?} has no release v{version}"))
}

fn release_model(r: &ReleaseRow, current: Option<u64>, with_config: bool) -> model::Release {
    model::Release {
        version: r.version,
        created_at: clock::rfc3339(r.created_at),
        description: r.description.clone(),
        status: r.status.as_str().to_owned(),
        current: current == Some(r.version),
        slug: r.slug.as_ref().map(|s| model::Slug {
            id: s.id.clone(),
            source: s.source.clone(),
            process_types: s.process_types.clone(),
        }),
        config: with_config.then(|| r.config.clone()),
    }
}

/// Parses `sleep_after`: a duration from `min` (`sleep.min_sleep_after`) to 30 days.
pub fn parse_sleep_after(text: &str, min: Duration) -> Result<Duration, PlatformError> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| invalid("sleep_after", format!("{text:?} is not a duration like \"30m\" or \"2h\" ({e})")))?;
    if d < min || d > Duration::from_secs(30 * 24 * 3600) {
        return Err(invalid(
            "sleep_after",
            format!("{text:?} must be between {} (sleep.min_sleep_after) and 30 days", clock::human(min)),
        ));
    }
    Ok(d)
}

/// Checks a config var: a shell-style name, a bounded value without NUL.
pub fn check_var(key: &str, value: Option<&str>) -> Result<(), PlatformError> {
    let ok = !key.is_empty()
        && key.len() <= 255
        && !key.as_bytes()[0].is_ascii_digit()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(invalid(
            key,
            format!("{key:?} is not a config var name: use letters, digits and '_', not starting with a digit"),
        ));
    }
    if RESERVED_VARS.contains(&key) {
        return Err(invalid(key, format!("{key} is set by the runtime for each process")));
    }
    if let Some(value) = value {
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid(key, format!("the value is longer than {MAX_VALUE_BYTES} bytes")));
        }
        if value.contains('\0') {
            return Err(invalid(key, "the value contains a NUL byte"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_var_names_and_values() {
        assert!(check_var("DATABASE_URL", Some("postgres://x")).is_ok());
        assert!(check_var("_x1", None).is_ok());
        for bad in ["", "1A", "A-B", "A B", "PORT", "DYNO"] {
            assert!(check_var(bad, Some("v")).is_err(), "{bad:?}");
        }
        assert!(check_var("A", Some("a\0b")).is_err());
        assert!(check_var("A", Some(&"x".repeat(MAX_VALUE_BYTES + 1))).is_err());
    }

    #[test]
    fn sleep_after_is_bounded() {
        let min = Duration::from_secs(60);
        assert_eq!(parse_sleep_after("30m", min).unwrap(), Duration::from_secs(1800));
        for bad in ["", "soon", "0s", "59s", "31days"] {
            assert!(parse_sleep_after(bad, min).is_err(), "{bad:?}");
        }
        assert!(parse_sleep_after("1s", Duration::from_secs(1)).is_ok());
    }
}
