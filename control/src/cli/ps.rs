//! `slipway ps ...`.

use http::Method;

use super::args::{PsCommand, parse_pairs};
use super::ctx::Ctx;
use super::error::CliError;
use crate::model::{App, Dyno, ProcessType, Restart, Scale};

pub(super) async fn run(ctx: &Ctx, command: Option<PsCommand>) -> Result<(), CliError> {
    let app = ctx.app()?;
    match command.unwrap_or(PsCommand::List) {
        PsCommand::List => {
            let dynos: Vec<Dyno> = ctx.client.call(Method::GET, &format!("/v1/apps/{app}/dynos"), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&dynos);
                return Ok(());
            }
            if dynos.is_empty() {
                let info: App = ctx.client.call(Method::GET, &format!("/v1/apps/{app}"), None::<&()>).await?;
                let why = if info.sleeping {
                    "it is sleeping (scaled to zero until its next request)"
                } else if info.formation.is_empty() {
                    "it has not been deployed yet (`slipway deploy`)"
                } else {
                    "it is scaled to zero (`slipway ps scale web=1`)"
                };
                ctx.out.line(&format!("{app} has no processes: {why}"));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = dynos
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        d.state.clone(),
                        format!("v{}", d.release),
                        d.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        d.restarts.to_string(),
                        d.since.clone(),
                        d.command.clone(),
                    ]
                })
                .collect();
            ctx.out.table(&["PROCESS", "STATE", "RELEASE", "PORT", "RESTARTS", "SINCE", "COMMAND"], &rows);
        }
        PsCommand::Scale { pairs } => {
            let mut scale = Scale::new();
            for (process_type, count) in parse_pairs(&pairs, "TYPE=COUNT")? {
                let count: u32 = count
                    .parse()
                    .map_err(|_| CliError::usage(format!("{count:?} is not a count in {process_type}={count}")))?;
                scale.insert(process_type, count);
            }
            let formation: Vec<ProcessType> =
                ctx.client.call(Method::PATCH, &format!("/v1/apps/{app}/formation"), Some(&scale)).await?;
            if ctx.json {
                ctx.out.json(&formation);
            } else {
                let counts: Vec<String> =
                    formation.iter().map(|p| format!("{}={}", p.process_type, p.quantity)).collect();
                ctx.out.line(&format!("Scaled {app} to {}", counts.join(", ")));
            }
        }
        PsCommand::Restart { target } => {
            let body = Restart { target: target.clone() };
            let _: serde_json::Value =
                ctx.client.call(Method::POST, &format!("/v1/apps/{app}/dynos/restart"), Some(&body)).await?;
            let what = target.unwrap_or_else(|| "all processes".into());
            if ctx.json {
                ctx.out.json(&serde_json::json!({ "restarted": what }));
            } else {
                ctx.out.line(&format!("Restarted {what} of {app}"));
            }
        }
    }
    Ok(())
}
