//! `slipway apps ...` and `slipway open`.

use http::Method;

use super::args::AppsCommand;
use super::ctx::Ctx;
use super::error::CliError;
use super::output::pairs;
use crate::model::{App, AppPatch, LogToken, NewApp};

pub(super) async fn run(ctx: &Ctx, command: Option<AppsCommand>) -> Result<(), CliError> {
    match command.unwrap_or(AppsCommand::List) {
        AppsCommand::List => {
            let apps: Vec<App> = ctx.client.call(Method::GET, "/v1/apps", None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&apps);
            } else if apps.is_empty() {
                ctx.out.line("No apps yet (hint: `slipway apps create NAME`)");
            } else {
                let rows: Vec<Vec<String>> =
                    apps.iter().map(|a| vec![a.name.clone(), release(a), state(a).to_owned(), a.url.clone()]).collect();
                ctx.out.table(&["NAME", "RELEASE", "STATE", "URL"], &rows);
            }
        }
        AppsCommand::Create { name, source, reference, source_dir, set, .. }
            if source.is_some() || source_dir.is_some() =>
        {
            super::setup::run(ctx, name, source.map(|url| (url, reference)), source_dir, &set).await?;
        }
        AppsCommand::Create { name, sleep_after, set, .. } => {
            if !set.is_empty() {
                return Err(CliError::usage("--set needs a source to set the app up from")
                    .hint("add --source URL or --source-dir DIR, or use `slipway config set` after creating it"));
            }
            let app: App = ctx.client.call(Method::POST, "/v1/apps", Some(&NewApp { name, sleep_after })).await?;
            if ctx.json {
                ctx.out.json(&app);
            } else {
                ctx.out.line(&format!("Created app {}: {}", app.name, app.url));
            }
        }
        AppsCommand::Info => {
            let app: App = ctx.client.call(Method::GET, &format!("/v1/apps/{}", ctx.app()?), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&app);
            } else {
                show(ctx, &app);
            }
        }
        AppsCommand::Update { sleep_after, no_sleep } => {
            let patch = match (sleep_after, no_sleep) {
                (Some(d), _) => AppPatch { sleep_after: Some(Some(d)) },
                (None, true) => AppPatch { sleep_after: Some(None) },
                (None, false) => {
                    return Err(CliError::usage("nothing to change").hint("pass --sleep-after DURATION or --no-sleep"));
                }
            };
            let app: App = ctx.client.call(Method::PATCH, &format!("/v1/apps/{}", ctx.app()?), Some(&patch)).await?;
            if ctx.json {
                ctx.out.json(&app);
            } else {
                show(ctx, &app);
            }
        }
        AppsCommand::Destroy { confirm } => {
            let app = ctx.app()?;
            if confirm.as_deref() != Some(app) {
                return Err(CliError::usage(format!(
                    "destroying {app} deletes its processes, releases, config and domains"
                ))
                .hint(format!("confirm with `--confirm {app}`")));
            }
            let _: serde_json::Value = ctx.client.call(Method::DELETE, &format!("/v1/apps/{app}"), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&serde_json::json!({ "destroyed": app }));
            } else {
                ctx.out.line(&format!("Destroyed app {app}"));
            }
        }
    }
    Ok(())
}

fn release(app: &App) -> String {
    app.release.map(|v| format!("v{v}")).unwrap_or_else(|| "-".into())
}

fn state(app: &App) -> &'static str {
    if app.sleeping { "sleeping" } else { "awake" }
}

fn show(ctx: &Ctx, app: &App) {
    let formation = if app.formation.is_empty() {
        "none (not deployed yet)".to_owned()
    } else {
        app.formation.iter().map(|(t, n)| format!("{t}={n}")).collect::<Vec<_>>().join(", ")
    };
    let domains = if app.domains.is_empty() { "none".to_owned() } else { app.domains.join(", ") };
    ctx.out.line(&format!("=== {}", app.name));
    ctx.out.text(&pairs(&[
        ("URL", app.url.clone()),
        ("Release", release(app)),
        ("Processes", formation),
        ("Domains", domains),
        ("Sleeps after", app.sleep_after.clone().unwrap_or_else(|| "never".into())),
        ("State", state(app).to_owned()),
        ("Created", app.created_at.clone()),
    ]));
}

/// `slipway open [--logs] [--print]`.
pub(super) async fn open(ctx: &Ctx, logs: bool, print: bool) -> Result<(), CliError> {
    let app = ctx.app()?;
    let url = if logs {
        let token: LogToken = ctx.client.call(Method::POST, &format!("/v1/apps/{app}/log-token"), None::<&()>).await?;
        token.viewer_url
    } else {
        let info: App = ctx.client.call(Method::GET, &format!("/v1/apps/{app}"), None::<&()>).await?;
        info.url
    };
    if ctx.json {
        ctx.out.json(&serde_json::json!({ "url": url }));
        return Ok(());
    }
    ctx.out.line(&url);
    if !print && let Some(browser) = browser() {
        let opened = std::process::Command::new(&browser)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = opened {
            return Err(CliError::new(format!("cannot start {browser}: {e}")).hint("open the URL above yourself"));
        }
    }
    Ok(())
}

/// `$BROWSER`, or `xdg-open` when there is a display.
fn browser() -> Option<String> {
    if let Some(browser) = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()) {
        return Some(browser);
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    display.then(|| "xdg-open".to_owned())
}
