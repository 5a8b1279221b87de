//! The whole platform as separate, real processes: `slipway-logd`, `slipway server` and
//! `slipway-router` (following the control plane's route stream), each with a config in a
//! temporary directory and loopback port 0, plus helpers to call the API, reach apps
//! through the router, read logs from logd and run the CLI. The router reaches the
//! control plane through a [`Relay`], so a test can cut its route stream.
//!
//! Stopping sends SIGTERM and waits, so the control plane stops the apps' processes; a
//! test that panics still stops everything when the [`Slipway`] is dropped: each program's
//! process group (SIGTERM, then SIGKILL), then any app process group the control plane's
//! ledger still records (see [`Process`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use crate::binaries::binary;
use crate::client::{self, Reply};
use crate::process::Process;
use crate::relay::Relay;

/// The zone the router serves in these tests.
pub const ZONE: &str = "test.localhost";
/// The control plane's admin token.
pub const TOKEN: &str = "e2e-admin-token-0123456789";
/// The routers' token.
pub const ROUTER_TOKEN: &str = "e2e-router-token-0123456789";
/// logd's token signing key.
pub const SIGNING_KEY: &str = "e2e-signing-key-0123456789abcdef0123456789";

/// The running platform.
pub struct Slipway {
    pub logd: Process,
    pub control: Process,
    pub router: Process,
    /// The control plane's API.
    pub api: SocketAddr,
    /// The router's public listener.
    pub http: SocketAddr,
    /// The router's admin listener.
    pub router_admin: SocketAddr,
    /// logd's HTTP listener.
    pub logd_http: SocketAddr,
    /// Between the router and the control plane's API.
    pub control_relay: Relay,
    stopped: bool,
    /// Configs and the data directory; declared last, so it goes after the processes.
    pub dir: tempfile::TempDir,
}

/// The value of `field` in a JSON log line.
pub fn log_field(line: &str, field: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    value[field].as_str().unwrap_or_else(|| panic!("no {field:?} in {line}")).to_owned()
}

fn addr(line: &str, field: &str) -> SocketAddr {
    log_field(line, field).parse().unwrap()
}

impl Slipway {
    /// Starts logd, the control plane and a router (route changes reach the router in
    /// milliseconds; old processes are drained for 1 s; sleep is checked every 100 ms).
    pub async fn start() -> Slipway {
        let dir = tempfile::tempdir().unwrap();
        let limit = Duration::from_secs(30);

        let logd_config = dir.path().join("logd.toml");
        std::fs::write(
            &logd_config,
            format!(
                "log_format = \"json\"\n[listen]\nforward = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
                 [auth]\nsigning_key = \"{SIGNING_KEY}\"\nadmin_token = \"{TOKEN}\"\n"
            ),
        )
        .unwrap();
        let mut logd = Process::spawn(&binary("slipway-logd"), &["--config", logd_config.to_str().unwrap()], &[]);
        let line = logd.wait_for_line("logd started", limit).await;
        let (forward, logd_http) = (addr(&line, "forward"), addr(&line, "http"));

        let control_config = dir.path().join("control.toml");
        std::fs::write(
            &control_config,
            format!(
                "data_dir = \"{data}\"\nlog_format = \"json\"\nlog_level = \"info\"\n\
                 [listen]\napi = \"127.0.0.1:0\"\n\
                 [auth]\ntoken = \"{TOKEN}\"\nrouter_token = \"{ROUTER_TOKEN}\"\n\
                 [apps]\nzones = [\"{ZONE}\"]\nurl = \"http://{{app}}.{ZONE}\"\n\
                 [runtime]\nboot_timeout = \"30s\"\ndrain_delay = \"{drain}\"\nstop_grace = \"5s\"\n\
                 restart_backoff = \"200ms\"\nrestart_backoff_max = \"2s\"\n\
                 [sleep]\ncheck_interval = \"{sleep}\"\nmin_sleep_after = \"1s\"\n\
                 [logd]\nforward = \"{forward}\"\nurl = \"http://{logd_http}\"\nsigning_key = \"{SIGNING_KEY}\"\n",
                data = dir.path().join("data").display(),
                drain = "1s",
                sleep = "100ms",
            ),
        )
        .unwrap();
        let mut control =
            Process::spawn(&binary("slipway"), &["server", "--config", control_config.to_str().unwrap()], &[]);
        control.reap_ledger(&dir.path().join("data"));
        let api = addr(&control.wait_for_line("control plane started", limit).await, "api");
        let control_relay = Relay::start(api).await;

        let router_config = dir.path().join("router.toml");
        std::fs::write(
            &router_config,
            format!(
                "workers = 1\nzones = [\"{ZONE}\"]\naccess_log = false\nlog_format = \"json\"\n\
                 [listen]\nhttp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
                 [admin]\ntoken = \"{TOKEN}\"\n\
                 [timeouts]\ndrain = \"2s\"\n\
                 [control]\nurl = \"http://{relay}\"\ntoken = \"{ROUTER_TOKEN}\"\n\
                 activity_interval = \"{activity}\"\nwake_timeout = \"30s\"\n\
                 [lines]\nenabled = true\nlogd = \"{forward}\"\nflush_interval = \"50ms\"\n",
                activity = "100ms",
                relay = control_relay.addr,
            ),
        )
        .unwrap();
        let mut router = Process::spawn(&binary("slipway-router"), &["--config", router_config.to_str().unwrap()], &[]);
        let line = router.wait_for_line("router started", limit).await;
        let (http, router_admin) = (addr(&line, "http"), addr(&line, "admin"));
        let slipway =
            Slipway { dir, logd, control, router, api, http, router_admin, logd_http, control_relay, stopped: false };
        // Ready once the first snapshot of the route stream is applied; no event says so
        // from outside, so poll /readyz (bounded).
        slipway
            .eventually("the router follows the control plane", async || {
                client::get(slipway.router_admin, "admin", "/readyz").await.status == 200
            })
            .await;
        slipway
    }

    /// Polls `check` until it holds; panics after 30 s. Only for what no event can tell
    /// (a route change reaching the router over the stream, a process state).
    pub async fn eventually(&self, what: &str, mut check: impl AsyncFnMut() -> bool) {
        crate::eventually(what, Duration::from_secs(30), async || check().await.then_some(())).await;
    }

    /// The control plane's API, called with the admin token.
    pub fn control_api(&self) -> client::Api {
        client::Api { addr: self.api, host: "control", token: TOKEN }
    }

    /// An API call with the admin token and an optional JSON body.
    pub async fn api(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
        self.control_api().json(method, path, body).await
    }

    /// An API call with any body and token.
    pub async fn api_raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
        token: Option<&str>,
    ) -> Reply {
        self.control_api().call(method, path, content_type, body, token).await
    }

    /// An API call that must answer `status`; its JSON.
    pub async fn api_ok(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> serde_json::Value {
        self.control_api().ok(method, path, body, status).await
    }

    /// `GET path` of `app` through the router (its `Host` is `<app>.<zone>`).
    pub async fn get(&self, app: &str, path: &str) -> Reply {
        client::get(self.http, &format!("{app}.{ZONE}"), path).await
    }

    /// Creates `app` and deploys the echo app to it from a git repository; returns the
    /// release JSON.
    pub async fn deploy_echo(&self, app: &str, body: serde_json::Value) -> serde_json::Value {
        let mut new = serde_json::json!({ "name": app });
        if let (Some(new), Some(extra)) = (new.as_object_mut(), body.as_object()) {
            new.extend(extra.clone());
        }
        self.api_ok("POST", "/v1/apps", Some(new), 201).await;
        let repo = echo_app_repo(self.dir.path(), app);
        let git = serde_json::json!({ "url": repo.to_str().unwrap(), "ref": "main" });
        self.api_ok("POST", &format!("/v1/apps/{app}/deploys"), Some(git), 201).await
    }

    /// A log token for `app`.
    pub async fn log_token(&self, app: &str) -> String {
        let token = self.api_ok("POST", &format!("/v1/apps/{app}/log-token"), None, 200).await;
        token["token"].as_str().unwrap().to_owned()
    }

    /// Kills the control plane with SIGKILL (it stops nothing), then starts it again on
    /// the same API address with the same data dir; returns once it has started.
    pub async fn kill_and_restart_control(&mut self) {
        self.control.signal(9);
        self.control.wait_exit(Duration::from_secs(30)).await;
        // The apps it left are for the next start to find, not for this handle to stop.
        self.control.release_ledgers();
        let config = self.dir.path().join("control.toml");
        let api = self.api.to_string();
        self.control = Process::spawn(
            &binary("slipway"),
            &["server", "--config", config.to_str().unwrap()],
            &[("SLIPWAY_CONTROL__LISTEN__API", &api)],
        );
        self.control.reap_ledger(&self.dir.path().join("data"));
        self.control.wait_for_line("control plane started", Duration::from_secs(30)).await;
    }

    /// Stops the router, the control plane (and the apps) and logd, gracefully.
    pub async fn stop(mut self) {
        for process in [&mut self.router, &mut self.control, &mut self.logd] {
            process.signal(15);
            let code = process.wait_exit(Duration::from_secs(30)).await;
            assert_eq!(code, Some(0), "exit code; output:\n{}", process.output.join("\n"));
        }
        self.stopped = true;
    }
}

impl Drop for Slipway {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // A failed test: stop the router, then the control plane gracefully (so it stops
        // the apps' processes; its ledger catches what it could not), then logd, before
        // the temporary directory with the ledger goes.
        for process in [&mut self.router, &mut self.control, &mut self.logd] {
            process.stop_all(Duration::from_secs(15));
        }
    }
}

/// Whether `pid` is alive (not gone, not a zombie).
pub use slipway_config::process_group::running;

/// `slipway up` and the CLI as a user runs them: a temporary directory with a data
/// directory and a HOME of their own (the CLI's login goes there), every address on a
/// free port.
pub struct Up {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub data: PathBuf,
}

impl Up {
    /// New, empty directories.
    pub fn new() -> Up {
        let dir = tempfile::tempdir().unwrap();
        let (home, data) = (dir.path().join("home"), dir.path().join("data"));
        std::fs::create_dir(&home).unwrap();
        Up { dir, home, data }
    }

    /// The environment of `slipway` commands: this HOME, no XDG overrides.
    pub fn env(&self) -> [(&'static str, &str); 3] {
        [("HOME", self.home.to_str().unwrap()), ("XDG_CONFIG_HOME", ""), ("XDG_DATA_HOME", "")]
    }

    /// Starts `slipway up` on free ports with `extra` arguments. Dropping the process
    /// stops it and every app process its ledger records.
    pub fn start(&self, extra: &[&str]) -> Process {
        let any = "127.0.0.1:0";
        let mut args = vec!["up", "--data-dir", self.data.to_str().unwrap()];
        for flag in ["--http", "--api", "--logs", "--forward", "--router-admin"] {
            args.extend([flag, any]);
        }
        args.extend(extra);
        let mut up = Process::spawn(&binary("slipway"), &args, &self.env());
        up.reap_ledger(&self.data);
        up
    }

    /// Runs a `slipway` CLI command with this HOME (and its saved login).
    pub fn cli(&self, args: &[&str]) -> Process {
        Process::spawn(&binary("slipway"), args, &self.env())
    }

    /// Runs a `slipway` CLI command against the `slipway up` whose banner `up` printed
    /// (its API URL and token, as the banner's `export` line gives them).
    pub fn cli_of(&self, up: &Process, args: &[&str]) -> Process {
        let field = |label: &str| {
            let line = up.output.iter().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} line"));
            line[label.len()..].trim().to_owned()
        };
        let (api, token) = (field("  API:"), field("  Token:"));
        let mut env = self.env().to_vec();
        env.extend([("SLIPWAY_API_URL", api.as_str()), ("SLIPWAY_TOKEN", token.as_str())]);
        Process::spawn(&binary("slipway"), args, &env)
    }
}

impl Default for Up {
    fn default() -> Self {
        Up::new()
    }
}

/// The echo app of `tests/fixtures/echo-app`.
pub fn echo_app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/echo-app")
}

/// A git repository (branch `main`, one commit) holding the echo app, under `parent`.
pub fn echo_app_repo(parent: &Path, name: &str) -> PathBuf {
    let repo = parent.join(format!("repo-{name}"));
    std::fs::create_dir_all(&repo).unwrap();
    for entry in std::fs::read_dir(echo_app_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), repo.join(entry.file_name())).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "echo app"]);
    repo
}

/// Runs git in `dir` with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Slipway Tests", "-c", "user.email=tests@slipway.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run git: {e} (is git installed? tests/run installs it)"));
    assert!(status.success(), "git {args:?} failed in {}", dir.display());
}
