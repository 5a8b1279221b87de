//! Running a command: `slipway server` (the API server until SIGTERM/SIGINT) and the
//! client commands (on a small runtime, with the resolved credentials).

use std::path::Path;
use std::process::ExitCode;

use super::args::Command;
use super::client::Client;
use super::credentials::{self, Credentials};
use super::ctx::Ctx;
use super::error::{CliError, report};
use super::output::Out;
use crate::config::Config;
use crate::server::Server;

/// `slipway server --config <file>`.
pub(super) fn server(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => return report(&CliError::usage(e.to_string())),
    };
    let _logs = slipway_config::logging::init(config.log_format, &config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().thread_name("slipway-control").enable_all().build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&CliError::new(format!("cannot start the runtime: {e}"))),
    };
    runtime.block_on(async move {
        let mut signals = slipway_config::Signals::install();
        let server = match Server::start(config).await {
            Ok(server) => server,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return report(&CliError::new(e.to_string()));
            }
        };
        let signal = signals.wait().await;
        tracing::info!(signal, "shutting down: stopping the API and every app's processes");
        server.stop().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// The client commands.
pub(super) fn client(command: Command, json: bool, app: Option<String>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(&CliError::new(format!("cannot start the runtime: {e}"))),
    };
    match runtime.block_on(dispatch(command, json, app)) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

async fn dispatch(command: Command, json: bool, app: Option<String>) -> Result<ExitCode, CliError> {
    let out = Out;
    match command {
        Command::Login { api_url, token } => return login(&api_url, token, json).await.map(|()| ExitCode::SUCCESS),
        Command::Logout => {
            let removed = credentials::remove()?;
            if json {
                out.json(&serde_json::json!({ "logged_out": removed }));
            } else {
                out.line(if removed { "Logged out" } else { "Not logged in" });
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let credentials = credentials::resolve()?;
    let ctx = Ctx { client: Client::new(&credentials.api_url, &credentials.token)?, json, app, out };
    if let Command::Run(args) = command {
        // The one command whose exit code is another's: the command it ran.
        return super::one_off::run(&ctx, args).await;
    }
    match command {
        Command::Apps { command } => super::apps::run(&ctx, command).await,
        Command::Config { command } => super::config_vars::run(&ctx, command).await,
        Command::Deploy(args) => super::deploy::run(&ctx, args).await,
        Command::Releases { command } => super::releases::run(&ctx, command).await,
        Command::Ps { command } => super::ps::run(&ctx, command).await,
        Command::Domains { command } => super::domains::run(&ctx, command).await,
        Command::Addons { command } => super::addons::run(&ctx, command).await,
        Command::Logs(args) => super::logs::run(&ctx, args).await,
        Command::Open { logs, print } => super::apps::open(&ctx, logs, print).await,
        Command::Run(_)
        | Command::Up(_)
        | Command::Server { .. }
        | Command::Completions { .. }
        | Command::Login { .. }
        | Command::Logout => Ok(()),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// `slipway login`: checks the token against the API, then saves it.
async fn login(api_url: &str, token: Option<String>, json: bool) -> Result<(), CliError> {
    let token = match token.or_else(|| std::env::var("SLIPWAY_TOKEN").ok()).filter(|t| !t.trim().is_empty()) {
        Some(token) => token,
        None => {
            use std::io::BufRead;
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::new(format!("cannot read the token from standard input: {e}")))?;
            line
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(
            CliError::usage("no token given").hint("pass --token, set SLIPWAY_TOKEN, or type it on standard input")
        );
    }
    let client = Client::new(api_url, &token)?;
    let _: serde_json::Value = client.call(http::Method::GET, "/v1/apps", None::<&()>).await?;
    let path = credentials::save(&Credentials { api_url: client.base().to_owned(), token })?;
    if json {
        Out.json(&serde_json::json!({ "api_url": client.base(), "saved_to": path }));
    } else {
        Out.line(&format!("Logged in to {} (saved to {})", client.base(), path.display()));
    }
    Ok(())
}
