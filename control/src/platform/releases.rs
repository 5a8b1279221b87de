//! Releases: making one live (the switch every release goes through), listing and showing
//! them, deploying a source (fetch, build, release) and rolling back.

use std::collections::{BTreeMap, BTreeSet};

use super::{Platform, PlatformError, Source, invalid};
use crate::build::BuildOutput;
use crate::clock;
use crate::deploy;
use crate::model;
use crate::runtime::RuntimeError;
use crate::slug;
use crate::store::{AppRow, NewRelease, ReleaseRow, ReleaseStatus, SlugRow};

/// The Procfile's process type run once per release, before its processes start.
pub const RELEASE_TYPE: &str = "release";

/// How the release an add-on's destroy makes is described: `Detach <add-on> (<vars>)`.
pub(super) const DETACH: &str = "Detach ";

impl Platform {
    /// Creates a release of `app` and makes it live (the caller holds the app's lock).
    pub(super) async fn release(
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
        // The release phase runs first, also for an app that is asleep: migrations must
        // have run before any of the release's processes serve.
        if let Some(command) = slug.and_then(|s| s.process_types.get(RELEASE_TYPE)) {
            let plan = self.plan(app, &release, BTreeMap::new());
            if let Err(error) = self.runtime.release_phase(&app.name, &plan.release, command).await {
                return Err(self.release_failed(app, version, error).await);
            }
        }
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
                Err(error) => return Err(self.release_failed(app, version, error).await),
            }
        }
        self.touch(&app.name);
        // Settled as succeeded just above: it was pending (made under the app's lock, and
        // only the start-up sweep fails pending releases), so it is live now.
        Ok(ReleaseRow { status: ReleaseStatus::Succeeded, ..release })
    }

    /// Marks release `version` failed and logs it: the previous release keeps running.
    /// The error to return (the store's, if marking it failed did not work).
    async fn release_failed(&self, app: &AppRow, version: u64, error: RuntimeError) -> PlatformError {
        if let Err(e) = self.store.finish_release(app.id, version, ReleaseStatus::Failed).await {
            return e.into();
        }
        let previous = app.current_release.unwrap_or(1);
        self.logs.event(&app.name, "", format!("Release v{version} failed: {error}; v{previous} keeps running"));
        PlatformError::ReleaseFailed { error, previous }
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
        let fetched = self.fetch(source).await?;
        let built = self.builder.build(name, &fetched.root).await?;
        let _lock = self.lock(name).await;
        // Re-read under the lock: the app may have been destroyed or released meanwhile.
        let app = self.app_row(name).await?;
        let slug = self.install_slug(&app, fetched, built).await?;
        let current = self.current_release(&app).await?;
        let description = format!("Deploy {}", slug.source.short());
        let release = self.release(&app, Some(&slug), &current.config, &description).await?;
        Ok(release_model(&release, Some(release.version), false))
    }

    /// Fetches a deploy's source into a temporary directory.
    pub(super) async fn fetch(&self, source: Source) -> Result<deploy::Fetched, PlatformError> {
        let d = &self.config.deploy;
        Ok(match source {
            Source::Tarball { file, sha256 } => {
                deploy::from_tarball(&self.slugs, file, sha256, d.max_source_bytes).await?
            }
            Source::Git(git) => {
                deploy::from_git(&self.slugs, &d.git, &git.url, git.reference.as_deref(), d.git_timeout).await?
            }
        })
    }

    /// Installs a built source as a slug of `app` and records it, with its process types
    /// (the caller holds the app's lock).
    pub(super) async fn install_slug(
        &self,
        app: &AppRow,
        fetched: deploy::Fetched,
        built: BuildOutput,
    ) -> Result<SlugRow, PlatformError> {
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
        // The release phase is no process type of the formation.
        let types: Vec<String> = slug.process_types.keys().filter(|t| t.as_str() != RELEASE_TYPE).cloned().collect();
        self.store.add_process_types(app.id, types.iter()).await?;
        Ok(slug)
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
        // Add-ons are not rolled back: their vars stay as they are now, and the vars of
        // add-ons destroyed since the target (their servers' roles and users are gone) do
        // not come back.
        let mut config = release.config.clone();
        let dead = detached_since(&self.store.releases(app.id).await?, target);
        config.retain(|k, v| !dead.contains(&(k.clone(), v.clone())));
        for addon in self.store.addons_of(app.id).await? {
            config.extend(addon.config);
        }
        let made = self.release(&app, release.slug.as_ref(), &config, &description).await?;
        Ok(release_model(&made, Some(made.version), false))
    }
}

/// The vars that add-on destroys after release `target` took away (the pairs each
/// [`DETACH`] release removed from the release it was made from), in `releases`.
fn detached_since(releases: &[ReleaseRow], target: u64) -> BTreeSet<(String, String)> {
    let mut dead = BTreeSet::new();
    for detach in releases.iter().filter(|r| r.version > target && r.description.starts_with(DETACH)) {
        // Made from the live release then: the newest succeeded one before it.
        let before = releases
            .iter()
            .filter(|r| r.version < detach.version && r.status == ReleaseStatus::Succeeded)
            .max_by_key(|r| r.version);
        if let Some(before) = before {
            let removed = before.config.iter().filter(|(k, _)| !detach.config.contains_key(*k));
            dead.extend(removed.map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    dead
}

fn no_release(app: &str, version: u64) -> PlatformError {
    PlatformError::NotFound(format!("app {app:?} has no release v{version}"))
}

pub(super) fn release_model(r: &ReleaseRow, current: Option<u64>, with_config: bool) -> model::Release {
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
