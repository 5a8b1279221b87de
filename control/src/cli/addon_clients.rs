//! `slipway addons psql NAME [-- ARGS...]` and `slipway addons redis-cli NAME [-- ARGS...]`:
//! the add-on's own client, connected with the add-on's URL (read from the app's config
//! vars over the API, so it works against a remote control plane), with the terminal
//! (stdin, stdout, stderr) handed over; `slipway` exits with the client's status.
//!
//! The password goes in the client's environment (`PGPASSWORD`, `REDISCLI_AUTH`), never
//! on its command line, where `ps` would show it to every user of the machine.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Stdio;

use http::Method;

use super::ctx::Ctx;
use super::error::CliError;
use crate::model::Addon;

/// A client program and the Debian package that installs it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Client {
    /// `psql`.
    Psql,
    /// `redis-cli`.
    RedisCli,
}

impl Client {
    fn program(self) -> &'static str {
        match self {
            Client::Psql => "psql",
            Client::RedisCli => "redis-cli",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Client::Psql => "postgres",
            Client::RedisCli => "redis",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Client::Psql => "postgresql-client",
            Client::RedisCli => "redis-tools",
        }
    }
}

/// Runs `client` on add-on `name` with `args` after the connection's; returns its exit code.
pub(super) async fn run(ctx: &Ctx, client: Client, name: &str, args: &[String]) -> Result<(), CliError> {
    let addon: Addon = ctx.client.call(Method::GET, &super::addons::path(name)?, None::<&()>).await?;
    if addon.kind != client.kind() {
        let other = if addon.kind == "postgres" { "psql" } else { "redis-cli" };
        return Err(CliError::usage(format!("{name} is a {} add-on, not {}", addon.kind, client.kind()))
            .hint(format!("use `slipway addons {other} {name}`")));
    }
    let url_var = addon.config_vars.iter().find(|v| v.ends_with("_URL")).ok_or_else(|| {
        CliError::new(format!("{name} has no URL yet (it is {})", addon.state))
            .hint(format!("see `slipway addons info {name}`"))
    })?;
    let config: BTreeMap<String, String> =
        ctx.client.call(Method::GET, &format!("/v1/apps/{}/config", addon.app), None::<&()>).await?;
    let url = config.get(url_var).ok_or_else(|| {
        CliError::new(format!("{} has no {url_var} in its config vars", addon.app))
            .hint(format!("see `slipway config --app {}`", addon.app))
    })?;
    let mut command = match client {
        Client::Psql => psql(url)?,
        Client::RedisCli => redis_cli(url)?,
    };
    command.args(args).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    // Ctrl-C goes to the client (the terminal's whole foreground group gets it): psql
    // cancels its query, redis-cli stops; slipway waits for the client's exit.
    let _interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::new(format!("{} is not installed (or not on PATH)", client.program()))
                .hint(format!("on Debian: sudo apt-get install {}", client.package()))
        } else {
            CliError::new(format!("cannot start {}: {e}", client.program()))
        }
    })?;
    let status = child.wait().await.map_err(|e| CliError::new(format!("waiting for {}: {e}", client.program())))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::exit(u8::try_from(code).unwrap_or(1))),
        // Killed by a signal: the shell's convention, 128 + the signal.
        None => Err(CliError::exit(
            std::os::unix::process::ExitStatusExt::signal(&status)
                .and_then(|s| u8::try_from(128 + s).ok())
                .unwrap_or(1),
        )),
    }
}

/// `psql` on `url`, the password in `PGPASSWORD`.
fn psql(url: &str) -> Result<tokio::process::Command, CliError> {
    let bad = || CliError::new("the add-on's DATABASE_URL does not parse as a postgres:// URL");
    let config: tokio_postgres::Config = url.parse().map_err(|_| bad())?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => return Err(bad()),
    };
    let (user, db) = (config.get_user().ok_or_else(bad)?, config.get_dbname().ok_or_else(bad)?);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let mut command = tokio::process::Command::new("psql");
    // The URL without its password (our names are [a-z0-9_]: nothing to escape).
    command.arg(format!("postgres://{user}@{host}:{port}/{db}"));
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", OsString::from(String::from_utf8_lossy(password).into_owned()));
    }
    Ok(command)
}

/// `redis-cli` on `url` as its ACL user, the password in `REDISCLI_AUTH`.
///
/// Not `-u redis://user@host`: redis-cli 7 reads a user with no `:password` after it as
/// the password. `--user` with `REDISCLI_AUTH` sends `AUTH user password`.
fn redis_cli(url: &str) -> Result<tokio::process::Command, CliError> {
    let bad = || CliError::new("the add-on's REDIS_URL does not parse as a redis:// URL");
    let client = redis::Client::open(url).map_err(|_| bad())?;
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else { return Err(bad()) };
    let mut command = tokio::process::Command::new("redis-cli");
    command.args(["-h", host, "-p", &port.to_string()]);
    let settings = info.redis_settings();
    if let Some(user) = settings.username() {
        command.args(["--user", user]);
    }
    if let Some(password) = settings.password() {
        command.env("REDISCLI_AUTH", password);
    }
    if settings.db() != 0 {
        command.args(["-n", &settings.db().to_string()]);
    }
    Ok(command)
}
