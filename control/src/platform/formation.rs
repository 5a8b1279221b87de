//! The formation: the process types of the live release with their counts, scaling them,
//! the app's processes (dynos) and restarting them.

use std::collections::BTreeMap;

use super::{Platform, PlatformError, invalid};
use crate::model;
use crate::runtime::{RestartTarget, RuntimeError};
use crate::slug;
use crate::store::ReleaseRow;

/// Most processes of one type.
pub const MAX_QUANTITY: u32 = 100;

impl Platform {
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
        // Apply, then store: the stored formation is always what runs (or, for a sleeping
        // app, what runs once it wakes).
        let stored = self.store.formation(app.id).await?;
        let mut formation = stored.clone();
        formation.extend(scale.iter().map(|(t, n)| (t.clone(), *n)));
        if !app.sleeping {
            self.runtime
                .apply(self.plan(&app, &release, formation.clone()))
                .await
                .map_err(PlatformError::ScaleFailed)?;
        }
        if let Err(e) = self.store.set_formation(app.id, &scale).await {
            if !app.sleeping
                && let Err(back) = self.runtime.apply(self.plan(&app, &release, stored)).await
            {
                tracing::error!(app = name, error = %back, "cannot return to the stored formation");
            }
            return Err(e.into());
        }
        let counts: Vec<String> = scale.iter().map(|(t, n)| format!("{t}={n}")).collect();
        self.logs.event(name, "", format!("Scaled to {}", counts.join(", ")));
        Ok(process_types(&release, &formation))
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
