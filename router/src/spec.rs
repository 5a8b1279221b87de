//! The route-table wire format: what the admin API, the routes file and (later) the control
//! plane's route stream exchange. The control plane depends on these types; they are the
//! one definition.
//!
//! JSON shape of one app:
//! ```json
//! { "name": "shop", "hosts": ["shop.example.com"], "endpoints": ["127.0.0.1:3000"],
//!   "paths": [{ "host": "example.com", "path": "/shop", "match": "prefix" }],
//!   "options": { "balance": "round_robin", "max_concurrent_requests": 200, "response_timeout": "30s" } }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod acme;

/// Most endpoints one app may have.
pub const MAX_ENDPOINTS: usize = 4096;
/// Most custom hosts one app may have.
pub const MAX_HOSTS: usize = 256;
/// Most host + path rules one app may have.
pub const MAX_PATHS: usize = 256;
/// Longest path of a path rule, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// One app's routing: its custom hosts, its endpoints and its options. The app is also
/// reachable as `<name>.<zone>` for every zone the router serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRoutes {
    /// App name: a DNS label (a-z, 0-9, '-', at most 63 characters).
    pub name: String,
    /// Extra host names (custom domains) that route to this app.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Upstream endpoints, `ip:port` or `hostname:port`.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// The dyno (process) behind each endpoint, by endpoint, e.g. `{"127.0.0.1:5001":
    /// "web.1"}`: what the router's log lines name as `dyno=` (optional; an endpoint not
    /// listed has no dyno name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynos: BTreeMap<String, String>,
    /// Host + path rules that route to this app (Kubernetes Ingress paths): requests for
    /// `host` whose path matches go here; the longest matching rule of a host wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathRoute>,
    /// Per-app options.
    #[serde(default)]
    pub options: AppOptions,
}

/// Body of `PUT /v1/routes/{app}`: an app's routes without its name (the path names it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRoutesBody {
    /// Extra host names (custom domains) that route to this app.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Upstream endpoints, `ip:port` or `hostname:port`.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// The dyno (process) behind each endpoint, by endpoint, e.g. `{"127.0.0.1:5001":
    /// "web.1"}`: what the router's log lines name as `dyno=` (optional; an endpoint not
    /// listed has no dyno name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynos: BTreeMap<String, String>,
    /// Host + path rules that route to this app (Kubernetes Ingress paths): requests for
    /// `host` whose path matches go here; the longest matching rule of a host wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathRoute>,
    /// Per-app options.
    #[serde(default)]
    pub options: AppOptions,
}

impl AppRoutesBody {
    /// Names the routes.
    pub fn named(self, name: String) -> AppRoutes {
        AppRoutes {
            name,
            hosts: self.hosts,
            endpoints: self.endpoints,
            dynos: self.dynos,
            paths: self.paths,
            options: self.options,
        }
    }
}

/// One host + path rule of an app, as a Kubernetes Ingress path: `prefix` matches whole
/// path segments (`/api` matches `/api`, `/api/` and `/api/v1`, not `/apis`; a trailing
/// `/` of the rule is ignored; `/` matches every path), `exact` the whole path. The host
/// may be a wildcard `*.example.com` (exactly one label in place of the `*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRoute {
    /// Host name (lower case), or `*.` and a host name.
    pub host: String,
    /// Path, starting with `/`.
    pub path: String,
    /// How the path is compared.
    #[serde(default, rename = "match")]
    pub kind: PathMatch,
}

/// How a [`PathRoute`]'s path is compared with a request's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// By whole path segments.
    #[default]
    Prefix,
    /// The whole path.
    Exact,
}

impl PathRoute {
    /// Checks the host and the path.
    pub fn check(&self) -> Result<(), SpecError> {
        let host = self.host.strip_prefix("*.").unwrap_or(&self.host);
        check_host(host).map_err(|p| SpecError::new("host", p))?;
        if self.host.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(SpecError::new("host", format!("{:?} must be lower-case", self.host)));
        }
        if !self.path.starts_with('/') || self.path.len() > MAX_PATH_LEN {
            let problem = format!("{:?} must start with '/' and be at most {MAX_PATH_LEN} bytes", self.path);
            return Err(SpecError::new("path", problem));
        }
        if self.path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#') {
            return Err(SpecError::new(
                "path",
                format!("{:?} holds a space, control character, '?' or '#'", self.path),
            ));
        }
        Ok(())
    }
}

/// Per-app options; unset ones take the router's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppOptions {
    /// How requests are spread over the endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// Concurrent requests this app may have in flight; more get 503. 0 means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u32>,
    /// Time the app has to send a response head before the client gets 504.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub response_timeout: Option<Duration>,
    /// The app is scaled to zero and can be woken: while it has no endpoints, the router
    /// holds its requests and asks the control plane to start it ([`WAKE_PATH`]).
    ///
    /// Contract with the publisher: a held request is released by the first update that
    /// gives the app endpoints or clears `sleeping`. So while the app boots, keep
    /// `sleeping: true` with no endpoints; publish the endpoints once a dyno accepts
    /// connections (clearing `sleeping` with no endpoints would answer the held requests
    /// with 503 "no endpoints" at once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sleeping: bool,
}

/// The highest version a [`RouteSet`] may carry: 2^53 - 1, the largest integer every JSON
/// client (JavaScript's numbers among them) reads exactly. Versions the router counts up
/// from there still fit in u64 for ever in practice, and never wrap.
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// A whole set of routes with the version it represents: `PUT /v1/routes`, `GET /v1/routes`
/// and the routes file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSet {
    /// Version of this set: a replace must carry a version newer than the table's (409
    /// otherwise, except for a re-send of exactly what is served, a no-op) and at most
    /// [`MAX_VERSION`] (400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The apps.
    #[serde(default)]
    pub apps: Vec<AppRoutes>,
}

/// One message of the control plane's route stream, `GET /v1/routes?watch=true`
/// (server-sent events: `id` is the version, `event` the type, `data` this JSON).
///
/// A stream starts with a `snapshot`, or, when the router resumes with `Last-Event-ID`
/// and the control plane still has the changes since, with those changes. Versions only
/// grow; a router applies events in order and remembers the last version to resume from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteEvent {
    /// Every app the control plane routes, at `version`: replaces what it routed before.
    Snapshot {
        /// Version of this state.
        version: u64,
        /// Every app.
        apps: Vec<AppRoutes>,
    },
    /// One app created or changed.
    Upsert {
        /// Version after this change.
        version: u64,
        /// The app's routes.
        app: AppRoutes,
    },
    /// One app removed.
    Remove {
        /// Version after this change.
        version: u64,
        /// The app's name.
        name: String,
    },
}

impl RouteEvent {
    /// The version the event brings the routes to.
    pub fn version(&self) -> u64 {
        match self {
            RouteEvent::Snapshot { version, .. }
            | RouteEvent::Upsert { version, .. }
            | RouteEvent::Remove { version, .. } => *version,
        }
    }

    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            RouteEvent::Snapshot { .. } => "snapshot",
            RouteEvent::Upsert { .. } => "upsert",
            RouteEvent::Remove { .. } => "remove",
        }
    }
}

/// Path of the control plane's route stream.
pub const ROUTES_PATH: &str = "/v1/routes";
/// Path routers report traffic to: `POST` an [`Activity`].
pub const ACTIVITY_PATH: &str = "/v1/router/activity";
/// Path (with `{app}`) routers ask to wake a sleeping app: `POST`, empty body.
pub const WAKE_PATH: &str = "/v1/apps/{app}/wake";

/// A router's periodic report: the requests each app served since its previous report
/// (apps with none are left out), which the control plane uses to put idle apps to sleep;
/// and which version of the route stream the router has applied, which the control plane
/// waits for before it stops processes the routes no longer point at.
///
/// Both newer fields are optional on the wire: a report without them (an older router)
/// still counts for activity, and such a router is "unknown" to the release switch.
/// Unknown fields are ignored, so a newer router's report still counts here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// App name → requests.
    #[serde(default)]
    pub apps: std::collections::BTreeMap<String, u64>,
    /// The reporting router's id, random per start of the router ([`check_router_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// The version of the last route-stream event the router has applied; absent before
    /// its first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_version: Option<u64>,
}

/// Longest router id in an [`Activity`] report.
pub const MAX_ROUTER_ID: usize = 64;

/// Checks a router id: 1 to [`MAX_ROUTER_ID`] characters of `[A-Za-z0-9_-]`.
pub fn check_router_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ROUTER_ID {
        return Err(format!("must be 1 to {MAX_ROUTER_ID} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("{id:?} may only hold letters, digits, '-' and '_'"));
    }
    Ok(())
}

/// Balancing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Pick two endpoints at random, send to the one with fewer requests in flight.
    LeastOutstanding,
    /// Each endpoint in turn.
    RoundRobin,
}

/// An upstream address: a socket address, or a host name resolved when connecting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointAddr {
    /// `ip:port`.
    Socket(SocketAddr),
    /// `hostname:port`.
    Named(Box<str>, u16),
}

impl fmt::Display for EndpointAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointAddr::Socket(addr) => addr.fmt(f),
            EndpointAddr::Named(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

impl std::str::FromStr for EndpointAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err(format!("{s:?} has port 0"));
            }
            return Ok(EndpointAddr::Socket(addr));
        }
        let problem = || format!("{s:?} is not an endpoint like \"10.0.0.7:3000\" or \"web:3000\"");
        let (host, port) = s.rsplit_once(':').ok_or_else(problem)?;
        let port: u16 = port.parse().map_err(|_| problem())?;
        if port == 0 || check_host(host).is_err() {
            return Err(problem());
        }
        Ok(EndpointAddr::Named(host.to_ascii_lowercase().into(), port))
    }
}

/// A problem with a route set, naming the field, e.g. `apps[2].endpoints[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SpecError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl SpecError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        SpecError { field: field.into(), problem: problem.into() }
    }

    /// Prefixes the field path, e.g. `apps[3]` + `endpoints[0]`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() { prefix.to_owned() } else { format!("{prefix}.{}", self.field) };
        self
    }
}

impl AppRoutes {
    /// Checks names, hosts, endpoints and options; returns the parsed endpoints.
    pub fn validate(&self) -> Result<Vec<EndpointAddr>, SpecError> {
        slipway_config::app_name::check(&self.name).map_err(|p| SpecError::new("name", p))?;
        if self.hosts.len() > MAX_HOSTS {
            return Err(SpecError::new("hosts", format!("at most {MAX_HOSTS} hosts per app")));
        }
        for (i, host) in self.hosts.iter().enumerate() {
            check_host(host).map_err(|p| SpecError::new(format!("hosts[{i}]"), p))?;
            if host.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(SpecError::new(format!("hosts[{i}]"), format!("{host:?} must be lower-case")));
            }
            if self.hosts[..i].contains(host) {
                return Err(SpecError::new(format!("hosts[{i}]"), format!("{host:?} is listed twice")));
            }
        }
        if self.paths.len() > MAX_PATHS {
            return Err(SpecError::new("paths", format!("at most {MAX_PATHS} path rules per app")));
        }
        for (i, rule) in self.paths.iter().enumerate() {
            rule.check().map_err(|e| e.within(&format!("paths[{i}]")))?;
            if self.paths[..i].contains(rule) {
                return Err(SpecError::new(format!("paths[{i}]"), "is listed twice"));
            }
        }
        if self.endpoints.len() > MAX_ENDPOINTS {
            return Err(SpecError::new("endpoints", format!("at most {MAX_ENDPOINTS} endpoints per app")));
        }
        let mut parsed: Vec<EndpointAddr> = Vec::with_capacity(self.endpoints.len());
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let addr: EndpointAddr = endpoint.parse().map_err(|p| SpecError::new(format!("endpoints[{i}]"), p))?;
            if parsed.contains(&addr) {
                return Err(SpecError::new(format!("endpoints[{i}]"), format!("{endpoint:?} is listed twice")));
            }
            parsed.push(addr);
        }
        for (endpoint, dyno) in &self.dynos {
            let field = || format!("dynos.{endpoint}");
            if !self.endpoints.contains(endpoint) {
                return Err(SpecError::new(field(), format!("{endpoint:?} is not one of the endpoints")));
            }
            if !is_dyno_name(dyno) {
                return Err(SpecError::new(field(), format!("{dyno:?} is not a dyno name like \"web.1\"")));
            }
        }
        if let Some(timeout) = self.options.response_timeout
            && timeout.is_zero()
        {
            return Err(SpecError::new("options.response_timeout", "must be greater than zero"));
        }
        Ok(parsed)
    }
}

/// Whether `name` can be a dyno name: 1 to 64 of a-z, A-Z, 0-9, `.`, `_`, `-` (it goes into
/// log lines unquoted).
pub fn is_dyno_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Checks a host name: dot-separated DNS labels, at most 253 characters, no port.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > 253 {
        return Err(format!("{host:?} must be 1 to 253 characters long"));
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{host:?} is not a valid host name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
