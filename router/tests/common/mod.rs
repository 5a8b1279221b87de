//! Starts a real router (in this process, on loopback port 0) and talks to its admin API
//! over HTTP.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use slipway_router::{Config, Router};
use slipway_tests::{Reply, client};

pub const TOKEN: &str = "test-admin-token-0123456789";
pub const ZONE: &str = "test.localhost";

/// A config for tests: one worker, loopback port 0, short drain, no access log.
pub fn config() -> Config {
    let mut config = Config { workers: 1, zones: vec![ZONE.to_owned()], access_log: false, ..Config::default() };
    config.listen.http = "127.0.0.1:0".parse().unwrap();
    config.listen.admin = "127.0.0.1:0".parse().unwrap();
    config.admin.token = Some(TOKEN.to_owned());
    config.timeouts.drain = Duration::from_secs(5);
    config
}

pub struct TestRouter {
    pub router: Option<Router>,
    pub http: SocketAddr,
    pub admin: SocketAddr,
}

/// Starts a router with `config` (off the async runtime: start-up blocks briefly).
pub async fn start(config: Config) -> TestRouter {
    let router = tokio::task::spawn_blocking(move || Router::start(config)).await.unwrap().unwrap();
    TestRouter { http: router.http_addr(), admin: router.admin_addr(), router: Some(router) }
}

pub fn host(app: &str) -> String {
    format!("{app}.{ZONE}")
}

impl TestRouter {
    /// `GET path` for `app` through the router, on a new connection.
    pub async fn get(&self, app: &str, path: &str) -> Reply {
        client::get(self.http, &host(app), path).await
    }

    /// An admin API call; `token` None sends no Authorization header.
    pub async fn admin_call(&self, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> Reply {
        let content_type = body.map(|_| "application/json");
        let body = Bytes::from(body.unwrap_or("").to_owned());
        client::call(self.admin, "admin", (method, path), content_type, body, token).await
    }

    /// An admin API call with the right token.
    pub async fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.admin_call(method, path, body, Some(TOKEN)).await
    }

    /// Creates or replaces app `name` with `endpoints`; returns the table version.
    pub async fn put_app(&self, name: &str, endpoints: &[String]) -> u64 {
        let body = serde_json::json!({ "endpoints": endpoints }).to_string();
        self.put_app_json(name, &body).await
    }

    /// `PUT /v1/routes/{name}` with a raw JSON body; panics unless 200.
    pub async fn put_app_json(&self, name: &str, body: &str) -> u64 {
        let reply = self.admin("PUT", &format!("/v1/routes/{name}"), Some(body)).await;
        assert_eq!(reply.status, 200, "PUT {name}: {}", reply.text());
        reply.json()["version"].as_u64().unwrap()
    }

    /// The value of a metric sample, e.g. `slipway_router_retries_total{app="a"}`; 0 if absent.
    pub fn metric(&self, sample: &str) -> f64 {
        slipway_tests::metric(&self.router.as_ref().unwrap().metrics_text(), sample)
    }

    /// Graceful stop; waits for the drain.
    pub async fn stop(mut self) {
        if let Some(router) = self.router.take() {
            router.stop().await;
        }
    }
}

/// Polls `check` until it holds (10 s at most). Only for changes that arrive by a path
/// the test cannot subscribe to (a file watch, a stream into the router).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    slipway_tests::eventually(what, Duration::from_secs(10), async || check().await.then_some(())).await;
}
