//! `slipway releases ...`.

use http::Method;

use super::args::{ReleasesCommand, parse_version};
use super::ctx::Ctx;
use super::error::CliError;
use super::output::pairs;
use crate::model::{Release, Rollback};

pub(super) async fn run(ctx: &Ctx, command: Option<ReleasesCommand>) -> Result<(), CliError> {
    let app = ctx.app()?;
    match command.unwrap_or(ReleasesCommand::List) {
        ReleasesCommand::List => {
            let releases: Vec<Release> =
                ctx.client.call(Method::GET, &format!("/v1/apps/{app}/releases"), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&releases);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = releases
                .iter()
                .map(|r| vec![format!("v{}", r.version), state(r), r.created_at.clone(), r.description.clone()])
                .collect();
            ctx.out.table(&["RELEASE", "STATE", "CREATED", "DESCRIPTION"], &rows);
        }
        ReleasesCommand::Info { release } => {
            let version = parse_version(&release)?;
            let release: Release =
                ctx.client.call(Method::GET, &format!("/v1/apps/{app}/releases/{version}"), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&release);
                return Ok(());
            }
            let (source, processes) = match &release.slug {
                Some(slug) => (
                    slug.source.short(),
                    slug.process_types.iter().map(|(t, c)| format!("{t}: {c}")).collect::<Vec<_>>().join("; "),
                ),
                None => ("none".into(), "none".into()),
            };
            let keys = release
                .config
                .as_ref()
                .map(|c| c.keys().cloned().collect::<Vec<_>>().join(", "))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "none".into());
            ctx.out.line(&format!("=== {app} v{}", release.version));
            ctx.out.text(&pairs(&[
                ("Description", release.description.clone()),
                ("State", state(&release)),
                ("Created", release.created_at.clone()),
                ("Source", source),
                ("Processes", processes),
                ("Config vars", keys),
            ]));
        }
        ReleasesCommand::Rollback { release } => {
            let version = release.as_deref().map(parse_version).transpose()?;
            let release: Release = ctx
                .client
                .call(Method::POST, &format!("/v1/apps/{app}/releases/rollback"), Some(&Rollback { version }))
                .await?;
            if ctx.json {
                ctx.out.json(&release);
            } else {
                ctx.out.line(&format!("{} of {app}: release v{} is live", release.description, release.version));
            }
        }
    }
    Ok(())
}

/// `live`, or the release's status.
fn state(release: &Release) -> String {
    if release.current { "live".into() } else { release.status.clone() }
}
