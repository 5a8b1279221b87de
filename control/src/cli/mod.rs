//! The `slipway` command line: `slipway server` and `slipway up` (the programs), and the
//! client commands in the spirit of the Heroku CLI (`apps`, `config`, `deploy`,
//! `releases`, `ps`, `domains`, `logs`, `open`), which talk to the API at
//! `SLIPWAY_API_URL` with `SLIPWAY_TOKEN`, or to what `slipway login` saved.
//!
//! Output is for people by default (tables, `key: value` blocks) and JSON with `--json`.
//! Every failure is one line on stderr, `error: <what happened> (hint: <what to do>)`,
//! and a non-zero exit: 1 for a failed command, 2 for a usage or config error.

mod apps;
mod client;
mod config_vars;
pub mod credentials;
mod deploy;
mod domains;
mod logs;
mod output;
mod ps;
mod releases;
mod run;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub use client::Client;
pub use output::{Out, pairs, table};

/// Slipway: review apps on your own machines. `slipway up` runs everything locally.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about, propagate_version = true, disable_help_subcommand = true)]
pub struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// The app to act on.
    #[arg(long, short = 'a', global = true, env = "SLIPWAY_APP", value_name = "APP")]
    pub app: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run control, router and logd in one process, with a demo app (start here).
    Up(crate::up::UpArgs),
    /// Run the control plane's API server.
    Server {
        /// Path of the TOML config (keys can be overridden by SLIPWAY_CONTROL__<SECTION>__<KEY>).
        #[arg(long, short, env = "SLIPWAY_CONTROL_CONFIG", default_value = "config/control.toml")]
        config: PathBuf,
    },
    /// Save the API URL and token for the other commands.
    Login {
        /// The control plane's API.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        api_url: String,
        /// The admin token (read from SLIPWAY_TOKEN or standard input when not given).
        #[arg(long)]
        token: Option<String>,
    },
    /// Forget the saved login.
    Logout,
    /// List, create, show and destroy apps.
    Apps {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<AppsCommand>,
    },
    /// Show, set and unset config vars (each change makes a new release).
    Config {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<ConfigCommand>,
    },
    /// Deploy a directory (uploaded as a tarball) or a git repository.
    Deploy(DeployArgs),
    /// List releases, show one, roll back.
    Releases {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<ReleasesCommand>,
    },
    /// List, scale and restart processes.
    Ps {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<PsCommand>,
    },
    /// List, add and remove custom domains.
    Domains {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<DomainsCommand>,
    },
    /// Show an app's logs, live with --tail.
    Logs(LogsArgs),
    /// Open the app (or its log viewer) in a browser, or print its URL.
    Open {
        /// The live log viewer instead of the app.
        #[arg(long)]
        logs: bool,
        /// Only print the URL.
        #[arg(long)]
        print: bool,
    },
    /// Print a shell completion script: `slipway completions bash > /etc/bash_completion.d/slipway`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `slipway apps ...`
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// List apps.
    List,
    /// Create an app.
    Create {
        /// Its name: a DNS label (a-z, 0-9, '-'), at most 63 characters.
        name: String,
        /// Scale it to zero after this long without requests, e.g. "30m".
        #[arg(long)]
        sleep_after: Option<String>,
    },
    /// Show an app.
    Info,
    /// Change an app's settings.
    Update {
        /// Scale it to zero after this long without requests, e.g. "30m".
        #[arg(long, conflicts_with = "no_sleep")]
        sleep_after: Option<String>,
        /// Never scale it to zero.
        #[arg(long)]
        no_sleep: bool,
    },
    /// Destroy an app: its processes, releases, config and domains.
    Destroy {
        /// The app's name again, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },
}

/// `slipway config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print one config var's value.
    Get {
        /// The var.
        key: String,
    },
    /// Set config vars: KEY=VALUE...
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Unset config vars.
    Unset {
        /// The vars.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

/// `slipway deploy`
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The directory to deploy (its Procfile says what to run).
    #[arg(default_value = ".", conflicts_with = "git")]
    pub dir: PathBuf,
    /// Deploy this git repository instead (URL, or a path on the control plane's machine).
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// With --git: the branch, tag or commit (default: the default branch).
    #[arg(long = "ref", value_name = "REF", requires = "git")]
    pub reference: Option<String>,
}

/// `slipway releases ...`
#[derive(Debug, Subcommand)]
pub enum ReleasesCommand {
    /// List releases.
    List,
    /// Show a release and its config.
    Info {
        /// The release, e.g. 3 or v3.
        #[arg(value_name = "VERSION")]
        release: String,
    },
    /// Make a new release equal to an older one (default: the one before the live release).
    Rollback {
        /// The release to go back to, e.g. 3 or v3.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
}

/// `slipway ps ...`
#[derive(Debug, Subcommand)]
pub enum PsCommand {
    /// List processes.
    List,
    /// Set process counts: TYPE=COUNT...
    Scale {
        /// TYPE=COUNT pairs, e.g. web=2 worker=1.
        #[arg(required = true, value_name = "TYPE=COUNT")]
        pairs: Vec<String>,
    },
    /// Restart processes: all, a type (web) or one (web.1).
    Restart {
        /// A type or a process.
        target: Option<String>,
    },
}

/// `slipway domains ...`
#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// List custom domains.
    List,
    /// Route a host name to the app.
    Add {
        /// The host name, e.g. shop.example.com.
        hostname: String,
    },
    /// Stop routing a host name to the app.
    Remove {
        /// The host name.
        hostname: String,
    },
}

/// `slipway logs`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep following new lines.
    #[arg(long, short = 't')]
    pub tail: bool,
    /// How many past lines to show first.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub num: usize,
    /// Only this process type or process (web, web.1).
    #[arg(long, short = 'd')]
    pub dyno: Option<String>,
    /// Only this source (app for the app's output, slipway for platform events).
    #[arg(long, short = 's')]
    pub source: Option<String>,
}

/// A failed command: one line, with a hint when there is something to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// The exit code.
    pub code: u8,
}

impl CliError {
    /// A failure (exit code 1).
    pub fn new(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), hint: None, code: 1 }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), hint: None, code: 2 }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// What the client commands share.
#[derive(Debug)]
pub struct Ctx {
    /// The API client.
    pub client: Client,
    /// `--json`.
    pub json: bool,
    /// `--app`.
    pub app: Option<String>,
    /// Standard output.
    pub out: Out,
}

impl Ctx {
    /// The app given with `--app` (or `SLIPWAY_APP`).
    pub fn app(&self) -> Result<&str, CliError> {
        self.app.as_deref().ok_or_else(|| {
            CliError::usage("no app given").hint("pass --app NAME (or set SLIPWAY_APP); `slipway apps` lists them")
        })
    }
}

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
        Command::Up(args) => crate::up::main(args),
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

/// Prints `error: ...` and returns the exit code.
pub fn report(error: &CliError) -> ExitCode {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "error: {error}");
    ExitCode::from(error.code)
}

/// Parses `KEY=VALUE` pairs (the value may contain '=').
pub fn parse_pairs(pairs: &[String], what: &str) -> Result<Vec<(String, String)>, CliError> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| CliError::usage(format!("{pair:?} is not {what}")))
        })
        .collect()
}

/// `3` or `v3` → 3.
pub fn parse_version(text: &str) -> Result<u64, CliError> {
    text.strip_prefix('v').unwrap_or(text).parse().map_err(|_| {
        CliError::usage(format!("{text:?} is not a release like 3 or v3")).hint("list them with `slipway releases`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pairs_and_versions_parse() {
        let pairs = parse_pairs(&["A=1".into(), "URL=x=y".into(), "E=".into()], "KEY=VALUE").unwrap();
        assert_eq!(pairs, [("A".into(), "1".into()), ("URL".into(), "x=y".into()), ("E".into(), String::new())]);
        assert!(parse_pairs(&["A".into()], "KEY=VALUE").is_err());
        assert!(parse_pairs(&["=1".into()], "KEY=VALUE").is_err());
        assert_eq!(parse_version("v3"), Ok(3));
        assert_eq!(parse_version("12"), Ok(12));
        assert!(parse_version("three").is_err());
    }

    #[test]
    fn errors_are_one_line_with_a_hint() {
        let e = CliError::new("app \"nope\" not found").hint("list apps with `slipway apps`");
        assert_eq!(e.to_string(), "app \"nope\" not found (hint: list apps with `slipway apps`)");
    }
}
