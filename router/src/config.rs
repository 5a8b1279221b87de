//! The router's configuration: typed, documented, with defaults.
//!
//! A config is read in three layers, later ones winning: the defaults below, the TOML
//! file given with `--config`, and environment variables named
//! `SLIPWAY_ROUTER__<SECTION>__<KEY>` (for example `SLIPWAY_ROUTER__LISTEN__HTTP=0.0.0.0:80`
//! or `SLIPWAY_ROUTER__ADMIN__TOKEN=...`). `config/router.toml` shows every key.
//!
//! Loading and the one-line errors are `slipway-config`'s, shared by all three programs:
//! any problem is reported as one [`ConfigError`] that names the key and where its value
//! came from, e.g. `config: /etc/slipway/router.toml: key "listen.http": "8080" is not an
//! address like "0.0.0.0:8080" or "[::1]:8080"`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
pub use slipway_config::{ConfigError, LogFormat};
use slipway_config::{de, load_layered};

use crate::spec::{self, Balance};

pub mod acme;
pub mod cidr;
pub mod kubernetes;
pub mod lines;
pub mod tls;

pub use acme::Acme;
pub use cidr::Cidr;
pub use kubernetes::Kubernetes;
pub use lines::Lines;
pub use tls::{CertificateFiles, PemFiles, Tls, ZoneTls};

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SLIPWAY_ROUTER__";
/// The sample config named when the config file is missing.
const EXAMPLE: &str = "config/router.toml";
/// The most header fields `limits.max_headers` may allow: the request framing check
/// (`downstream/framing.rs`) parses heads with room for this many, and must see every
/// head hyper accepts.
pub const MAX_HEADERS: usize = 128;

/// The whole router configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Threads serving proxied traffic, each with its own event loop and its own
    /// listening socket (SO_REUSEPORT). 0 means one per CPU core.
    pub workers: usize,
    /// DNS zones the router serves: a request for `<app>.<zone>` goes to app `<app>`.
    pub zones: Vec<String>,
    /// Write one structured log line per proxied request.
    pub access_log: bool,
    /// Log format: "auto" (JSON unless stdout is a terminal), "json" or "text".
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax, e.g. "info" or "slipway_router=debug".
    pub log_level: String,
    /// Listening addresses.
    pub listen: Listen,
    /// The admin API (route changes, metrics, health).
    pub admin: Admin,
    /// Route sources read at start-up.
    pub routes: Routes,
    /// Timeouts protecting the router from slow clients and slow upstreams.
    pub timeouts: Timeouts,
    /// Size and concurrency limits.
    pub limits: Limits,
    /// Connections to upstream endpoints (the apps' processes).
    pub upstream: Upstream,
    /// The control plane: route stream, activity reports, waking sleeping apps.
    pub control: ControlConfig,
    /// What the router takes from clients: forwarding headers, protocol upgrades.
    pub clients: Clients,
    /// HTTPS: certificates, redirects, HSTS (the listener is `listen.https`).
    pub tls: Tls,
    /// Certificates obtained on demand from an ACME CA for hosts in the route table.
    pub acme: Acme,
    /// Router lines in each app's log (Heroku's `heroku[router]` lines), sent to logd.
    pub lines: Lines,
    /// The Kubernetes route source (Ingresses, Services, EndpointSlices).
    pub kubernetes: Kubernetes,
}

/// What the router takes from its clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Clients {
    /// Peers whose forwarding headers are believed, as CIDRs (e.g. "10.0.0.0/8", or one
    /// address): the load balancer or CDN in front of the router. From them the router
    /// appends the peer to `X-Forwarded-For` and keeps `X-Forwarded-Proto/-Host/-Port` and
    /// `X-Request-Start`; from anyone else it replaces all of them. Default: none.
    pub trusted_proxies: Vec<Cidr>,
    /// Protocols a client may switch a connection to with `Upgrade` (compared without
    /// case, version ignored). A request asking for another one (e.g. `h2c`) is forwarded
    /// as a plain request, without its `Upgrade` and `Connection: upgrade`.
    pub upgrades: Vec<String>,
}

impl Default for Clients {
    fn default() -> Self {
        Clients { trusted_proxies: Vec::new(), upgrades: vec!["websocket".to_owned()] }
    }
}

impl Clients {
    /// Whether a peer at `ip` is a trusted proxy. O(trusted networks); called once per
    /// client connection.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// Whether every protocol an `Upgrade` header value lists (`websocket`, `h2c`,
    /// `websocket/13, h2c`) is allowed.
    pub fn allows_upgrade(&self, value: &[u8]) -> bool {
        let mut protocols = value.split(|&b| b == b',').map(|p| {
            let name = p.split(|&b| b == b'/').next().unwrap_or_default();
            name.trim_ascii()
        });
        let allowed = |name: &[u8]| self.upgrades.iter().any(|u| u.as_bytes().eq_ignore_ascii_case(name));
        protocols.all(|name| !name.is_empty() && allowed(name))
    }
}

/// The control plane the router follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Base URL of the control plane's API, e.g. "http://127.0.0.1:9000". Unset: the
    /// router takes routes only from the routes file and the admin API.
    pub url: Option<String>,
    /// Bearer token for the control plane (prefer `SLIPWAY_ROUTER__CONTROL__TOKEN`).
    pub token: Option<String>,
    /// How often the router reports each app's request count and the route version it
    /// applied to the control plane (also at once after each applied route change).
    #[serde(deserialize_with = "de::duration")]
    pub activity_interval: Duration,
    /// Longest time a request to a sleeping app is held while the app starts; then 503.
    #[serde(deserialize_with = "de::duration")]
    pub wake_timeout: Duration,
    /// Time to open a TCP connection to the control plane, for every call (route stream,
    /// activity report, wake). Then the call fails; the route stream reconnects with
    /// backoff while the table keeps serving.
    #[serde(deserialize_with = "de::duration")]
    pub connect_timeout: Duration,
    /// Time the control plane has to answer a call once it is sent: the response head of
    /// the route stream (whose silence timer then takes over), the whole response of an
    /// activity report or a wake call. Then the call fails and the connection is closed.
    #[serde(deserialize_with = "de::duration")]
    pub response_timeout: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            url: None,
            token: None,
            activity_interval: Duration::from_secs(10),
            wake_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(3),
            response_timeout: Duration::from_secs(10),
        }
    }
}

/// Listening addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Public HTTP listener (HTTP/1.1, and HTTP/2 with prior knowledge).
    #[serde(deserialize_with = "de::addr")]
    pub http: SocketAddr,
    /// Public HTTPS listener (TLS 1.2 and 1.3, ALPN h2 and http/1.1). Unset: no HTTPS.
    #[serde(deserialize_with = "de::opt_addr")]
    pub https: Option<SocketAddr>,
    /// Admin listener: `/v1/routes`, `/metrics`, `/healthz`, `/readyz`. Keep it private.
    #[serde(deserialize_with = "de::addr")]
    pub admin: SocketAddr,
}

/// The admin API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Bearer token required by `/v1/*`. Unset: the route API answers 401 to everyone.
    /// Prefer the environment variable `SLIPWAY_ROUTER__ADMIN__TOKEN` to a file.
    pub token: Option<String>,
}

/// Route sources.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routes {
    /// A routes file (`.toml` or `.json`) loaded at start and reloaded when it changes.
    /// An invalid file at start is a start-up error; later, it keeps the current routes.
    pub file: Option<PathBuf>,
}

/// Timeouts. Values are durations like "500ms", "10s" or "2m".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Time a client has to send a complete request head once it started one
    /// (protects against slowloris). The connection is closed when it runs out.
    #[serde(deserialize_with = "de::duration")]
    pub header_read: Duration,
    /// A client connection with no request in flight is closed after this long.
    #[serde(deserialize_with = "de::duration")]
    pub idle: Duration,
    /// Time to open a TCP connection to an endpoint before trying another one.
    #[serde(deserialize_with = "de::duration")]
    pub connect: Duration,
    /// Time an upstream has to send its response head once the request (with its body)
    /// was sent; then the client gets 504. Apps can set their own
    /// (`options.response_timeout`).
    #[serde(deserialize_with = "de::duration")]
    pub response_header: Duration,
    /// Longest pause while a request body is sent upstream (no byte of it moving). A
    /// client that stops sending gets 408; an app that stops reading gets 504.
    #[serde(deserialize_with = "de::duration")]
    pub request_body: Duration,
    /// An idle pooled upstream connection is not reused after this long. Keep it below
    /// the apps' own keep-alive timeouts (Node.js closes idle connections after 5s).
    #[serde(deserialize_with = "de::duration")]
    pub upstream_idle: Duration,
    /// On SIGTERM/SIGINT, time given to in-flight requests before the process exits.
    #[serde(deserialize_with = "de::duration")]
    pub drain: Duration,
}

/// Limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request head (request line and headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more gets 431. At most 128 ([`MAX_HEADERS`]).
    pub max_headers: usize,
    /// Default per-app limit of concurrent requests; more get 503 for that app only.
    /// Apps can set their own (`options.max_concurrent_requests`). 0 means no limit.
    pub max_concurrent_requests_per_app: u32,
}

/// Upstream connections, balancing and passive health.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upstream {
    /// Default balancing for apps that do not choose: "least_outstanding" (power of two
    /// choices) or "round_robin".
    pub balance: Balance,
    /// Times a request is tried again on another endpoint when the connection failed
    /// before the request was sent.
    pub retries: u32,
    /// Idle keep-alive connections kept per endpoint and worker.
    pub max_idle_per_endpoint: usize,
    /// An endpoint is taken out of rotation after this many consecutive connect failures.
    pub eject_after_failures: u32,
    /// First wait before an ejected endpoint is probed again; doubles after each failed probe.
    #[serde(deserialize_with = "de::duration")]
    pub eject_backoff: Duration,
    /// Longest wait between probes of an ejected endpoint.
    #[serde(deserialize_with = "de::duration")]
    pub eject_backoff_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 0,
            zones: vec!["reviewapp.localhost".to_owned()],
            access_log: true,
            log_format: LogFormat::Auto,
            log_level: "info".to_owned(),
            listen: Listen::default(),
            admin: Admin::default(),
            routes: Routes::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            upstream: Upstream::default(),
            control: ControlConfig::default(),
            clients: Clients::default(),
            tls: Tls::default(),
            acme: Acme::default(),
            lines: Lines::default(),
            kubernetes: Kubernetes::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            http: SocketAddr::from(([0, 0, 0, 0], 8080)),
            https: None,
            admin: SocketAddr::from(([127, 0, 0, 1], 9080)),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            connect: Duration::from_secs(3),
            response_header: Duration::from_secs(60),
            request_body: Duration::from_secs(60),
            upstream_idle: Duration::from_secs(2),
            drain: Duration::from_secs(30),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_header_bytes: 32 * 1024, max_headers: 100, max_concurrent_requests_per_app: 1000 }
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            balance: Balance::LeastOutstanding,
            retries: 2,
            max_idle_per_endpoint: 64,
            eject_after_failures: 3,
            eject_backoff: Duration::from_secs(1),
            eject_backoff_max: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Reads the config file at `path`, applies `SLIPWAY_ROUTER__*` overrides and checks it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config: Config = load_layered(Some(path), ENV_PREFIX, EXAMPLE)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: value ranges and names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| Err(ConfigError::invalid(key, problem));
        if self.workers > 1024 {
            return bad("workers", format!("{} is too many; use 0 (one per core) up to 1024", self.workers));
        }
        if self.zones.is_empty() {
            return bad("zones", "at least one zone is needed, e.g. [\"reviewapp.localhost\"]".into());
        }
        for (i, zone) in self.zones.iter().enumerate() {
            if let Err(problem) = spec::check_host(zone) {
                return bad(&format!("zones[{i}]"), problem);
            }
            if zone.bytes().any(|b| b.is_ascii_uppercase()) {
                return bad(&format!("zones[{i}]"), format!("{zone:?} must be lower-case"));
            }
        }
        if let Err(problem) = slipway_config::logging::check_filter(&self.log_level) {
            return bad("log_level", problem);
        }
        if let Some(token) = &self.admin.token
            && token.len() < 16
        {
            return bad("admin.token", "must be at least 16 characters long".into());
        }
        let t = &self.timeouts;
        for (key, value) in [
            ("timeouts.header_read", t.header_read),
            ("timeouts.idle", t.idle),
            ("timeouts.connect", t.connect),
            ("timeouts.response_header", t.response_header),
            ("timeouts.request_body", t.request_body),
            ("timeouts.upstream_idle", t.upstream_idle),
        ] {
            if value.is_zero() {
                return bad(key, "must be greater than zero".into());
            }
        }
        if self.limits.max_header_bytes < 1024 {
            return bad("limits.max_header_bytes", "must be at least 1024".into());
        }
        if self.limits.max_headers == 0 || self.limits.max_headers > MAX_HEADERS {
            let problem = format!(
                "{} is out of range: 1 to {MAX_HEADERS} (the most the request smuggling check reads)",
                self.limits.max_headers
            );
            return bad("limits.max_headers", problem);
        }
        if self.upstream.retries > 10 {
            return bad("upstream.retries", "must be 10 or less".into());
        }
        if self.upstream.eject_after_failures == 0 {
            return bad("upstream.eject_after_failures", "must be at least 1".into());
        }
        if let Some(url) = &self.control.url {
            let uri: Result<http::Uri, _> = url.parse();
            let ok = uri.as_ref().is_ok_and(|u| u.scheme_str() == Some("http") && u.authority().is_some());
            if !ok {
                return bad("control.url", format!("{url:?} is not a URL like \"http://127.0.0.1:9000\""));
            }
        }
        for (key, value) in [
            ("control.activity_interval", self.control.activity_interval),
            ("control.wake_timeout", self.control.wake_timeout),
            ("control.connect_timeout", self.control.connect_timeout),
            ("control.response_timeout", self.control.response_timeout),
        ] {
            if value.is_zero() {
                return bad(key, "durations in [control] must be greater than zero".into());
            }
        }
        if self.upstream.eject_backoff.is_zero() || self.upstream.eject_backoff_max < self.upstream.eject_backoff {
            return bad(
                "upstream.eject_backoff",
                "must be greater than zero and not above upstream.eject_backoff_max".into(),
            );
        }
        self.lines.validate()?;
        for (i, protocol) in self.clients.upgrades.iter().enumerate() {
            let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if protocol.is_empty() || !protocol.bytes().all(tchar) {
                return bad(
                    &format!("clients.upgrades[{i}]"),
                    format!("{protocol:?} is not a protocol name like \"websocket\""),
                );
            }
        }
        self.acme.validate()?;
        if self.acme.enabled && self.acme.store.kind == acme::StoreKind::Control {
            if self.control.url.is_none() {
                return bad(
                    "acme.store.kind",
                    "\"control\" needs control.url (the control plane keeping the store)".into(),
                );
            }
            if self.control.token.is_none() {
                return bad("acme.store.kind", "\"control\" needs control.token (the router token)".into());
            }
        }
        self.kubernetes.validate()?;
        self.tls.validate(&self.zones)
    }

    /// Number of worker threads to run.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests;
