//! The command line as clap parses it: `slipway` and every subcommand with its arguments,
//! and the parsers of the values they take (`KEY=VALUE` pairs, release versions).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::error::CliError;
use super::up::UpArgs;

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
    Up(UpArgs),
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
    /// List, create, show and destroy add-ons (PostgreSQL databases, Redis).
    Addons {
        /// What to do (default: list the app's add-ons).
        #[command(subcommand)]
        command: Option<AddonsCommand>,
    },
    /// Show an app's logs, live with --tail.
    Logs(LogsArgs),
    /// Run a one-off command with the app's release: `slipway run --app A -- CMD...`.
    Run(RunArgs),
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
    /// Create an app; with --source or --source-dir, set it up from that source as its
    /// app.json asks (add-ons, config vars, formation, postdeploy script), all or nothing.
    Create {
        /// Its name: a DNS label (a-z, 0-9, '-'), at most 63 characters.
        name: String,
        /// Scale it to zero after this long without requests, e.g. "30m".
        #[arg(long, conflicts_with_all = ["source", "source_dir"])]
        sleep_after: Option<String>,
        /// Set it up from this git repository (URL, or a path on the control plane's machine).
        #[arg(long, value_name = "URL", conflicts_with = "source_dir")]
        source: Option<String>,
        /// With --source: the branch, tag or commit (default: the default branch).
        #[arg(long = "ref", value_name = "REF", requires = "source")]
        reference: Option<String>,
        /// Set it up from this directory (uploaded as a tarball).
        #[arg(long, value_name = "DIR")]
        source_dir: Option<PathBuf>,
        /// With --source or --source-dir: a config var overriding app.json's (KEY=VALUE; repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
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

/// `slipway addons ...`
#[derive(Debug, Subcommand)]
pub enum AddonsCommand {
    /// List the app's add-ons.
    List,
    /// Create an add-on for the app; its URL becomes a config var (a new release).
    Create {
        /// The kind: postgres or redis.
        kind: String,
        /// The plan (default: the kind's default plan, `shared`).
        #[arg(long)]
        plan: Option<String>,
        /// Its name (default: <kind>-<adjective>-<number>).
        #[arg(long = "as", value_name = "NAME")]
        name: Option<String>,
        /// Return at once instead of waiting until it is ready.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show an add-on (no --app needed: names are unique).
    Info {
        /// The add-on's name.
        name: String,
    },
    /// Destroy an add-on and its data (its backups included).
    Destroy {
        /// The add-on's name.
        name: String,
        /// The app's name, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Back a PostgreSQL add-on up now (pg_dump, kept in the control plane's data dir).
    Backup {
        /// The add-on's name.
        name: String,
    },
    /// List a PostgreSQL add-on's backups.
    Backups {
        /// The add-on's name.
        name: String,
    },
    /// Restore a PostgreSQL add-on from one of its backups.
    Restore {
        /// The add-on's name.
        name: String,
        /// The backup (b001; see `slipway addons backups NAME`).
        backup: String,
        /// The app's name, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Open psql on a PostgreSQL add-on (arguments after `--` go to psql).
    Psql {
        /// The add-on's name.
        name: String,
        /// More arguments for psql, e.g. -- -c 'select 1'.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Open redis-cli on a Redis add-on (arguments after `--` go to redis-cli).
    RedisCli {
        /// The add-on's name.
        name: String,
        /// More arguments for redis-cli, e.g. -- GET mykey.
        #[arg(last = true)]
        args: Vec<String>,
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
    /// Only this source (app for the app's output, release and run for the release phase and
    /// one-off dynos, slipway for platform events).
    #[arg(long, short = 's')]
    pub source: Option<String>,
}

/// `slipway run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run it in the background: its output only goes to the log (`slipway logs --dyno run.N`).
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Set a variable for this run only, on top of the config vars (repeatable).
    #[arg(long, short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The command: one argument is a shell command line (`'rake db:migrate && echo ok'`);
    /// several are run as they are, each one quoted (`-- sh -c 'exit 3'`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<String>,
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
