//! `slipway up`: the whole platform in one process, for a laptop. logd (history on disk in
//! the data directory), the
//! control plane (SQLite in the data directory, local runtime) and the router (zone
//! `reviewapp.localhost`, following the control plane's route stream over loopback) start
//! with embedded defaults; on the first start the demo app of `config/demo-app/` (embedded
//! in the binary) is created and deployed. Then, once the router's table has every app
//! (asleep or up, so a request sent at once is served or held, never "No such app"), it
//! prints where everything is.
//!
//! The data directory defaults to `$XDG_DATA_HOME/slipway` (`~/.local/share/slipway`):
//! per user, outside any checkout, and the same wherever `slipway up` is run from. It
//! holds the database, the slugs, the apps' log history (`logs/`, logd's segments, so
//! `slipway logs` shows what happened before a restart) and `secrets.toml` (the admin
//! token, the router token and logd's signing key, generated on the first start and kept,
//! so tokens and logins stay valid across restarts). Delete the directory to start over.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use slipway_config::Signals;
use slipway_config::logging::LogFormat;

use super::credentials::{self, Credentials};
use super::error::{CliError, report};
use super::output::Out;
use crate::config::Config;
use crate::model::NewApp;
use crate::platform::{Platform, Source};
use crate::server::Server;

/// The demo app's files, embedded so `slipway up` works from any directory.
const DEMO_FILES: [(&str, &[u8], u32); 2] = [
    ("Procfile", include_bytes!("../../../config/demo-app/Procfile"), 0o644),
    ("app.py", include_bytes!("../../../config/demo-app/app.py"), 0o644),
];
/// The demo app's name.
pub const DEMO_APP: &str = "demo";

/// `slipway up` options.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Where the state goes [default: $XDG_DATA_HOME/slipway, i.e. ~/.local/share/slipway].
    #[arg(long, env = "SLIPWAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The router's public HTTP listener (apps are http://<app>.<zone>:<port>).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub http: SocketAddr,
    /// The router's HTTPS listener, turned on only when <data-dir>/tls/cert.pem and
    /// key.pem exist (a certificate for *.<zone>).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub https: SocketAddr,
    /// The control plane's API.
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR")]
    pub api: SocketAddr,
    /// logd's HTTP listener: log streams and the live viewer.
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    pub logs: SocketAddr,
    /// logd's Fluent forward listener.
    #[arg(long, default_value = "127.0.0.1:24224", value_name = "ADDR")]
    pub forward: SocketAddr,
    /// The router's admin listener (metrics, health, route API).
    #[arg(long, default_value = "127.0.0.1:9080", value_name = "ADDR")]
    pub router_admin: SocketAddr,
    /// The zone apps are served under (*.localhost resolves to this machine).
    #[arg(long, default_value = "reviewapp.localhost")]
    pub zone: String,
    /// Do not save the CLI's login in ~/.config/slipway.
    #[arg(long)]
    pub no_login: bool,
    /// Keep the apps' log history in memory only (lost at each restart) instead of in
    /// <data-dir>/logs.
    #[arg(long)]
    pub logs_in_memory: bool,
    /// Test seam: the route stream's first event to the router is sent this long after it
    /// connects (so tests can hit the window before the router has the apps).
    #[arg(long, hide = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub test_route_stream_delay: Option<Duration>,
    /// Log filter (RUST_LOG syntax) for what the platform itself logs on stderr.
    #[arg(long, default_value = "warn,slipway_control=info")]
    pub log_level: String,
}

/// Secrets generated on the first start, kept in `<data_dir>/secrets.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Secrets {
    admin_token: String,
    router_token: String,
    log_signing_key: String,
}

/// A failure to start, one line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UpError {
    message: String,
    hint: Option<String>,
}

impl UpError {
    fn new(message: impl Into<String>) -> UpError {
        UpError { message: message.into(), hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> UpError {
        self.hint = Some(hint.into());
        self
    }
}

/// The running platform.
#[derive(Debug)]
pub struct Up {
    /// The control plane.
    pub server: Server,
    /// The router.
    pub router: slipway_router::Router,
    /// logd.
    pub logd: slipway_logd::Logd,
    /// The admin token.
    pub admin_token: String,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// The default data directory.
pub fn default_data_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("slipway")),
        None => Some(PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".local/share/slipway")),
    }
}

/// `slipway up`: starts, prints, waits for Ctrl-C or SIGTERM, stops.
pub fn main(args: UpArgs) -> ExitCode {
    let _logs =
        slipway_config::logging::init_to(LogFormat::Auto, &args.log_level, slipway_config::logging::Target::Stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread().thread_name("slipway-up").enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(&CliError::new(format!("cannot start the runtime: {e}"))),
    };
    runtime.block_on(async move {
        let mut signals = Signals::install();
        let up = match start(args.clone()).await {
            Ok(up) => up,
            Err(e) => {
                let mut error = CliError::new(e.message);
                error.hint = e.hint;
                return report(&error);
            }
        };
        banner(&up, &args).await;
        let signal = signals.wait().await;
        tracing::info!(signal, "stopping: router, then every app's processes, then logd");
        up.stop().await;
        ExitCode::SUCCESS
    })
}

/// Starts logd, the control plane and the router, and the demo app on the first start.
pub async fn start(args: UpArgs) -> Result<Up, UpError> {
    let data_dir = match args.data_dir.clone().or_else(default_data_dir) {
        Some(dir) => dir,
        None => return Err(UpError::new("cannot find a data directory").hint("pass --data-dir DIR or set HOME")),
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| UpError::new(format!("cannot create the data directory {}: {e}", data_dir.display())))?;
    let secrets = load_or_create_secrets(&data_dir)?;
    let taken = |what: &str, flag: &str, e: &dyn std::fmt::Display| {
        UpError::new(format!("cannot start {what}: {e}"))
            .hint(format!("is another `slipway up` running? pick another address with {flag}"))
    };

    // logd: history on disk in the data directory, tokens signed with the shared key.
    let mut logd_config = slipway_logd::Config::default();
    if !args.logs_in_memory {
        logd_config.persistence.dir = Some(data_dir.join("logs"));
    }
    logd_config.listen.forward = args.forward;
    logd_config.listen.http = args.logs;
    logd_config.auth.signing_key = Some(secrets.log_signing_key.clone());
    logd_config.auth.admin_token = Some(secrets.admin_token.clone());
    logd_config.validate().map_err(|e| UpError::new(format!("logd: {e}")))?;
    let logd = slipway_logd::Logd::start(logd_config).await.map_err(|e| taken("logd", "--logs or --forward", &e))?;

    // The router's port must be known for the apps' URLs before it starts (it follows
    // the control plane, which must start first).
    let http = concrete(args.http).map_err(|e| taken("the router", "--http", &e))?;
    let port = if http.port() == 80 { String::new() } else { format!(":{}", http.port()) };
    let zone = args.zone.to_ascii_lowercase();
    let mut config = Config { data_dir: data_dir.clone(), log_level: args.log_level.clone(), ..Config::default() };
    config.listen.api = args.api;
    config.auth.token = Some(secrets.admin_token.clone());
    config.auth.router_token = Some(secrets.router_token.clone());
    config.apps.zones = vec![zone.clone()];
    config.apps.url = format!("http://{{app}}.{zone}{port}");
    config.logd.forward = Some(logd.forward_addr());
    config.logd.url = Some(format!("http://{}", logd.http_addr()));
    config.logd.signing_key = Some(secrets.log_signing_key.clone());
    config.logd.token_ttl = Duration::from_secs(12 * 3600);
    // Add-ons on a PostgreSQL and a Redis of its own, when Debian's packages are there.
    config.addons.managed = addon_servers_installed(&config);
    if let Err(e) = config.validate() {
        logd.stop().await;
        return Err(UpError::new(e.to_string()).hint("check --zone"));
    }
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            logd.stop().await;
            return Err(taken("the control plane", "--api", &e));
        }
    };
    if let Some(delay) = args.test_route_stream_delay {
        server.platform().routes.delay_streams(delay);
    }

    let mut router_config = slipway_router::Config { zones: vec![zone], access_log: false, ..Default::default() };
    router_config.listen.http = http;
    router_config.listen.admin = args.router_admin;
    router_config.admin.token = Some(secrets.admin_token.clone());
    router_config.control.url = Some(format!("http://{}", server.api_addr()));
    router_config.control.token = Some(secrets.router_token.clone());
    router_config.timeouts.drain = Duration::from_secs(5);
    if let Some(certificate) = local_certificate(&data_dir, &router_config.zones) {
        router_config.listen.https = Some(args.https);
        router_config.tls.certificates = vec![certificate];
        // The apps' URLs stay http://; HTTPS is offered next to them, not forced.
        router_config.tls.redirect = false;
    }
    // Heroku's router lines in each app's log, beside its output (`slipway logs`).
    router_config.lines.enabled = true;
    router_config.lines.logd = logd.forward_addr();
    let started = match router_config.validate() {
        Err(e) => Err(UpError::new(format!("router: {e}"))),
        Ok(()) => match tokio::task::spawn_blocking(move || slipway_router::Router::start(router_config)).await {
            Err(e) => Err(UpError::new(format!("the router did not start: {e}"))),
            Ok(Err(e)) => Err(taken("the router", "--http or --router-admin", &e)),
            Ok(Ok(router)) => Ok(router),
        },
    };
    let router = match started {
        Ok(router) => router,
        Err(e) => {
            // Stop what did start, the apps' processes included.
            server.stop().await;
            logd.stop().await;
            return Err(e);
        }
    };

    let up = Up { server, router, logd, admin_token: secrets.admin_token, data_dir };
    if let Err(e) = up.create_demo().await {
        tracing::error!(error = %e.message, "cannot create the demo app");
        Out.line(&format!("warning: the demo app could not be created: {}", e.message));
    }
    up.wait_routed().await;
    Ok(up)
}

impl Up {
    /// Creates and deploys the demo app on the first start.
    async fn create_demo(&self) -> Result<(), UpError> {
        let platform = self.server.platform();
        let marker = self.data_dir.join("demo-created");
        if !marker.exists() && platform.require_app(DEMO_APP).await.is_err() {
            deploy_demo(platform).await?;
            std::fs::write(&marker, "The demo app was created; it is not created again once destroyed.\n")
                .map_err(|e| UpError::new(format!("cannot write {}: {e}", marker.display())))?;
        }
        Ok(())
    }

    /// Waits (bounded) until the router's table has every app the control plane routes,
    /// with the endpoints it had then, so the printed URLs answer at once: an app that is
    /// still starting (restored asleep) is held by the router and served once up. The
    /// routes reach the router over the stream, usually in milliseconds.
    async fn wait_routed(&self) {
        let want = self.server.platform().routes.route_set().apps;
        let routes = self.router.routes();
        let mut published = routes.watch();
        let served = || {
            let table = routes.snapshot();
            want.iter().all(|app| {
                table
                    .app(&app.name)
                    .is_some_and(|a| app.endpoints.is_empty() || a.state().spec.endpoints == app.endpoints)
            })
        };
        let wait = async {
            while !served() {
                if published.changed().await.is_err() {
                    break;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), wait).await.is_err() {
            tracing::warn!(apps = want.len(), "the router does not route every app yet");
        }
    }

    /// Stops the router, then the control plane (and every app's processes), then logd.
    pub async fn stop(self) {
        self.router.stop().await;
        self.server.stop().await;
        self.logd.stop().await;
    }
}

async fn deploy_demo(platform: &Arc<Platform>) -> Result<(), UpError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| UpError::new(format!("{what}: {e}"));
    platform
        .create_app(NewApp { name: DEMO_APP.into(), sleep_after: None })
        .await
        .map_err(|e| fail("creating the demo app", &e))?;
    let tarball = crate::slug::pack_files(&DEMO_FILES).map_err(|e| fail("packing the demo app", &e))?;
    let work = platform.slugs.temp_dir().map_err(|e| fail("deploying the demo app", &e))?;
    let file = work.path().join("demo.tar.gz");
    std::fs::write(&file, &tarball).map_err(|e| fail("deploying the demo app", &e))?;
    let sha256 = crate::hex(&Sha256::digest(&tarball));
    platform
        .deploy(DEMO_APP, Source::Tarball { file, sha256 })
        .await
        .map_err(|e| fail("deploying the demo app", &e).hint("it needs python3"))?;
    Ok(())
}

/// Prints where everything is.
async fn banner(up: &Up, args: &UpArgs) {
    let platform = up.server.platform();
    let api = format!("http://{}", up.server.api_addr());
    let mut lines = vec![format!("Slipway is up (data in {})", up.data_dir.display()), String::new()];
    let demo = platform.app(DEMO_APP).await.ok();
    match &demo {
        Some(demo) => {
            lines.push(format!("  App:   {}/", demo.url));
            if let Ok(token) = platform.log_token(DEMO_APP).await {
                lines.push(format!("  Logs:  {}", token.viewer_url));
            }
        }
        None => lines.push(format!("  Apps:  http://<app>.{}:{}/", args.zone, up.router.http_addr().port())),
    }
    if let Some(https) = up.router.https_addr() {
        lines.push(format!("  HTTPS: https://<app>.{}:{}/", args.zone, https.port()));
    }
    lines.push(format!("  API:   {api}"));
    lines.push(format!("  Token: {}", up.admin_token));
    lines.push(String::new());
    lines.push(login_line(&api, &up.admin_token, args.no_login));
    lines.push(String::new());
    if let Some(demo) = &demo {
        lines.push(format!("  Try:   curl {}/", demo.url));
        lines.push(format!("         slipway logs --app {DEMO_APP} --tail"));
        lines.push(String::new());
    }
    if platform.config.addons.managed {
        lines.push(format!(
            "  Add-ons: PostgreSQL and Redis run in {} (`slipway addons create postgres --app {DEMO_APP}`)",
            up.data_dir.join("addons/managed").display()
        ));
    } else {
        lines.push(
            "  Add-ons: none (install PostgreSQL and Redis for them: `sudo apt-get install postgresql redis-server`, then start again)"
                .into(),
        );
    }
    lines.push(String::new());
    lines.push("Ctrl-C stops everything.".into());
    Out.text(&(lines.join("\n") + "\n"));
}

/// Whether `initdb`/`postgres` and `redis-server` are installed where the config says.
fn addon_servers_installed(config: &Config) -> bool {
    let pg = config.addons.postgres.bin_dir.join("postgres").is_file()
        && config.addons.postgres.bin_dir.join("initdb").is_file();
    let redis = &config.addons.redis.server;
    let redis_found = if redis.components().count() > 1 {
        redis.is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(redis).is_file()))
    };
    pg && redis_found
}

/// Saves the CLI's login unless another control plane's is saved; says what it did.
fn login_line(api: &str, token: &str, no_login: bool) -> String {
    let export = format!("export SLIPWAY_API_URL={api} SLIPWAY_TOKEN={token}");
    if no_login {
        return format!("  CLI:   {export}");
    }
    match credentials::load() {
        Ok(Some(saved)) if saved.api_url != api => {
            format!("  CLI:   {export}\n         (your saved login points at {}; it was left alone)", saved.api_url)
        }
        Ok(_) => match credentials::save(&Credentials { api_url: api.to_owned(), token: token.to_owned() }) {
            Ok(path) => format!("  CLI:   logged in (saved to {}); or {export}", path.display()),
            Err(e) => format!("  CLI:   {export}\n         (cannot save the login: {e})"),
        },
        Err(_) => format!("  CLI:   {export}"),
    }
}

/// Reads `<data_dir>/secrets.toml`, creating it (mode 0600) on the first start.
fn load_or_create_secrets(data_dir: &Path) -> Result<Secrets, UpError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("secrets.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return toml::from_str(&text).map_err(|e| {
                UpError::new(format!("{}: {}", path.display(), e.message()))
                    .hint("delete it to generate new secrets (saved logins stop working)")
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(UpError::new(format!("cannot read {}: {e}", path.display()))),
    }
    let secrets =
        Secrets { admin_token: random_hex(32)?, router_token: random_hex(32)?, log_signing_key: random_hex(32)? };
    let text = toml::to_string(&secrets).map_err(|e| UpError::new(format!("cannot encode the secrets: {e}")))?;
    let fail = |e: std::io::Error| UpError::new(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    Ok(secrets)
}

fn random_hex(bytes: usize) -> Result<String, UpError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| UpError::new(format!("no random numbers from the OS: {e}")))?;
    Ok(crate::hex(&buf))
}

/// `addr`, with a free port picked now if it asks for port 0.
fn concrete(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    std::net::TcpListener::bind(addr)?.local_addr()
}

/// The certificate `slipway up` serves over HTTPS for every zone's apps, when the operator
/// put one in `<data_dir>/tls/` (`cert.pem`, `key.pem`); None: HTTPS stays off.
pub(crate) fn local_certificate(data_dir: &Path, zones: &[String]) -> Option<slipway_router::config::CertificateFiles> {
    let (cert, key) = (data_dir.join("tls/cert.pem"), data_dir.join("tls/key.pem"));
    (cert.is_file() && key.is_file()).then(|| slipway_router::config::CertificateFiles {
        hosts: zones.iter().map(|zone| format!("*.{zone}")).collect(),
        cert,
        key,
    })
}

#[cfg(test)]
mod https_tests {
    use super::*;

    #[test]
    fn https_is_on_only_when_both_certificate_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        let zones = vec!["reviewapp.localhost".to_owned()];
        assert!(local_certificate(dir.path(), &zones).is_none());
        std::fs::create_dir_all(dir.path().join("tls")).unwrap();
        std::fs::write(dir.path().join("tls/cert.pem"), "x").unwrap();
        assert!(local_certificate(dir.path(), &zones).is_none(), "no key yet");
        std::fs::write(dir.path().join("tls/key.pem"), "x").unwrap();
        let found = local_certificate(dir.path(), &zones).unwrap();
        assert_eq!(found.hosts, ["*.reviewapp.localhost"]);
    }
}
