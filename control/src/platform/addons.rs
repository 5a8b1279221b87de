//! Add-ons: creating one (asynchronously: `provisioning`, then `ready` and a release with
//! its config vars, or `failed` with nothing left of it), listing and showing them,
//! destroying one (a release without its vars, then everything on its server goes), and
//! at start putting right what a previous run left halfway.
//!
//! Crash safety comes from the order: the record (with its name and server) is written
//! before anything is made on the server, and deleted only after everything there is
//! gone. So whatever a killed control plane left is either recorded as `provisioning` or
//! `deprovisioning` (removed at the next start), or found on the servers by its naming
//! and matched with no record (reported and removed).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::backups::Busy;
use super::releases::DETACH;
use super::{Platform, PlatformError, conflict, invalid};
use crate::addons::provider::Spec;
use crate::addons::{AddonError, Kind, Provider, Resource, naming};
use crate::clock;
use crate::model;
use crate::store::{AddonRow, AddonState, AppRow, NewAddon, StoreError};

impl Platform {
    /// Creates an add-on of `app`: recorded as `provisioning` at once, made in the
    /// background; with `wait`, answers once it is ready (or failed).
    pub async fn create_addon(
        self: &Arc<Self>,
        app_name: &str,
        new: model::NewAddon,
        wait: bool,
    ) -> Result<model::Addon, PlatformError> {
        let kind = Kind::parse(&new.kind)
            .ok_or_else(|| invalid("kind", format!("{:?} is not a kind of add-on: use postgres or redis", new.kind)))?;
        let plan = new.plan.unwrap_or_else(|| self.providers.default_plan(kind).to_owned());
        if self.providers.get(kind, &plan).is_none() {
            return Err(invalid("plan", format!("{kind} has no plan {plan:?} (addons.{kind}.plans)")));
        }
        // No server for the kind: refused before anything else.
        self.provider(kind, &plan)?;
        if let Some(name) = &new.name {
            naming::check(name).map_err(|p| invalid("name", p))?;
        }
        let app = self.app_row(app_name).await?;
        let config = self.current_release(&app).await?.config;
        let row = self.record_addon(&app, kind, &plan, new.name.as_deref(), None, &config).await?;
        let provisioning = addon_model(&row, None);
        let platform = self.clone();
        // Spawned: provisioning goes on even if the client that asked goes away.
        let task = tokio::spawn(async move { platform.provision(row).await });
        if !wait {
            return Ok(provisioning);
        }
        task.await.map_err(|e| PlatformError::Unavailable(format!("provisioning stopped: {e}")))?
    }

    /// Places an add-on of `app` on a server and records it as provisioning (before
    /// anything is made). Its vars are `attachment`'s, else `DATABASE_URL` / `REDIS_URL`
    /// for the first of a kind (unless `config`, the app's, already sets that var: then,
    /// as for further ones, they are named after the add-on).
    pub(super) async fn record_addon(
        &self,
        app: &AppRow,
        kind: Kind,
        plan: &str,
        name: Option<&str>,
        attachment: Option<&str>,
        config: &BTreeMap<String, String>,
    ) -> Result<AddonRow, PlatformError> {
        let provider = self.provider(kind, plan)?;
        let server = self.place(kind, provider.as_ref()).await?;
        let first = naming::default_attachment(kind);
        let mut attempt = 0;
        let row = loop {
            let addon_name = name.map_or_else(|| naming::generate(kind.as_str()), str::to_owned);
            let other = attachment.map_or_else(|| naming::named_attachment(&addon_name), str::to_owned);
            let first = match attachment {
                Some(given) => given,
                None if config.contains_key(&naming::var(first, "url")) => other.as_str(),
                None => first,
            };
            let record = NewAddon {
                app_id: app.id,
                name: &addon_name,
                kind: kind.as_str(),
                plan,
                server: &server,
                first_attachment: first,
                other_attachment: &other,
            };
            match self.store.create_addon(record, clock::now_ms()).await {
                Ok(row) => break row,
                // A generated name that is taken: draw another.
                Err(StoreError::Conflict(_)) if name.is_none() && attempt < 5 => attempt += 1,
                Err(e) => return Err(conflict(e)),
            }
        };
        self.logs.event(&app.name, "", format!("Add-on {} ({kind}, plan {plan}) provisioning on {server}", row.name));
        Ok(row)
    }

    /// The provider of the kind's plan, if it has a server.
    pub(super) fn provider(&self, kind: Kind, plan: &str) -> Result<&Arc<dyn Provider>, PlatformError> {
        match self.providers.get(kind, plan) {
            Some(p) if !p.servers().is_empty() => Ok(p),
            _ => Err(PlatformError::Addon(AddonError::NoServer { kind })),
        }
    }

    /// The kind's server holding the fewest add-ons (the first such in the config).
    async fn place(&self, kind: Kind, provider: &dyn Provider) -> Result<String, PlatformError> {
        let counts = self.store.addons_per_server(kind.as_str()).await?;
        provider
            .servers()
            .into_iter()
            .min_by_key(|s| counts.get(s).copied().unwrap_or(0))
            .ok_or(PlatformError::Addon(AddonError::NoServer { kind }))
    }

    /// Makes the add-on on its server, then (under the app's lock) marks it ready and
    /// makes a release with its vars. Any failure leaves nothing on the server and the
    /// record `failed`, with why.
    async fn provision(self: Arc<Self>, row: AddonRow) -> Result<model::Addon, PlatformError> {
        let kind = Kind::parse(&row.kind).unwrap_or(Kind::Postgres);
        let provider = self.provider(kind, &row.plan)?.clone();
        let resource = Resource { name: row.name.clone(), server: row.server.clone() };
        let config = match self.make_addon(&row).await {
            Ok(config) => config,
            Err(e) => return Err(self.addon_failed(&row, e).await),
        };
        let _lock = self.lock(&row.app).await;
        // The app (and so the record) may have been destroyed meanwhile.
        let app = match self.store.addon(&row.name).await? {
            Some(current) if current.state == AddonState::Provisioning => self.app_row(&row.app).await?,
            _ => {
                self.remove_quietly(provider.as_ref(), &resource).await;
                return Err(PlatformError::NotFound(format!("add-on {:?} was destroyed while provisioning", row.name)));
            }
        };
        let current = self.current_release(&app).await?;
        let mut release_config = current.config.clone();
        release_config.extend(config.clone());
        let names: Vec<&str> = config.keys().map(String::as_str).collect();
        let description = format!("Attach {} ({})", row.name, names.join(", "));
        if let Err(e) = self.release(&app, current.slug.as_ref(), &release_config, &description).await {
            self.remove_quietly(provider.as_ref(), &resource).await;
            return Err(self.addon_failed(&row, e).await);
        }
        self.store.addon_ready(row.id, &config).await?;
        self.logs.event(&app.name, "", format!("Add-on {} is ready", row.name));
        tracing::info!(app = %app.name, addon = %row.name, kind = %kind, server = %row.server, "add-on ready");
        let row = self.store.addon(&row.name).await?.ok_or_else(|| no_addon(&row.name))?;
        Ok(addon_model(&row, None))
    }

    /// Makes a recorded add-on on its server, within `addons.timeout`; its config vars.
    /// A failure (or the timeout) leaves nothing on the server.
    pub(super) async fn make_addon(&self, row: &AddonRow) -> Result<BTreeMap<String, String>, PlatformError> {
        let kind = Kind::parse(&row.kind).unwrap_or(Kind::Postgres);
        let provider = self.provider(kind, &row.plan)?;
        let resource = Resource { name: row.name.clone(), server: row.server.clone() };
        let made = tokio::time::timeout(
            self.config.addons.timeout,
            provider.provision(Spec { resource: &resource, plan: &row.plan }),
        )
        .await
        .unwrap_or_else(|_| {
            Err(AddonError::Server {
                kind,
                server: row.server.clone(),
                what: "provisioning".into(),
                problem: format!("not done within {} (addons.timeout)", clock::human(self.config.addons.timeout)),
            })
        });
        match made {
            Ok(vars) => {
                Ok(vars.iter().map(|(what, value)| (naming::var(&row.attachment, what), value.clone())).collect())
            }
            Err(e) => {
                // Nothing half-made: remove what the steps before the failure (or the
                // timeout) made.
                self.remove_quietly(provider.as_ref(), &resource).await;
                Err(e.into())
            }
        }
    }

    /// Records the failure; the error to answer with.
    async fn addon_failed(&self, row: &AddonRow, error: PlatformError) -> PlatformError {
        let message = error.to_string();
        tracing::warn!(app = %row.app, addon = %row.name, error = %message, "add-on provisioning failed");
        self.logs.event(&row.app, "", format!("Add-on {} failed: {message}", row.name));
        if let Err(e) = self.store.set_addon_state(row.id, AddonState::Failed, Some(&message)).await {
            return e.into();
        }
        error
    }

    /// Removes an add-on from its server, logging (not returning) a failure.
    async fn remove_quietly(&self, provider: &dyn Provider, resource: &Resource) {
        if let Err(e) = self.deprovision(provider, resource).await {
            tracing::warn!(addon = %resource.name, error = %e, "cannot remove the add-on from its server");
        }
    }

    /// Removes an add-on from its server, within `addons.timeout`.
    async fn deprovision(&self, provider: &dyn Provider, resource: &Resource) -> Result<(), AddonError> {
        let timeout = self.config.addons.timeout;
        tokio::time::timeout(timeout, provider.deprovision(resource)).await.unwrap_or_else(|_| {
            Err(AddonError::Server {
                kind: provider.kind(),
                server: resource.server.clone(),
                what: "removing the add-on".into(),
                problem: format!("not done within {} (addons.timeout)", clock::human(timeout)),
            })
        })
    }

    /// The app's add-ons.
    pub async fn addons(&self, app_name: &str) -> Result<Vec<model::Addon>, PlatformError> {
        let app = self.app_row(app_name).await?;
        Ok(self.store.addons_of(app.id).await?.iter().map(|row| addon_model(row, None)).collect())
    }

    /// One add-on, with facts from its server.
    pub async fn addon(&self, name: &str) -> Result<model::Addon, PlatformError> {
        let row = self.store.addon(name).await?.ok_or_else(|| no_addon(name))?;
        let info = match (row.state, Kind::parse(&row.kind).and_then(|k| self.providers.get(k, &row.plan))) {
            (AddonState::Ready, Some(provider)) => {
                let resource = Resource { name: row.name.clone(), server: row.server.clone() };
                let asked =
                    tokio::time::timeout(self.config.addons.connect_timeout * 2, provider.info(&resource)).await;
                Some(match asked {
                    Ok(Ok(info)) => info,
                    Ok(Err(e)) => BTreeMap::from([("unavailable".to_owned(), e.to_string())]),
                    Err(_) => BTreeMap::from([("unavailable".to_owned(), "the server did not answer".to_owned())]),
                })
            }
            _ => None,
        };
        Ok(addon_model(&row, info))
    }

    /// Destroys an add-on: a release without its vars, then everything of it on its server.
    pub async fn destroy_addon(&self, name: &str) -> Result<(), PlatformError> {
        let row = self.store.addon(name).await?.ok_or_else(|| no_addon(name))?;
        let _lock = self.lock(&row.app).await;
        let row = self.store.addon(name).await?.ok_or_else(|| no_addon(name))?;
        // A backup or restore running: refused before anything changes.
        let busy = self.backup_jobs.take(name)?;
        if row.state == AddonState::Provisioning {
            return Err(PlatformError::Conflict(format!(
                "add-on {name:?} is still provisioning: destroy it once it is ready or failed"
            )));
        }
        let app = self.app_row(&row.app).await?;
        let current = self.current_release(&app).await?;
        let owned: Vec<&String> = row.config.keys().filter(|k| current.config.contains_key(*k)).collect();
        if !owned.is_empty() {
            let mut config = current.config.clone();
            config.retain(|k, _| !row.config.contains_key(k));
            let names: Vec<&str> = owned.iter().map(|k| k.as_str()).collect();
            let description = format!("{DETACH}{name} ({})", names.join(", "));
            self.release(&app, current.slug.as_ref(), &config, &description).await?;
        }
        self.store.set_addon_state(row.id, AddonState::Deprovisioning, None).await?;
        self.remove_addon(&row, &busy).await?;
        self.logs.event(&app.name, "", format!("Add-on {name} destroyed"));
        Ok(())
    }

    /// Removes the add-on from its server and deletes its record; a failure is kept in the
    /// record (the next start tries again) and returned.
    /// `_busy`: the add-on is marked busy, so no backup or restore of it starts meanwhile.
    pub(super) async fn remove_addon(&self, row: &AddonRow, _busy: &Busy) -> Result<(), PlatformError> {
        let resource = Resource { name: row.name.clone(), server: row.server.clone() };
        if let Some(provider) = Kind::parse(&row.kind).and_then(|k| self.providers.get(k, &row.plan))
            && let Err(e) = self.deprovision(provider.as_ref(), &resource).await
        {
            self.store.set_addon_state(row.id, AddonState::Deprovisioning, Some(&e.to_string())).await?;
            return Err(e.into());
        }
        // Nothing of the app's data is left: its backups go too (their records with it).
        self.remove_backup_files(&row.name)?;
        self.store.delete_addon(row.id).await?;
        tracing::info!(app = %row.app, addon = %row.name, server = %row.server, "add-on removed");
        Ok(())
    }

    /// The config vars the app's add-ons inject, with the add-on of each.
    pub(super) async fn addon_vars(&self, app_id: i64) -> Result<BTreeMap<String, String>, PlatformError> {
        let mut owners = BTreeMap::new();
        for row in self.store.addons_of(app_id).await? {
            for key in row.config.keys() {
                owners.insert(key.clone(), row.name.clone());
            }
        }
        Ok(owners)
    }

    /// At start: dedicated plans' servers start again, what a previous run left halfway
    /// (add-ons recorded as provisioning or deprovisioning) is removed, and what this control plane made on its servers with no
    /// record is reported and removed. Runs in the background: a server that is down
    /// delays only this.
    pub(super) fn reconcile_addons(self: &Arc<Self>, left: Vec<AddonRow>) {
        let platform = self.clone();
        tokio::spawn(async move {
            for row in left {
                if row.state == AddonState::Ready {
                    // A dedicated plan's server starts again (shared servers need nothing).
                    let resource = Resource { name: row.name.clone(), server: row.server.clone() };
                    if let Some(provider) = Kind::parse(&row.kind).and_then(|k| platform.providers.get(k, &row.plan))
                        && let Err(e) = provider.resume(Spec { resource: &resource, plan: &row.plan }).await
                    {
                        tracing::error!(app = %row.app, addon = %row.name, error = %e, "cannot start the add-on's server");
                    }
                    continue;
                }
                let what = match row.state {
                    AddonState::Provisioning => "half-made by a previous run",
                    AddonState::Deprovisioning => "half-removed by a previous run",
                    _ => continue,
                };
                let removed = match platform.backup_jobs.take(&row.name) {
                    Ok(busy) => platform.remove_addon(&row, &busy).await,
                    Err(e) => Err(e),
                };
                match removed {
                    Ok(()) => {
                        tracing::warn!(app = %row.app, addon = %row.name, server = %row.server, "add-on {what}: removed");
                        platform.logs.event(&row.app, "", format!("Add-on {} was {what}: removed", row.name));
                    }
                    Err(e) => tracing::error!(addon = %row.name, error = %e, "cannot remove an add-on {what}"),
                }
            }
            for provider in platform.providers.all() {
                for server in provider.servers() {
                    // What is on the server first, then the records: a record is always
                    // written before its add-on is made, so nothing being made now is
                    // mistaken for a leftover.
                    let made = match provider.made(&server).await {
                        Ok(made) => made,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot look for leftover add-ons");
                            continue;
                        }
                    };
                    let known: Vec<String> = match platform.store.all_addons().await {
                        Ok(rows) => rows.into_iter().map(|r| r.name).collect(),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot look for leftover add-ons");
                            return;
                        }
                    };
                    for orphan in made.into_iter().filter(|r| !known.contains(&r.name)) {
                        tracing::warn!(kind = %provider.kind(), addon = %orphan.name, server = %orphan.server, "leftover add-on with no record: removing it");
                        platform.remove_quietly(provider.as_ref(), &orphan).await;
                    }
                }
            }
        });
    }
}

pub(super) fn no_addon(name: &str) -> PlatformError {
    PlatformError::NotFound(format!("add-on {name:?} not found"))
}

/// The API's view of a row.
pub(super) fn addon_model(row: &AddonRow, info: Option<BTreeMap<String, String>>) -> model::Addon {
    model::Addon {
        name: row.name.clone(),
        app: row.app.clone(),
        kind: row.kind.clone(),
        plan: row.plan.clone(),
        state: row.state.as_str().to_owned(),
        server: row.server.clone(),
        config_vars: row.config.keys().cloned().collect(),
        error: row.error.clone(),
        created_at: clock::rfc3339(row.created_at),
        info,
    }
}
