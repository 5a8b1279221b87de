//! `slipway domains ...`.

use http::Method;

use super::args::DomainsCommand;
use super::ctx::Ctx;
use super::error::CliError;
use crate::model::{Domain, NewDomain};

pub(super) async fn run(ctx: &Ctx, command: Option<DomainsCommand>) -> Result<(), CliError> {
    let app = ctx.app()?;
    let path = format!("/v1/apps/{app}/domains");
    match command.unwrap_or(DomainsCommand::List) {
        DomainsCommand::List => {
            let domains: Vec<Domain> = ctx.client.call(Method::GET, &path, None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&domains);
            } else if domains.is_empty() {
                ctx.out.line(&format!("{app} has no custom domains"));
            } else {
                let rows: Vec<Vec<String>> =
                    domains.iter().map(|d| vec![d.hostname.clone(), d.created_at.clone()]).collect();
                ctx.out.table(&["DOMAIN", "ADDED"], &rows);
            }
        }
        DomainsCommand::Add { hostname } => {
            let domain: Domain = ctx.client.call(Method::POST, &path, Some(&NewDomain { hostname })).await?;
            if ctx.json {
                ctx.out.json(&domain);
            } else {
                ctx.out.line(&format!("Added {} to {app}", domain.hostname));
            }
        }
        DomainsCommand::Remove { hostname } => {
            let encoded: String =
                hostname.chars().filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c)).collect();
            if encoded != hostname {
                return Err(CliError::usage(format!("{hostname:?} is not a host name")));
            }
            let _: serde_json::Value =
                ctx.client.call(Method::DELETE, &format!("{path}/{hostname}"), None::<&()>).await?;
            if ctx.json {
                ctx.out.json(&serde_json::json!({ "removed": hostname }));
            } else {
                ctx.out.line(&format!("Removed {hostname} from {app}"));
            }
        }
    }
    Ok(())
}
