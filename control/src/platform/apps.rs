//! Apps: create, list, show, change the settings of and destroy them; and the rule for
//! `sleep_after`.

use std::time::Duration;

use super::{Platform, PlatformError, conflict, invalid};
use crate::clock;
use crate::model;
use crate::store::{AddonState, AppRow};

impl Platform {
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

    pub(super) async fn app_model(&self, app: &AppRow) -> Result<model::App, PlatformError> {
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

    /// Destroys an app: removes its add-ons from their servers (a failure stops here,
    /// so nothing is left behind unrecorded), stops its processes, removes its routes,
    /// state and slugs.
    pub async fn destroy_app(&self, name: &str) -> Result<(), PlatformError> {
        let _lock = self.lock(name).await;
        let app = self.app_row(name).await?;
        self.remove_app(&app).await?;
        self.logs.event(name, "", "App destroyed".into());
        Ok(())
    }

    /// Everything of `app` goes: its add-ons (a failure stops here), processes, routes,
    /// state and slugs (the caller holds the app's lock).
    pub(super) async fn remove_app(&self, app: &AppRow) -> Result<(), PlatformError> {
        let name = app.name.as_str();
        let addons = self.store.addons_of(app.id).await?;
        // A backup or restore of one running: refused before anything changes.
        let busy = addons.iter().map(|a| self.backup_jobs.take(&a.name)).collect::<Result<Vec<_>, _>>()?;
        for (addon, busy) in addons.iter().zip(&busy) {
            self.store.set_addon_state(addon.id, AddonState::Deprovisioning, None).await?;
            self.remove_addon(addon, busy).await?;
            self.logs.event(name, "", format!("Add-on {} destroyed", addon.name));
        }
        self.runtime.stop(name).await;
        self.routes.remove_app(name);
        self.store.delete_app(app.id).await?;
        let slugs = self.slugs.clone();
        let owned = name.to_owned();
        let _ = tokio::task::spawn_blocking(move || slugs.remove_app(&owned)).await;
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
        Ok(())
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
