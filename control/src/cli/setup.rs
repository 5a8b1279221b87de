//! `slipway apps create NAME --source URL [--ref REF] [--set KEY=VALUE]...` and
//! `... --source-dir DIR`: an app setup (`POST /v1/app-setups`), the app made from the
//! source as its `app.json` asks, all or nothing.

use std::path::PathBuf;

use base64::Engine;
use bytes::Bytes;
use http::Method;

use super::args::parse_pairs;
use super::ctx::Ctx;
use super::error::CliError;
use crate::model::{AppSetup, GitDeploy, NewAppSetup, SETUP_HEADER, SetupOverrides, setup_header_engine};

pub(super) async fn run(
    ctx: &Ctx,
    name: String,
    git: Option<(String, Option<String>)>,
    dir: Option<PathBuf>,
    set: &[String],
) -> Result<(), CliError> {
    let env = parse_pairs(set, "KEY=VALUE")?.into_iter().collect();
    let mut setup = NewAppSetup { name, source: None, overrides: SetupOverrides { env } };
    let made: AppSetup = match (git, dir) {
        (Some((url, reference)), _) => {
            setup.source = Some(GitDeploy { url, reference });
            ctx.client.call(Method::POST, "/v1/app-setups", Some(&setup)).await?
        }
        (None, Some(dir)) => {
            let tarball = super::deploy::pack(dir).await?;
            let json =
                serde_json::to_vec(&setup).map_err(|e| CliError::new(format!("cannot encode the setup: {e}")))?;
            let header = setup_header_engine().encode(json);
            ctx.client
                .call_with(
                    Method::POST,
                    "/v1/app-setups",
                    Some("application/gzip"),
                    &[(SETUP_HEADER, &header)],
                    Bytes::from(tarball),
                )
                .await?
        }
        (None, None) => return Err(CliError::usage("give --source URL or --source-dir DIR")),
    };
    if ctx.json {
        ctx.out.json(&made);
        return Ok(());
    }
    ctx.out.line(&format!(
        "Set up app {} ({}): release v{} is live",
        made.app.name, made.release.description, made.release.version
    ));
    for addon in &made.addons {
        ctx.out.line(&format!(
            "Add-on {} ({}, plan {}): {}",
            addon.name,
            addon.kind,
            addon.plan,
            addon.config_vars.join(", ")
        ));
    }
    if !made.generated.is_empty() {
        ctx.out.line(&format!("Generated secrets: {}", made.generated.join(", ")));
    }
    if made.postdeploy {
        ctx.out.line("Postdeploy script: succeeded");
    }
    for note in &made.notes {
        ctx.out.line(&format!("Note: {note}"));
    }
    ctx.out.line(&made.app.url);
    Ok(())
}
