//! `slipway config ...`.

use std::collections::BTreeMap;

use http::Method;

use super::args::{ConfigCommand, parse_pairs};
use super::ctx::Ctx;
use super::error::CliError;
use super::output::pairs;
use crate::model::{ConfigChanged, ConfigPatch};

pub(super) async fn run(ctx: &Ctx, command: Option<ConfigCommand>) -> Result<(), CliError> {
    let app = ctx.app()?;
    let path = format!("/v1/apps/{app}/config");
    match command {
        None => {
            let config: BTreeMap<String, String> = ctx.client.call(Method::GET, &path, None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&config);
            } else if config.is_empty() {
                ctx.out.line(&format!("{app} has no config vars"));
            } else {
                ctx.out.line(&format!("=== {app} config vars"));
                let items: Vec<(&str, String)> = config.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                ctx.out.text(&pairs(&items));
            }
        }
        Some(ConfigCommand::Get { key }) => {
            let config: BTreeMap<String, String> = ctx.client.call(Method::GET, &path, None::<&()>).await?;
            let Some(value) = config.get(&key) else {
                return Err(CliError::new(format!("{app} has no config var {key}"))
                    .hint(format!("list them with `slipway config --app {app}`")));
            };
            if ctx.json {
                ctx.out.json(&serde_json::json!({ key: value }));
            } else {
                ctx.out.line(value);
            }
        }
        Some(ConfigCommand::Set { pairs }) => {
            let patch: ConfigPatch = parse_pairs(&pairs, "KEY=VALUE")?.into_iter().map(|(k, v)| (k, Some(v))).collect();
            let changed: ConfigChanged = ctx.client.call(Method::PATCH, &path, Some(&patch)).await?;
            report(ctx, app, "Set", &patch, &changed);
        }
        Some(ConfigCommand::Unset { keys }) => {
            let patch: ConfigPatch = keys.into_iter().map(|k| (k, None)).collect();
            let changed: ConfigChanged = ctx.client.call(Method::PATCH, &path, Some(&patch)).await?;
            report(ctx, app, "Unset", &patch, &changed);
        }
    }
    Ok(())
}

fn report(ctx: &Ctx, app: &str, verb: &str, patch: &ConfigPatch, changed: &ConfigChanged) {
    if ctx.json {
        ctx.out.json(changed);
        return;
    }
    let keys: Vec<&str> = patch.keys().map(String::as_str).collect();
    if changed.changed {
        ctx.out.line(&format!("{verb} {} on {app}: release v{} is live", keys.join(", "), changed.release.version));
    } else {
        ctx.out.line(&format!("No change on {app}: release v{} stays live", changed.release.version));
    }
}
