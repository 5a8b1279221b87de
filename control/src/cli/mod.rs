//! The `slipway` command line: `slipway server` and `slipway up` (the programs), and the
//! client commands in the spirit of the Heroku CLI (`apps`, `config`, `deploy`,
//! `releases`, `ps`, `run`, `domains`, `addons`, `logs`, `open`), which talk to the API at
//! `SLIPWAY_API_URL` with `SLIPWAY_TOKEN`, or to what `slipway login` saved.
//!
//! Output is for people by default (tables, `key: value` blocks) and JSON with `--json`.
//! Every failure is one line on stderr, `error: <what happened> (hint: <what to do>)`,
//! and a non-zero exit: 1 for a failed command, 2 for a usage or config error.
//!
//! `args` is the command line as clap parses it, `run` dispatches a parsed command, one
//! file per client command carries it out (`apps`, `setup` for `apps create --source`,
//! `config_vars`, `deploy`, `releases`, `ps`, `domains`, `addons`, `logs`, `one_off` for
//! `run`) through [`ctx::Ctx`] (the API client, the flags, the output);
//! `up` is `slipway up`, the whole platform in one process. Failures are
//! [`error::CliError`]s.

mod addon_clients;
mod addons;
mod apps;
pub mod args;
mod backups;
mod client;
mod config_vars;
pub mod credentials;
pub mod ctx;
mod deploy;
mod domains;
pub mod error;
mod logs;
mod one_off;
mod output;
mod ps;
mod releases;
mod run;
mod setup;
pub mod up;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command};
use error::{CliError, report};

pub use client::Client;
pub use output::{Out, pairs, table};

/// The binary's entry point.
pub fn main() -> ExitCode {
    // The only TLS provider in the tree; installed before any TLS client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match cli.command {
        Command::Server { config } => run::server(&config),
        Command::Up(args) => up::main(args),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "slipway", &mut script);
            Out.text(&String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        command => run::client(command, cli.json, cli.app),
    }
}

/// Prints clap's help as is, and its errors as one line with a hint.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    let rendered = e.render().to_string();
    // The message is the first paragraph ("error: ...", maybe with indented details such
    // as the missing arguments), joined into one line.
    let paragraph: Vec<&str> =
        rendered.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
    let first = paragraph.join(" ");
    let message = first.strip_prefix("error: ").unwrap_or(&first);
    let message = if message.is_empty() { "invalid arguments" } else { message };
    // "Usage: slipway apps create [OPTIONS] <NAME>" → "slipway apps create"
    let command = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|usage| {
            usage.split_whitespace().take_while(|w| !w.starts_with(['[', '<', '-'])).collect::<Vec<_>>().join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "slipway".to_owned());
    let error = CliError::usage(message).hint(format!("see `{command} --help`"));
    report(&error)
}

#[cfg(test)]
mod tests;
