//! App setups (Heroku's `POST /app-setups`): an app made in one go from a source whose
//! root may hold an `app.json` ([`crate::app_json`]), all or nothing.
//!
//! The flow, each step only once the ones before it worked:
//!
//! 1. without making anything: check the name and the overrides, fetch and build the
//!    source, read `app.json`, resolve its config vars (every required one without a
//!    value is named in one error) and check its formation against the Procfile and its
//!    add-ons against the configured servers;
//! 2. under the new app's lock: create the app; make each add-on on its server (recorded
//!    first, as every add-on is) and wait until it is ready; install the slug, set the
//!    formation and make the release with the config vars and the add-ons' URLs (the
//!    release phase runs, then the processes start, as for any deploy); run
//!    `scripts.postdeploy` once with that release's code and config (source and dyno
//!    `postdeploy` in the app's log).
//!
//! A failure in step 2 removes everything made so far — processes, routes, add-ons on
//! their servers, the app's records and slugs — as destroying the app does, and the error
//! names the step. The setup runs in a task of its own, so a client that goes away does
//! not stop it halfway. A control plane killed during a setup finishes the undoing at its
//! next start: the app is marked as being set up until the end ([`Platform::restore`]
//! removes apps still marked, and then their add-ons as leftovers on their servers).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config_vars::check_var;
use super::releases::{RELEASE_TYPE, release_model};
use super::{Platform, PlatformError, Source, conflict, invalid};
use crate::addons::AddonError;
use crate::app_json::{self, AddonSpec, AppJson, EnvError};
use crate::build::BuildOutput;
use crate::clock;
use crate::deploy::Fetched;
use crate::model;
use crate::store::{AddonRow, AppRow};

/// What a setup will do, checked before anything is made.
#[derive(Debug)]
struct Plan {
    /// The config vars (add-ons' URLs come on top).
    env: BTreeMap<String, String>,
    /// The vars made by `generator: secret`.
    generated: Vec<String>,
    /// Each add-on with the plan it gets.
    addons: Vec<(AddonSpec, String)>,
    /// Process counts.
    formation: BTreeMap<String, u32>,
    /// `scripts.postdeploy`.
    postdeploy: Option<String>,
    /// Where the setup differs from what `app.json` says.
    notes: Vec<String>,
}

/// A step of a setup that failed, and why.
type Failed = (String, PlatformError);

impl Platform {
    /// Creates app `name` from `source` as its `app.json` asks, with `overrides` for its
    /// config vars; answers once the app is up (or with the error, once everything the
    /// setup made is removed again).
    pub async fn setup_app(
        self: &Arc<Self>,
        name: String,
        source: Source,
        overrides: BTreeMap<String, String>,
    ) -> Result<model::AppSetup, PlatformError> {
        let platform = self.clone();
        // Spawned: a setup goes on to its end (or its undoing) even if the client goes.
        tokio::spawn(async move { platform.setup(name, source, overrides).await })
            .await
            .map_err(|e| PlatformError::Unavailable(format!("the setup stopped: {e}")))?
    }

    async fn setup(
        &self,
        name: String,
        source: Source,
        overrides: BTreeMap<String, String>,
    ) -> Result<model::AppSetup, PlatformError> {
        slipway_config::app_name::check(&name).map_err(|p| invalid("name", p))?;
        for (key, value) in &overrides {
            check_var(key, Some(value)).map_err(|e| renamed(e, &format!("overrides.env.{key}")))?;
        }
        if self.store.app(&name).await?.is_some() {
            return Err(PlatformError::Conflict(format!("an app named {name:?} already exists")));
        }
        let fetched = self.fetch(source).await?;
        let root = fetched.root.clone();
        let manifest = tokio::task::spawn_blocking(move || app_json::read(&root))
            .await
            .map_err(|e| invalid(app_json::FILE, format!("reading stopped: {e}")))?
            .map_err(|e| invalid(app_json::FILE, e.to_string()))?;
        let built = self.builder.build(&name, &fetched.root).await?;
        let plan = self.plan_setup(manifest.as_ref(), &built, &overrides)?;
        let _lock = self.lock(&name).await;
        let app = self.store.create_app_setting_up(&name, clock::now_ms()).await.map_err(conflict)?;
        self.routes.set_app(&app.name, Vec::new(), false);
        self.touch(&app.name);
        let described = manifest.as_ref().and_then(|m| m.name.clone().or(m.description.clone()));
        let message = match described {
            Some(what) => format!("App created by a setup from app.json ({what})"),
            None => "App created by a setup".to_owned(),
        };
        self.logs.event(&app.name, "", message);
        tracing::info!(app = %app.name, addons = plan.addons.len(), "app setup started");
        match self.setup_steps(&app, plan, fetched, built).await {
            Ok(done) => {
                tracing::info!(app = %app.name, "app setup done");
                Ok(done)
            }
            Err((step, error)) => Err(self.undo_setup(&app, step, error).await),
        }
    }

    /// Step 1's checks: what the setup will do.
    fn plan_setup(
        &self,
        manifest: Option<&AppJson>,
        built: &BuildOutput,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Plan, PlatformError> {
        let default = AppJson::default();
        let manifest = manifest.unwrap_or(&default);
        for (key, var) in &manifest.env {
            check_var(key, var.value.as_deref()).map_err(|e| in_app_json(e, &format!("env.{key}")))?;
        }
        let env = manifest.env(overrides).map_err(|e| match e {
            EnvError::Missing(keys) => PlatformError::MissingEnv(keys),
            EnvError::Random(e) => PlatformError::Unavailable(e),
        })?;
        let mut formation = BTreeMap::new();
        for (process_type, wanted) in &manifest.formation {
            let path = format!("formation.{process_type}");
            if process_type == RELEASE_TYPE || !built.process_types.contains_key(process_type) {
                let declared: Vec<&str> =
                    built.process_types.keys().map(String::as_str).filter(|t| *t != RELEASE_TYPE).collect();
                let problem =
                    format!("the Procfile declares no process type {process_type:?} (it has: {})", declared.join(", "));
                return Err(invalid(app_json::FILE, format!("{path}: {problem}")));
            }
            if let Some(quantity) = wanted.quantity {
                if quantity > super::formation::MAX_QUANTITY {
                    let max = super::formation::MAX_QUANTITY;
                    return Err(invalid(app_json::FILE, format!("{path}.quantity: at most {max} processes per type")));
                }
                formation.insert(process_type.clone(), quantity);
            }
        }
        let mut notes = Vec::new();
        let mut addons = Vec::new();
        for spec in &manifest.addons {
            let kind = spec.kind;
            let plan = match &spec.plan {
                Some(plan) if self.providers.get(kind, plan).is_some() => plan.clone(),
                asked => {
                    let plan = self.providers.default_plan(kind).to_owned();
                    if let Some(asked) = asked {
                        notes.push(format!("{}: {kind} has no plan {asked:?}, so it gets {plan:?}", spec.written));
                    }
                    plan
                }
            };
            // No server for the kind: refused before anything is made.
            self.provider(kind, &plan)?;
            addons.push((spec.clone(), plan));
        }
        let postdeploy = manifest.scripts.postdeploy.clone().filter(|s| !s.trim().is_empty());
        Ok(Plan { env: env.vars, generated: env.generated, addons, formation, postdeploy, notes })
    }

    /// Step 2 (the caller holds the app's lock): the first failure, with its step.
    async fn setup_steps(
        &self,
        app: &AppRow,
        plan: Plan,
        fetched: Fetched,
        built: BuildOutput,
    ) -> Result<model::AppSetup, Failed> {
        let mut config = plan.env;
        let mut rows = Vec::new();
        for (i, (spec, addon_plan)) in plan.addons.iter().enumerate() {
            let step = format!("add-on {} (app.json addons[{i}])", spec.written);
            let row = self
                .record_addon(app, spec.kind, addon_plan, None, spec.attachment.as_deref(), &config)
                .await
                .map_err(|e| (step.clone(), e))?;
            let vars = match self.make_addon(&row).await {
                Ok(vars) => vars,
                Err(e) => {
                    if unreached(&row, &e) {
                        // Its server could not be reached: nothing was made there, and
                        // removing it again cannot reach the server either.
                        if let Err(e) = self.store.delete_addon(row.id).await {
                            return Err((step, e.into()));
                        }
                    }
                    return Err((step, e));
                }
            };
            self.store.addon_ready(row.id, &vars).await.map_err(|e| (step.clone(), e.into()))?;
            self.logs.event(&app.name, "", format!("Add-on {} is ready", row.name));
            config.extend(vars);
            rows.push(row.name);
        }
        let deploy = |e: PlatformError| ("deploy".to_owned(), e);
        let slug = self.install_slug(app, fetched, built).await.map_err(deploy)?;
        if !plan.formation.is_empty() {
            self.store.set_formation(app.id, &plan.formation).await.map_err(|e| deploy(e.into()))?;
        }
        let description = format!("Set up from {}", slug.source.short());
        let release = self.release(app, Some(&slug), &config, &description).await.map_err(deploy)?;
        if let Some(command) = &plan.postdeploy {
            let run = self.plan(app, &release, BTreeMap::new());
            self.runtime.postdeploy(&app.name, &run.release, command).await.map_err(|error| {
                ("postdeploy".to_owned(), PlatformError::ReleaseFailed { error, previous: release.version })
            })?;
        }
        let step = |e: PlatformError| ("reading back what was made".to_owned(), e);
        self.store.finish_setup(app.id).await.map_err(|e| step(e.into()))?;
        let mut addons = Vec::new();
        for name in rows {
            let row = self.store.addon(&name).await.map_err(|e| step(e.into()))?;
            addons.extend(row.as_ref().map(|r| super::addons::addon_model(r, None)));
        }
        let app_row = self.app_row(&app.name).await.map_err(step)?;
        Ok(model::AppSetup {
            app: self.app_model(&app_row).await.map_err(step)?,
            release: release_model(&release, Some(release.version), false),
            addons,
            generated: plan.generated,
            postdeploy: plan.postdeploy.is_some(),
            notes: plan.notes,
        })
    }

    /// Removes everything a failed setup made; the error to answer with.
    async fn undo_setup(&self, app: &AppRow, step: String, error: PlatformError) -> PlatformError {
        let problem = match &error {
            // The app is removed, so "the previous release keeps running" would mislead.
            PlatformError::ReleaseFailed { error, .. } => error.to_string(),
            other => other.to_string(),
        };
        tracing::warn!(app = %app.name, %step, error = %problem, "app setup failed: removing what it made");
        self.logs.event(&app.name, "", format!("Setup failed at {step}: {problem}; removing the app"));
        let cleanup = match self.remove_app(app).await {
            Ok(()) => {
                self.logs.event(&app.name, "", "App removed".into());
                None
            }
            Err(e) => {
                tracing::error!(app = %app.name, error = %e, "cannot remove what a failed app setup made");
                Some(e.to_string())
            }
        };
        match error {
            // A failure of the control plane itself: answered as such (500).
            PlatformError::Store(_) if cleanup.is_none() => error,
            _ => PlatformError::SetupFailed { step, problem, cleanup },
        }
    }
}

/// Whether making `row` failed because its recorded server could not be reached (so
/// nothing of it is there).
fn unreached(row: &AddonRow, error: &PlatformError) -> bool {
    matches!(error, PlatformError::Addon(AddonError::Server { server, what, .. })
        if *server == row.server && what == "cannot connect")
}

/// An invalid-field error about `field` instead.
fn renamed(e: PlatformError, field: &str) -> PlatformError {
    match e {
        PlatformError::Invalid { problem, .. } => invalid(field, problem),
        other => other,
    }
}

/// An invalid-field error about key `path` of `app.json`.
fn in_app_json(e: PlatformError, path: &str) -> PlatformError {
    match e {
        PlatformError::Invalid { problem, .. } => invalid(app_json::FILE, format!("{path}: {problem}")),
        other => other,
    }
}
