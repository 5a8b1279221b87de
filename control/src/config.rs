//! The control plane's configuration: typed, documented, with defaults.
//!
//! Read in three layers, later ones winning: the defaults below, the TOML file given with
//! `--config`, and environment variables named `SLIPWAY_CONTROL__<SECTION>__<KEY>` (for
//! example `SLIPWAY_CONTROL__AUTH__TOKEN=...` or `SLIPWAY_CONTROL__LISTEN__API=0.0.0.0:9000`).
//! `config/control.toml` shows every key. The loading and the error messages are
//! `slipway-config`'s ([`slipway_config::load_layered`]), so all three programs report a
//! bad key the same way: `config: /etc/slipway/control.toml: key "listen.api": ...`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
pub use slipway_config::LogFormat;
use slipway_config::{ConfigError, de, load_layered};
use slipway_logd::token::MIN_KEY_BYTES;

pub mod addons;
pub use addons::Addons;

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SLIPWAY_CONTROL__";

/// Shortest accepted API token.
pub const MIN_TOKEN_LEN: usize = 16;
/// The smallest `runtime.attach_max_frame_bytes`: the CLI's stdin frames (8 KiB) and
/// their one-byte header fit.
const MIN_STDIN_FRAME: usize = 16 * 1024;

/// The whole control-plane configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory of the state: the SQLite database, slugs (deployed sources), temp files.
    pub data_dir: PathBuf,
    /// Log format: "auto" (JSON unless stdout is a terminal), "json" or "text".
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax, e.g. "info" or "slipway_control=debug".
    pub log_level: String,
    /// Listening addresses.
    pub listen: Listen,
    /// API tokens.
    pub auth: Auth,
    /// The database.
    pub database: Database,
    /// How apps are reached: zones and the URL shown for an app.
    pub apps: Apps,
    /// Deploys: uploads and git sources.
    pub deploy: Deploy,
    /// The local runtime (the supervisor of the apps' processes).
    pub runtime: RuntimeConfig,
    /// The route stream routers follow.
    pub routes: Routes,
    /// Putting idle apps to sleep.
    pub sleep: Sleep,
    /// logd: where dynos' output goes, and the log tokens clients read it with.
    pub logd: Logd,
    /// Add-ons (PostgreSQL, Redis): their servers and plans.
    pub addons: Addons,
}

/// Listening addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The API (`/v1/...`, `/healthz`, `/readyz`): CLIs, routers.
    #[serde(deserialize_with = "de::addr")]
    pub api: SocketAddr,
}

/// API tokens (bearer tokens, at least 16 characters).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// The admin token: every endpoint. Required. Prefer `SLIPWAY_CONTROL__AUTH__TOKEN`.
    pub token: Option<String>,
    /// A token for routers only: the route stream, activity reports, waking apps and the
    /// ACME store routers share (`/v1/acme/`). Unset: routers use the admin token.
    pub router_token: Option<String>,
}

/// The database.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// SQLite database URL, e.g. "sqlite:///var/lib/slipway/control.db". Unset:
    /// `<data_dir>/control.db`.
    pub url: Option<String>,
}

/// How apps are reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Apps {
    /// The zones the routers serve (`<app>.<zone>`). Custom domains inside them are refused,
    /// since they would shadow another app's name.
    pub zones: Vec<String>,
    /// The URL shown for an app; `{app}` is replaced by its name.
    pub url: String,
}

/// Deploys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deploy {
    /// Largest accepted upload (a gzipped tarball), in bytes.
    pub max_upload_bytes: u64,
    /// Largest unpacked source, in bytes (protects against archive bombs).
    pub max_source_bytes: u64,
    /// Longest a `git clone` of a deploy may take.
    #[serde(deserialize_with = "de::duration")]
    pub git_timeout: Duration,
    /// The `git` program.
    pub git: PathBuf,
}

/// The local runtime.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// The shell that runs Procfile commands (`<shell> -c <command>`). bash, as on Heroku:
    /// it replaces itself with the command's (last) program, so that program gets the
    /// signals and its exit status is the process's.
    pub shell: PathBuf,
    /// Time new web processes have to accept TCP connections on `$PORT` before a release
    /// switch gives up (the previous release keeps serving).
    #[serde(deserialize_with = "de::duration")]
    pub boot_timeout: Duration,
    /// After the routes stop pointing at old web processes, they keep running at least
    /// this long (in-flight requests finish), and until every router reporting to this
    /// control plane has applied the new routes; then SIGTERM.
    #[serde(deserialize_with = "de::duration")]
    pub drain_delay: Duration,
    /// Longest old web processes wait for the routers to apply the new routes (a router
    /// that cannot reconnect to the route stream); then SIGTERM anyway. At least
    /// `drain_delay`.
    #[serde(deserialize_with = "de::duration")]
    pub drain_timeout: Duration,
    /// Longest a release phase (the Procfile's `release` command) may run; then it is
    /// stopped and the release fails. An app setup's postdeploy script has the same limit.
    #[serde(deserialize_with = "de::duration")]
    pub release_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping a process.
    #[serde(deserialize_with = "de::duration")]
    pub stop_grace: Duration,
    /// First wait before restarting a crashed process; doubles after each crash...
    #[serde(deserialize_with = "de::duration")]
    pub restart_backoff: Duration,
    /// ...up to this.
    #[serde(deserialize_with = "de::duration")]
    pub restart_backoff_max: Duration,
    /// A process that ran this long before crashing is restarted after `restart_backoff`
    /// again (the backoff resets).
    #[serde(deserialize_with = "de::duration")]
    pub stable_after: Duration,
    /// Environment variables of the control plane passed to every process (config vars
    /// win). Everything else is left out.
    pub inherit_env: Vec<String>,
    /// Most one-off dynos (`slipway run`, attached or detached) running at once per app;
    /// one more is refused (429 `limit_reached`).
    pub one_off_limit: usize,
    /// Longest a one-off dyno may run, attached or detached; then it is stopped (SIGTERM
    /// to its process group, SIGKILL after `stop_grace`).
    #[serde(deserialize_with = "de::duration")]
    pub one_off_timeout: Duration,
    /// An attached one-off dyno whose client has not connected its WebSocket within this
    /// time is stopped.
    #[serde(deserialize_with = "de::duration")]
    pub attach_timeout: Duration,
    /// An attached one-off dyno whose client sends nothing (not even the Pong to the Ping
    /// sent every third of this) for this long is stopped: the client is gone.
    #[serde(deserialize_with = "de::duration")]
    pub attach_idle_timeout: Duration,
    /// Largest WebSocket message an attached client may send (its stdin comes in frames
    /// of at most 8 KiB); a larger one closes the connection and stops the command.
    pub attach_max_frame_bytes: usize,
}

/// The route stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routes {
    /// Route events kept in memory so a reconnecting router gets only what it missed; a
    /// router further behind gets a fresh snapshot.
    pub history: usize,
    /// A comment is sent on idle streams this often (routers expect one every ~10 s).
    #[serde(deserialize_with = "de::duration")]
    pub heartbeat: Duration,
    /// A router that has not sent an activity report for this long no longer counts:
    /// release switches stop waiting for it to apply new routes. Keep it well above the
    /// routers' `control.activity_interval` (10s by default).
    #[serde(deserialize_with = "de::duration")]
    pub router_timeout: Duration,
}

/// Putting idle apps to sleep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sleep {
    /// How often apps with `sleep_after` are checked for idleness.
    #[serde(deserialize_with = "de::duration")]
    pub check_interval: Duration,
    /// The shortest `sleep_after` an app may have. Keep it well above the routers'
    /// `control.activity_interval`: idleness is measured from their reports.
    #[serde(deserialize_with = "de::duration")]
    pub min_sleep_after: Duration,
}

/// logd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logd {
    /// logd's Fluent forward listener, e.g. "127.0.0.1:24224". Unset: the dynos' output is
    /// dropped (control's own events still go to its log).
    #[serde(deserialize_with = "de::opt_addr")]
    pub forward: Option<SocketAddr>,
    /// Shared key of logd's forward handshake (`forward.shared_key` in logd.toml), if set.
    pub shared_key: Option<String>,
    /// logd's HTTP URL as clients reach it, e.g. "http://127.0.0.1:8090": given out with log
    /// tokens. Unset: no log tokens.
    pub url: Option<String>,
    /// logd's token signing key (`auth.signing_key` in logd.toml), at least 32 bytes.
    /// Prefer `SLIPWAY_CONTROL__LOGD__SIGNING_KEY`. Unset: no log tokens.
    pub signing_key: Option<String>,
    /// Lifetime of the log tokens handed out.
    #[serde(deserialize_with = "de::duration")]
    pub token_ttl: Duration,
    /// Log records queued for logd; when logd is slow or down, further ones are dropped
    /// (and counted) so dynos never wait on their logs.
    pub queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("/var/lib/slipway"),
            log_format: LogFormat::Auto,
            log_level: "info".to_owned(),
            listen: Listen::default(),
            auth: Auth::default(),
            database: Database::default(),
            apps: Apps::default(),
            deploy: Deploy::default(),
            runtime: RuntimeConfig::default(),
            routes: Routes::default(),
            sleep: Sleep::default(),
            logd: Logd::default(),
            addons: Addons::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen { api: SocketAddr::from(([127, 0, 0, 1], 9000)) }
    }
}

impl Default for Apps {
    fn default() -> Self {
        Apps { zones: vec!["reviewapp.localhost".to_owned()], url: "http://{app}.reviewapp.localhost:8080".to_owned() }
    }
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            max_upload_bytes: 512 * 1024 * 1024,
            max_source_bytes: 2 * 1024 * 1024 * 1024,
            git_timeout: Duration::from_secs(300),
            git: PathBuf::from("git"),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            shell: PathBuf::from("/bin/bash"),
            boot_timeout: Duration::from_secs(60),
            drain_delay: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(30),
            release_timeout: Duration::from_secs(30 * 60),
            stop_grace: Duration::from_secs(10),
            restart_backoff: Duration::from_secs(1),
            restart_backoff_max: Duration::from_secs(300),
            stable_after: Duration::from_secs(60),
            inherit_env: ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME"]
                .map(str::to_owned)
                .to_vec(),
            one_off_limit: 5,
            one_off_timeout: Duration::from_secs(3600),
            attach_timeout: Duration::from_secs(30),
            attach_idle_timeout: Duration::from_secs(60),
            attach_max_frame_bytes: 64 * 1024,
        }
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes { history: 4096, heartbeat: Duration::from_secs(5), router_timeout: Duration::from_secs(30) }
    }
}

impl Default for Sleep {
    fn default() -> Self {
        Sleep { check_interval: Duration::from_secs(10), min_sleep_after: Duration::from_secs(60) }
    }
}

impl Default for Logd {
    fn default() -> Self {
        Logd {
            forward: None,
            shared_key: None,
            url: None,
            signing_key: None,
            token_ttl: Duration::from_secs(3600),
            queue: 16 * 1024,
        }
    }
}

impl Config {
    /// Reads the config file at `path`, applies `SLIPWAY_CONTROL__*` overrides and checks it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config: Config = load_layered(Some(path), ENV_PREFIX, "config/control.toml")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges, tokens, URLs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| Err(invalid(key, problem));
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty".into());
        }
        if let Err(problem) = slipway_config::logging::check_filter(&self.log_level) {
            return bad("log_level", problem);
        }
        match &self.auth.token {
            None => {
                return bad(
                    "auth.token",
                    "is required: set it in the file or with SLIPWAY_CONTROL__AUTH__TOKEN (at least 16 characters)"
                        .into(),
                );
            }
            Some(t) if t.len() < MIN_TOKEN_LEN || t.chars().any(char::is_whitespace) => {
                return bad("auth.token", format!("must be at least {MIN_TOKEN_LEN} characters, without spaces"));
            }
            Some(_) => {}
        }
        if let Some(t) = &self.auth.router_token
            && (t.len() < MIN_TOKEN_LEN || t.chars().any(char::is_whitespace))
        {
            return bad("auth.router_token", format!("must be at least {MIN_TOKEN_LEN} characters, without spaces"));
        }
        if let Some(url) = &self.database.url
            && !url.starts_with("sqlite:")
        {
            return bad(
                "database.url",
                format!(
                    "{url:?} is not a SQLite URL like \"sqlite:///var/lib/slipway/control.db\" (PostgreSQL is not supported yet)"
                ),
            );
        }
        if self.apps.zones.is_empty() {
            return bad("apps.zones", "at least one zone is needed, e.g. [\"reviewapp.localhost\"]".into());
        }
        for (i, zone) in self.apps.zones.iter().enumerate() {
            if let Err(problem) = slipway_router::spec::check_host(zone) {
                return bad(&format!("apps.zones[{i}]"), problem);
            }
            if zone.bytes().any(|b| b.is_ascii_uppercase()) {
                return bad(&format!("apps.zones[{i}]"), format!("{zone:?} must be lower-case"));
            }
        }
        if !self.apps.url.contains("{app}") {
            return bad(
                "apps.url",
                format!("{:?} must contain {{app}}, e.g. \"https://{{app}}.reviewapp.example\"", self.apps.url),
            );
        }
        if self.deploy.max_upload_bytes < 1024 || self.deploy.max_source_bytes < 1024 {
            return bad("deploy.max_upload_bytes", "deploy sizes must be at least 1024 bytes".into());
        }
        if self.deploy.git_timeout.is_zero() {
            return bad("deploy.git_timeout", "must be greater than zero".into());
        }
        let r = &self.runtime;
        for (key, value) in [
            ("runtime.boot_timeout", r.boot_timeout),
            ("runtime.stop_grace", r.stop_grace),
            ("runtime.release_timeout", r.release_timeout),
            ("runtime.restart_backoff", r.restart_backoff),
            ("runtime.restart_backoff_max", r.restart_backoff_max),
            ("runtime.one_off_timeout", r.one_off_timeout),
            ("runtime.attach_timeout", r.attach_timeout),
        ] {
            if value.is_zero() {
                return bad(key, "must be greater than zero".into());
            }
        }
        if r.drain_timeout < r.drain_delay {
            return bad("runtime.drain_timeout", "must not be below runtime.drain_delay".into());
        }
        if r.one_off_limit == 0 {
            return bad("runtime.one_off_limit", "must be at least 1".into());
        }
        if r.attach_idle_timeout < Duration::from_secs(3) {
            return bad(
                "runtime.attach_idle_timeout",
                "must be at least 3s (clients are pinged every third of it)".into(),
            );
        }
        if r.attach_max_frame_bytes < MIN_STDIN_FRAME {
            return bad(
                "runtime.attach_max_frame_bytes",
                format!("must be at least {MIN_STDIN_FRAME} (the CLI sends stdin in frames of up to 8 KiB)"),
            );
        }
        if r.restart_backoff_max < r.restart_backoff {
            return bad("runtime.restart_backoff_max", "must not be below runtime.restart_backoff".into());
        }
        if self.routes.history == 0 {
            return bad("routes.history", "must be at least 1".into());
        }
        if self.routes.heartbeat.is_zero() || self.routes.heartbeat > Duration::from_secs(10) {
            return bad(
                "routes.heartbeat",
                "must be greater than zero and at most 10s (routers expect one every ~10s)".into(),
            );
        }
        if self.routes.router_timeout < Duration::from_secs(1) {
            return bad("routes.router_timeout", "must be at least 1s (above the routers' activity_interval)".into());
        }
        if self.sleep.check_interval.is_zero() {
            return bad("sleep.check_interval", "must be greater than zero".into());
        }
        if self.sleep.min_sleep_after < Duration::from_secs(1) {
            return bad("sleep.min_sleep_after", "must be at least 1s".into());
        }
        let l = &self.logd;
        if let Some(url) = &l.url {
            let uri: Result<http::Uri, _> = url.parse();
            let ok =
                uri.as_ref().is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some());
            if !ok {
                return bad("logd.url", format!("{url:?} is not a URL like \"http://127.0.0.1:8090\""));
            }
        }
        if l.signing_key.as_ref().is_some_and(|k| k.len() < MIN_KEY_BYTES) {
            return bad(
                "logd.signing_key",
                format!("must be at least {MIN_KEY_BYTES} bytes long (logd's auth.signing_key)"),
            );
        }
        if l.shared_key.as_deref().is_some_and(str::is_empty) {
            return bad("logd.shared_key", "must not be empty (leave it unset for no handshake)".into());
        }
        if l.token_ttl < Duration::from_secs(1) {
            return bad("logd.token_ttl", "must be at least 1s".into());
        }
        if l.queue == 0 {
            return bad("logd.queue", "must be at least 1".into());
        }
        self.addons.validate()
    }

    /// The SQLite database URL.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("control.db").display()),
        }
    }

    /// The URL of `app`.
    pub fn app_url(&self, app: &str) -> String {
        self.apps.url.replace("{app}", app)
    }
}

fn invalid(key: &str, problem: String) -> ConfigError {
    ConfigError::invalid(key, problem)
}

#[cfg(test)]
mod tests;
