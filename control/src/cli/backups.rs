//! `slipway addons backup NAME`, `slipway addons backups NAME` and
//! `slipway addons restore NAME BACKUP --confirm APP`: backups of PostgreSQL add-ons,
//! made and kept by the control plane.

use http::Method;

use super::ctx::Ctx;
use super::error::CliError;
use crate::model::{Addon, Backup};

/// `slipway addons backup NAME`: waits until the backup is complete.
pub(super) async fn create(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let path = format!("{}/backups", super::addons::path(name)?);
    let backup: Backup = ctx.client.call(Method::POST, &path, None::<&()>).await?;
    if ctx.json {
        ctx.out.json(&backup);
    } else {
        ctx.out.line(&format!("Backed up {name}: {} ({})", backup.id, size(backup.size)));
    }
    Ok(())
}

/// `slipway addons backups NAME`.
pub(super) async fn list(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let path = format!("{}/backups", super::addons::path(name)?);
    let backups: Vec<Backup> = ctx.client.call(Method::GET, &path, None::<&()>).await?;
    if ctx.json {
        ctx.out.json(&backups);
    } else if backups.is_empty() {
        ctx.out.line(&format!("{name} has no backups (hint: `slipway addons backup {name}`)"));
    } else {
        let rows: Vec<Vec<String>> = backups
            .iter()
            .map(|b| {
                vec![
                    b.id.clone(),
                    b.created_at.clone(),
                    b.state.clone(),
                    if b.state == "completed" { size(b.size) } else { String::new() },
                    if b.scheduled { "schedule".into() } else { "manual".into() },
                    b.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        ctx.out.table(&["ID", "CREATED", "STATE", "SIZE", "MADE BY", "ERROR"], &rows);
    }
    Ok(())
}

/// `slipway addons restore NAME BACKUP --confirm APP`.
pub(super) async fn restore(ctx: &Ctx, name: &str, backup: &str, confirm: Option<&str>) -> Result<(), CliError> {
    let addon: Addon = ctx.client.call(Method::GET, &super::addons::path(name)?, None::<&()>).await?;
    if confirm != Some(addon.app.as_str()) {
        return Err(CliError::usage(format!(
            "restoring {name} from {backup} replaces what its database has of what the backup holds"
        ))
        .hint(format!("confirm with `--confirm {}` (the app's name)", addon.app)));
    }
    if !backup.bytes().all(|b| b.is_ascii_alphanumeric()) || backup.is_empty() {
        return Err(CliError::usage(format!("{backup:?} is not a backup id like b001"))
            .hint(format!("list them with `slipway addons backups {name}`")));
    }
    let path = format!("{}/backups/{backup}/restore", super::addons::path(name)?);
    let restored: Backup = ctx.client.call(Method::POST, &path, None::<&()>).await?;
    if ctx.json {
        ctx.out.json(&restored);
    } else {
        ctx.out.line(&format!("Restored {name} of {} from {} ({})", addon.app, restored.id, restored.created_at));
    }
    Ok(())
}

/// A size for people: `12.3 MB`.
fn size(bytes: Option<u64>) -> String {
    let Some(bytes) = bytes else { return "-".into() };
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}
