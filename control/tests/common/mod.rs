//! Starts a real control plane in this process (API on loopback port 0, SQLite in a
//! temporary directory, the local runtime), optionally with a real logd next to it, and
//! talks to the API over HTTP.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use slipway_control::Config;
use slipway_control::server::Server;
use slipway_tests::{Reply, client};

pub mod cli;

pub const TOKEN: &str = "test-admin-token-0123456789";
pub const ROUTER_TOKEN: &str = "test-router-token-0123456789";
pub const SIGNING_KEY: &str = "test-signing-key-0123456789abcdef0123";
pub const ZONE: &str = "test.localhost";

/// A config for tests: port 0, short timers, no logd.
pub fn config(dir: &Path) -> Config {
    let mut config = Config { data_dir: dir.join("data"), ..Config::default() };
    config.listen.api = "127.0.0.1:0".parse().unwrap();
    config.auth.token = Some(TOKEN.into());
    config.auth.router_token = Some(ROUTER_TOKEN.into());
    config.apps.zones = vec![ZONE.into()];
    config.apps.url = format!("http://{{app}}.{ZONE}:8080");
    config.runtime.boot_timeout = Duration::from_secs(30);
    config.runtime.drain_delay = Duration::from_millis(200);
    config.runtime.stop_grace = Duration::from_secs(5);
    config.runtime.restart_backoff = Duration::from_millis(100);
    config.runtime.restart_backoff_max = Duration::from_millis(400);
    config
}

pub struct TestServer {
    pub server: Option<Server>,
    pub api: SocketAddr,
    pub dir: tempfile::TempDir,
    pub logd: Option<slipway_logd::Logd>,
}

/// Starts a control plane with the test config, changed by `change`.
pub async fn start_with(change: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    change(&mut config);
    config.validate().unwrap();
    let server = Server::start(config).await.unwrap();
    TestServer { api: server.api_addr(), server: Some(server), dir, logd: None }
}

/// Starts a control plane with the test config.
pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

/// Starts logd in this process, then a control plane sending it the apps' output.
pub async fn start_with_logd(change: impl FnOnce(&mut Config)) -> TestServer {
    let mut logd_config = slipway_logd::Config::default();
    logd_config.listen.forward = "127.0.0.1:0".parse().unwrap();
    logd_config.listen.http = "127.0.0.1:0".parse().unwrap();
    logd_config.auth.signing_key = Some(SIGNING_KEY.into());
    let logd = slipway_logd::Logd::start(logd_config).await.unwrap();
    let (forward, http) = (logd.forward_addr(), logd.http_addr());
    let mut server = start_with(|config| {
        config.logd.forward = Some(forward);
        config.logd.url = Some(format!("http://{http}"));
        config.logd.signing_key = Some(SIGNING_KEY.into());
        change(config);
    })
    .await;
    server.logd = Some(logd);
    server
}

impl TestServer {
    /// The API, called with the admin token.
    pub fn client(&self) -> client::Api {
        client::Api { addr: self.api, host: "control", token: TOKEN }
    }

    /// An API call with `token` (None: no Authorization header) and a raw body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
        token: Option<&str>,
    ) -> Reply {
        self.client().call(method, path, content_type, body, token).await
    }

    /// An API call with the admin token and an optional JSON body.
    pub async fn api(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
        self.client().json(method, path, body).await
    }

    /// An API call that must answer `status`; its JSON (Null when empty).
    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> serde_json::Value {
        self.client().ok(method, path, body, status).await
    }

    /// Deploys the directory `dir` as a gzipped tarball; the reply.
    pub async fn deploy_dir(&self, app: &str, dir: &Path) -> Reply {
        let tarball = slipway_control::slug::pack_dir(dir).unwrap();
        self.call(
            "POST",
            &format!("/v1/apps/{app}/deploys"),
            Some("application/gzip"),
            Bytes::from(tarball),
            Some(TOKEN),
        )
        .await
    }

    /// Writes an app (files: name → content) under the temporary directory and deploys it.
    pub async fn deploy_files(&self, app: &str, files: &[(&str, &str)]) -> Reply {
        static SOURCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SOURCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.dir.path().join(format!("src-{app}-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        self.deploy_dir(app, &dir).await
    }

    /// The dynos of `app`.
    pub async fn dynos(&self, app: &str) -> Vec<serde_json::Value> {
        self.ok("GET", &format!("/v1/apps/{app}/dynos"), None, 200).await.as_array().unwrap().clone()
    }

    /// The port of dyno `name` of `app` once it is up (polled: no event for it here).
    pub async fn up_port(&self, app: &str, name: &str) -> u16 {
        slipway_tests::eventually(&format!("{app} {name} up"), Duration::from_secs(30), async || {
            let dynos = self.dynos(app).await;
            let up = dynos.iter().find(|d| d["name"] == name && d["state"] == "up")?;
            u16::try_from(up["port"].as_u64()?).ok()
        })
        .await
    }

    /// The logd stream of `app` (history first), with extra query parameters.
    pub async fn logs(&self, app: &str, query: &str) -> slipway_tests::stream::Stream {
        let token = self.ok("POST", &format!("/v1/apps/{app}/log-token"), None, 200).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let http = self.logd.as_ref().expect("started with logd").http_addr();
        slipway_tests::stream::app_logs(http, app, &token, query).await
    }

    /// Stops the control plane (and every app's processes), then logd.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(logd) = self.logd.take() {
            logd.stop().await;
        }
    }
}

/// `slipway server` as a process with its data in `dir`, placing add-ons on `pg` and
/// `redis`; the process and its API.
pub async fn server_process(
    dir: &Path,
    pg: Option<&slipway_tests::servers::Postgres>,
    redis: Option<&slipway_tests::servers::Redis>,
) -> (slipway_tests::process::Process, SocketAddr) {
    let path = dir.join("control.toml");
    let mut toml = format!(
        "data_dir = \"{}\"\nlog_format = \"json\"\n[listen]\napi = \"127.0.0.1:0\"\n",
        dir.join("data").display()
    );
    if let Some(pg) = pg {
        toml.push_str(&format!("[addons.postgres]\nservers = [\"{}\"]\n", pg.admin_url()));
    }
    if let Some(redis) = redis {
        toml.push_str(&format!("[addons.redis]\nservers = [\"{}\"]\n", redis.admin_url()));
    }
    std::fs::write(&path, toml).unwrap();
    let mut server = slipway_tests::process::Process::spawn(
        Path::new(env!("CARGO_BIN_EXE_slipway")),
        &["server", "--config", path.to_str().unwrap()],
        &[("SLIPWAY_CONTROL__AUTH__TOKEN", TOKEN)],
    );
    let line = server.wait_for_line("control plane started", Duration::from_secs(30)).await;
    let api = serde_json::from_str::<serde_json::Value>(&line).unwrap()["api"].as_str().unwrap().parse().unwrap();
    (server, api)
}

/// The echo app of `tests/fixtures/echo-app`.
pub fn echo_app() -> std::path::PathBuf {
    slipway_tests::platform::echo_app_dir()
}

/// `GET path` straight to a dyno's port.
pub async fn get_port(port: u16, path: &str) -> Reply {
    client::get(SocketAddr::from(([127, 0, 0, 1], port)), "dyno", path).await
}
