//! `slipway deploy [DIR]` (packs the directory into a gzipped tarball and uploads it) and
//! `slipway deploy --git URL [--ref REF]` (the control plane clones it).

use bytes::Bytes;
use http::Method;

use super::args::DeployArgs;
use super::ctx::Ctx;
use super::error::CliError;
use crate::model::{App, GitDeploy, Release};

pub(super) async fn run(ctx: &Ctx, args: DeployArgs) -> Result<(), CliError> {
    let app = ctx.app()?;
    let path = format!("/v1/apps/{app}/deploys");
    let release: Release = match args.git {
        Some(url) => {
            let git = GitDeploy { url, reference: args.reference };
            ctx.client.call(Method::POST, &path, Some(&git)).await?
        }
        None => {
            let tarball = pack(args.dir).await?;
            ctx.client.call_raw(Method::POST, &path, Some("application/gzip"), Bytes::from(tarball)).await?
        }
    };
    if ctx.json {
        ctx.out.json(&release);
        return Ok(());
    }
    let info: App = ctx.client.call(Method::GET, &format!("/v1/apps/{app}"), None::<&()>).await?;
    let types = release
        .slug
        .as_ref()
        .map(|s| s.process_types.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    ctx.out.line(&format!(
        "Deployed {app}: release v{} is live ({}; processes: {types})",
        release.version, release.description
    ));
    ctx.out.line(&info.url);
    Ok(())
}

/// A source directory with a Procfile as the gzipped tarball a deploy or an app setup
/// uploads.
pub(super) async fn pack(dir: std::path::PathBuf) -> Result<Vec<u8>, CliError> {
    if !dir.join("Procfile").is_file() {
        return Err(CliError::usage(format!("{} has no Procfile", dir.display()))
            .hint("add one saying what to run, e.g. `web: python3 -m http.server $PORT`"));
    }
    let shown = dir.display().to_string();
    tokio::task::spawn_blocking(move || crate::slug::pack_dir(&dir))
        .await
        .map_err(|e| CliError::new(format!("packing stopped: {e}")))?
        .map_err(|e| CliError::new(format!("cannot pack {shown}: {e}")))
}
