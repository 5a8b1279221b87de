//! `slipway addons ...`: list an app's add-ons, create one (waiting for it to be ready
//! unless `--no-wait`), show one, destroy one; backups (`backups.rs`) and the clients
//! (`addon_clients.rs`) are their own files.

use http::Method;

use super::addon_clients::Client;
use super::args::AddonsCommand;
use super::ctx::Ctx;
use super::error::CliError;
use super::output::pairs;
use crate::model::{Addon, NewAddon};

pub(super) async fn run(ctx: &Ctx, command: Option<AddonsCommand>) -> Result<(), CliError> {
    match command.unwrap_or(AddonsCommand::List) {
        AddonsCommand::List => {
            let app = ctx.app()?;
            let addons: Vec<Addon> =
                ctx.client.call(Method::GET, &format!("/v1/apps/{app}/addons"), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&addons);
            } else if addons.is_empty() {
                ctx.out.line(&format!("{app} has no add-ons (hint: `slipway addons create postgres --app {app}`)"));
            } else {
                let rows: Vec<Vec<String>> = addons
                    .iter()
                    .map(|a| {
                        vec![a.name.clone(), a.kind.clone(), a.plan.clone(), a.state.clone(), a.config_vars.join(", ")]
                    })
                    .collect();
                ctx.out.table(&["NAME", "KIND", "PLAN", "STATE", "CONFIG VARS"], &rows);
            }
        }
        AddonsCommand::Create { kind, plan, name, no_wait } => {
            let app = ctx.app()?;
            let path = format!("/v1/apps/{app}/addons{}", if no_wait { "" } else { "?wait=true" });
            let addon: Addon = ctx.client.call(Method::POST, &path, Some(&NewAddon { kind, plan, name })).await?;
            if ctx.json {
                ctx.out.json(&addon);
            } else if addon.state == "ready" {
                ctx.out.line(&format!(
                    "Created {} ({}, plan {}) for {app}: {} set",
                    addon.name,
                    addon.kind,
                    addon.plan,
                    addon.config_vars.join(", ")
                ));
            } else {
                ctx.out.line(&format!(
                    "Creating {} ({}, plan {}) for {app}: {} (see `slipway addons info {}`)",
                    addon.name, addon.kind, addon.plan, addon.state, addon.name
                ));
            }
        }
        AddonsCommand::Info { name } => {
            let addon = get(ctx, &name).await?;
            if ctx.json {
                ctx.out.json(&addon);
            } else {
                show(ctx, &addon);
            }
        }
        AddonsCommand::Destroy { name, confirm } => {
            let addon = get(ctx, &name).await?;
            if confirm.as_deref() != Some(addon.app.as_str()) {
                return Err(CliError::usage(format!("destroying {name} deletes its data for good"))
                    .hint(format!("confirm with `--confirm {}` (the app's name)", addon.app)));
            }
            let _: serde_json::Value = ctx.client.call(Method::DELETE, &path(&name)?, None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&serde_json::json!({ "destroyed": name, "app": addon.app }));
            } else {
                ctx.out.line(&format!("Destroyed {name} of {}", addon.app));
            }
        }
        AddonsCommand::Backup { name } => super::backups::create(ctx, &name).await?,
        AddonsCommand::Backups { name } => super::backups::list(ctx, &name).await?,
        AddonsCommand::Restore { name, backup, confirm } => {
            super::backups::restore(ctx, &name, &backup, confirm.as_deref()).await?;
        }
        AddonsCommand::Psql { name, args } => super::addon_clients::run(ctx, Client::Psql, &name, &args).await?,
        AddonsCommand::RedisCli { name, args } => {
            super::addon_clients::run(ctx, Client::RedisCli, &name, &args).await?;
        }
    }
    Ok(())
}

/// The API path of add-on `name`; a usage error if it cannot be an add-on's name.
pub(super) fn path(name: &str) -> Result<String, CliError> {
    if crate::addons::naming::check(name).is_err() {
        return Err(CliError::usage(format!("{name:?} is not an add-on name")).hint("list them with `slipway addons`"));
    }
    Ok(format!("/v1/addons/{name}"))
}

async fn get(ctx: &Ctx, name: &str) -> Result<Addon, CliError> {
    ctx.client.call(Method::GET, &path(name)?, None::<&()>).await
}

fn show(ctx: &Ctx, addon: &Addon) {
    ctx.out.line(&format!("=== {}", addon.name));
    let mut lines = vec![
        ("App", addon.app.clone()),
        ("Kind", addon.kind.clone()),
        ("Plan", addon.plan.clone()),
        ("State", addon.state.clone()),
        ("Server", addon.server.clone()),
        ("Config vars", if addon.config_vars.is_empty() { "none".into() } else { addon.config_vars.join(", ") }),
        ("Created", addon.created_at.clone()),
    ];
    if let Some(error) = &addon.error {
        lines.push(("Error", error.clone()));
    }
    ctx.out.text(&pairs(&lines));
    if let Some(info) = &addon.info {
        let facts: Vec<(&str, String)> = info.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        ctx.out.text(&pairs(&facts));
    }
}
