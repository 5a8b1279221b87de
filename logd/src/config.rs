//! logd's configuration: typed, documented, with defaults.
//!
//! A config is read in three layers, later ones winning: the defaults below, the TOML file
//! given with `--config`, and environment variables named `SLIPWAY_LOGD__<SECTION>__<KEY>`
//! (for example `SLIPWAY_LOGD__LISTEN__HTTP=0.0.0.0:80` or
//! `SLIPWAY_LOGD__AUTH__SIGNING_KEY=...`). `config/logd.toml` shows every key.
//!
//! Loading and the one-line errors are `slipway-config`'s, shared by all three programs:
//! any problem is reported as one [`ConfigError`] naming the key and where its value came
//! from, e.g. `config: /etc/slipway/logd.toml: key "listen.forward": "24224" is not an
//! address like "0.0.0.0:8080" or "[::1]:8080"`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
pub use slipway_config::{ConfigError, LogFormat};
use slipway_config::{de, load_layered};

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SLIPWAY_LOGD__";
/// The sample config named when the config file is missing.
const EXAMPLE: &str = "config/logd.toml";

/// The whole logd configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Threads running ingest and HTTP. 0 means one per CPU core.
    pub worker_threads: usize,
    /// Log format: "auto" (JSON unless stdout is a terminal), "json" or "text".
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax, e.g. "info" or "slipway_logd=debug".
    pub log_level: String,
    /// Listening addresses.
    pub listen: Listen,
    /// The Fluent forward input.
    pub forward: Forward,
    /// How records become log lines.
    pub rules: Rules,
    /// In-memory history.
    pub history: History,
    /// Optional on-disk history.
    pub persistence: Persistence,
    /// The HTTP API: streams, viewer, metrics.
    pub http: Http,
    /// Tokens.
    pub auth: Auth,
}

/// Listening addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Fluent forward protocol over plain TCP.
    #[serde(deserialize_with = "de::addr")]
    pub forward: SocketAddr,
    /// Fluent forward protocol over TLS; off unless set (needs `forward.tls`).
    #[serde(deserialize_with = "de::opt_addr")]
    pub forward_tls: Option<SocketAddr>,
    /// HTTP: `/v1/apps/{app}/logs`, `/apps/{app}`, `/metrics`, `/healthz`.
    #[serde(deserialize_with = "de::addr")]
    pub http: SocketAddr,
}

/// The Fluent forward input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Forward {
    /// Shared key of the HELO/PING/PONG handshake. Unset: no handshake.
    pub shared_key: Option<String>,
    /// Name logd gives in PONG. Empty: the machine's host name.
    pub hostname: String,
    /// Users allowed in (username/password in PING); empty: no user check. Needs shared_key.
    pub users: Vec<User>,
    /// Largest frame (one msgpack message, or a decompressed packed stream), in bytes.
    pub max_frame_bytes: usize,
    /// Most entries (records) in one frame.
    pub max_entries_per_frame: usize,
    /// Most open forward connections; more are refused.
    pub max_connections: usize,
    /// Time a client has to finish the handshake.
    #[serde(deserialize_with = "de::duration")]
    pub handshake_timeout: Duration,
    /// A connection whose client sends nothing for this long while logd waits for it is
    /// closed. Time logd spends on the client's frames (disk, acks) or waiting for buffer
    /// space does not count.
    #[serde(deserialize_with = "de::duration")]
    pub idle_timeout: Duration,
    /// Time a frame has from its first byte to its last, plus one second per
    /// `frame_min_rate` bytes received; a frame still incomplete then closes the connection.
    #[serde(deserialize_with = "de::duration")]
    pub frame_timeout: Duration,
    /// Bytes per second of a frame that earn it one more second past `frame_timeout`, so a
    /// large frame arriving at least this fast is never cut. 0: no allowance.
    pub frame_min_rate: u64,
    /// Bytes all forward connections may hold together (frames not yet handled plus space
    /// reserved for reads). Past it, reads wait until buffers drain.
    pub max_buffered_bytes: usize,
    /// TLS certificate and key for `listen.forward_tls`.
    pub tls: Option<Tls>,
}

/// Space an open forward connection between frames reserves for its next read, out of
/// `forward.max_buffered_bytes` (so the cap must leave room for every connection's).
pub const FORWARD_IDLE_READ: usize = 4 * 1024;
/// Space a busy forward connection reserves for its next read: the most one read takes.
pub const FORWARD_BUSY_READ: usize = 64 * 1024;

/// A user of the forward handshake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name sent in PING.
    pub username: String,
    /// Password.
    pub password: String,
}

/// TLS files (PEM).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Rules mapping a record to a log line. Each list is tried in order; the first source
/// giving a value wins. Sources: `key:<path>` (a record key; dots go into nested maps),
/// `label:<name>` (Fluent Bit's `kubernetes.labels.<name>`), `namespace`
/// (`kubernetes.namespace_name`), `pod` (`kubernetes.pod_name`), `tag` (the group of
/// `tag_pattern` named like the field: `app`, `dyno` or `source`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Where the app name comes from.
    pub app: Vec<RuleSource>,
    /// Where the dyno (process) comes from. `pod` turns `web-7d9c8b5f4-x2k8p` into `web.x2k8p`.
    pub dyno: Vec<RuleSource>,
    /// Where the source comes from (Heroku's `app`, `heroku`, ...).
    pub source: Vec<RuleSource>,
    /// Source of lines whose rules give none.
    pub default_source: String,
    /// Regex on the tag with named groups `app`, `dyno`, `source`.
    #[serde(deserialize_with = "opt_regex")]
    pub tag_pattern: Option<regex::Regex>,
    /// Keys holding the message, tried in order.
    pub message_keys: Vec<String>,
    /// Key holding the stream (`stdout`/`stderr`).
    pub stream_key: String,
    /// Top-level keys dropped instead of kept as fields.
    pub drop_keys: Vec<String>,
    /// App of records whose rules give none. Empty: such records are dropped and counted.
    pub fallback_app: String,
}

/// Where a line attribute comes from; see [`Rules`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum RuleSource {
    /// A record key; the path goes into nested maps.
    Key(Vec<String>),
    /// `kubernetes.labels.<name>`.
    Label(String),
    /// `kubernetes.namespace_name`.
    Namespace,
    /// `kubernetes.pod_name`.
    Pod,
    /// The named group of `tag_pattern`.
    Tag,
}

impl TryFrom<String> for RuleSource {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a rule source; expected \"key:<path>\", \"label:<name>\", \"namespace\", \"pod\" or \"tag\""
            )
        };
        match s.as_str() {
            "namespace" => Ok(RuleSource::Namespace),
            "pod" => Ok(RuleSource::Pod),
            "tag" => Ok(RuleSource::Tag),
            _ => {
                if let Some(path) = s.strip_prefix("key:") {
                    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
                    if parts.iter().any(String::is_empty) {
                        return Err(bad());
                    }
                    Ok(RuleSource::Key(parts))
                } else if let Some(label) = s.strip_prefix("label:")
                    && !label.is_empty()
                {
                    Ok(RuleSource::Label(label.to_owned()))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

/// In-memory history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct History {
    /// Lines kept per app (oldest evicted first).
    pub max_lines_per_app: usize,
    /// Bytes kept per app (approximate in-memory size of the lines).
    pub max_bytes_per_app: usize,
    /// Bytes kept for all apps together; over it, the oldest lines of any app go first.
    pub max_bytes_total: usize,
    /// Most apps; records for further apps are dropped and counted.
    pub max_apps: usize,
}

/// On-disk history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Persistence {
    /// Directory of the segment files (one sub-directory per app). Unset: memory only.
    pub dir: Option<PathBuf>,
    /// When written lines are fsynced: "always" (before the ack), "interval" or "never".
    pub fsync: Fsync,
    /// With `fsync = "interval"`: time between fsyncs.
    #[serde(deserialize_with = "de::duration")]
    pub fsync_interval: Duration,
    /// A segment file is closed and a new one started past this size, in bytes.
    pub segment_bytes: u64,
    /// Disk bytes kept per app; the oldest segments are deleted past it.
    pub retention_bytes_per_app: u64,
    /// Segments whose newest line is older than this are deleted.
    #[serde(deserialize_with = "de::duration")]
    pub retention_age: Duration,
    /// Bytes queued for the disk writer before ingest waits for it.
    pub max_pending_bytes: usize,
}

/// When lines are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// fsync before acknowledging (group commit: one fsync per file per write batch).
    Always,
    /// fsync every `fsync_interval`; an ack means written to the OS.
    Interval,
    /// Never fsync; the OS writes back when it likes.
    Never,
}

/// The HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// Lines sent before following when the request gives no `tail`.
    pub default_tail: usize,
    /// Largest `tail` accepted.
    pub max_tail: usize,
    /// Bound of each subscriber's queue, in batches (a batch holds up to 64 lines).
    pub subscriber_queue: usize,
    /// An idle stream gets a heartbeat this often.
    #[serde(deserialize_with = "de::duration")]
    pub heartbeat: Duration,
    /// Longest a stream waits to batch lines into one write when many streams are open
    /// (each writes at most once per `open streams × 10 µs`, up to this). 0: never wait.
    #[serde(deserialize_with = "de::duration")]
    pub max_coalesce: Duration,
    /// Origins allowed by CORS: exact origins, or "*" for any. Empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Most concurrent streams; more get 503.
    pub max_subscribers: usize,
}

/// Tokens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// HMAC-SHA256 key of app tokens (at least 32 bytes). Unset: app tokens are refused.
    pub signing_key: Option<String>,
    /// Token that reads every app and `/v1/apps` (at least 16 characters).
    pub admin_token: Option<String>,
    /// Serve streams without any token (a laptop; never on a network).
    pub anonymous: bool,
    /// Require the admin token on `/metrics`.
    pub protect_metrics: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            worker_threads: 0,
            log_format: LogFormat::Auto,
            log_level: "info".to_owned(),
            listen: Listen::default(),
            forward: Forward::default(),
            rules: Rules::default(),
            history: History::default(),
            persistence: Persistence::default(),
            http: Http::default(),
            auth: Auth::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            forward: SocketAddr::from(([0, 0, 0, 0], 24224)),
            forward_tls: None,
            http: SocketAddr::from(([0, 0, 0, 0], 8090)),
        }
    }
}

impl Default for Forward {
    fn default() -> Self {
        Forward {
            shared_key: None,
            hostname: String::new(),
            users: Vec::new(),
            max_frame_bytes: 16 * 1024 * 1024,
            max_entries_per_frame: 100_000,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            frame_timeout: Duration::from_secs(30),
            frame_min_rate: 16 * 1024,
            max_buffered_bytes: 256 * 1024 * 1024,
            tls: None,
        }
    }
}

/// The default tag pattern: `slipway.<app>[.<dyno>]`.
pub const DEFAULT_TAG_PATTERN: &str = r"^slipway\.(?P<app>[a-z0-9][a-z0-9_-]*)(?:\.(?P<dyno>.+))?$";

impl Default for Rules {
    fn default() -> Self {
        Rules {
            app: vec![
                RuleSource::Key(vec!["app".into()]),
                RuleSource::Label("slipway.dev/app".into()),
                RuleSource::Tag,
            ],
            dyno: vec![
                RuleSource::Key(vec!["dyno".into()]),
                RuleSource::Label("slipway.dev/dyno".into()),
                RuleSource::Pod,
                RuleSource::Tag,
            ],
            source: vec![RuleSource::Key(vec!["source".into()])],
            default_source: "app".into(),
            tag_pattern: Some(regex::Regex::new(DEFAULT_TAG_PATTERN).expect("the default tag pattern is valid")),
            message_keys: vec!["log".into(), "message".into()],
            stream_key: "stream".into(),
            drop_keys: Vec::new(),
            fallback_app: String::new(),
        }
    }
}

impl Default for History {
    fn default() -> Self {
        History {
            max_lines_per_app: 10_000,
            max_bytes_per_app: 8 * 1024 * 1024,
            max_bytes_total: 256 * 1024 * 1024,
            max_apps: 10_000,
        }
    }
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            dir: None,
            fsync: Fsync::Always,
            fsync_interval: Duration::from_secs(1),
            segment_bytes: 16 * 1024 * 1024,
            retention_bytes_per_app: 256 * 1024 * 1024,
            retention_age: Duration::from_secs(7 * 24 * 3600),
            max_pending_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            default_tail: 100,
            max_tail: 10_000,
            subscriber_queue: 1024,
            heartbeat: Duration::from_secs(15),
            max_coalesce: Duration::from_millis(50),
            cors_origins: Vec::new(),
            max_subscribers: 20_000,
        }
    }
}

impl Config {
    /// Reads the config file at `path`, applies `SLIPWAY_LOGD__*` overrides and checks it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config: Config = load_layered(Some(path), ENV_PREFIX, EXAMPLE)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: &str| Err(ConfigError::invalid(key, problem.to_owned()));
        if self.worker_threads > 1024 {
            return bad("worker_threads", "must be 0 (one per core) up to 1024");
        }
        if let Err(problem) = slipway_config::logging::check_filter(&self.log_level) {
            return Err(ConfigError::invalid("log_level", problem));
        }
        let f = &self.forward;
        if f.shared_key.as_deref().is_some_and(str::is_empty) {
            return bad("forward.shared_key", "must not be empty (leave it unset for no handshake)");
        }
        if !f.users.is_empty() && f.shared_key.is_none() {
            return bad("forward.users", "user authentication is part of the handshake: set forward.shared_key too");
        }
        if f.max_frame_bytes < 1024 || f.max_frame_bytes > 1 << 30 {
            return bad("forward.max_frame_bytes", "must be between 1024 and 1073741824");
        }
        if f.max_entries_per_frame == 0 {
            return bad("forward.max_entries_per_frame", "must be at least 1");
        }
        if f.max_connections == 0 {
            return bad("forward.max_connections", "must be at least 1");
        }
        if f.handshake_timeout.is_zero() {
            return bad("forward.handshake_timeout", "must be greater than zero");
        }
        if f.idle_timeout.is_zero() {
            return bad("forward.idle_timeout", "must be greater than zero");
        }
        if f.frame_timeout.is_zero() {
            return bad("forward.frame_timeout", "must be greater than zero");
        }
        let floor = f.max_connections.saturating_mul(FORWARD_IDLE_READ).saturating_add(FORWARD_BUSY_READ);
        if f.max_buffered_bytes < floor {
            return Err(ConfigError::invalid(
                "forward.max_buffered_bytes",
                format!(
                    "must be at least {floor} (4096 per connection of forward.max_connections, plus 65536): \
                     each open connection reserves 4096 bytes for its next read"
                ),
            ));
        }
        if self.listen.forward_tls.is_some() && f.tls.is_none() {
            return bad("forward.tls", "listen.forward_tls is set: give forward.tls.cert and forward.tls.key");
        }
        let r = &self.rules;
        if r.app.is_empty() && r.fallback_app.is_empty() {
            return bad("rules.app", "give at least one source, or set rules.fallback_app");
        }
        if !r.fallback_app.is_empty()
            && let Err(problem) = slipway_config::app_name::check(&r.fallback_app)
        {
            return Err(ConfigError::invalid("rules.fallback_app", format!("must be an app name: {problem}")));
        }
        if r.message_keys.is_empty() {
            return bad("rules.message_keys", "give at least one key, e.g. [\"log\", \"message\"]");
        }
        let uses_tag = |list: &[RuleSource]| list.contains(&RuleSource::Tag);
        if let Some(re) = &r.tag_pattern {
            for (key, group, list) in
                [("rules.app", "app", &r.app), ("rules.dyno", "dyno", &r.dyno), ("rules.source", "source", &r.source)]
            {
                if uses_tag(list) && !re.capture_names().any(|n| n == Some(group)) {
                    return Err(ConfigError::invalid(
                        key,
                        format!(
                            "uses \"tag\" but rules.tag_pattern has no group named {group:?} (write (?P<{group}>...))"
                        ),
                    ));
                }
            }
        } else if uses_tag(&r.app) {
            return bad("rules.app", "uses \"tag\" but rules.tag_pattern is not set");
        }
        let h = &self.history;
        if h.max_lines_per_app == 0 || h.max_bytes_per_app < 1024 {
            return bad("history.max_lines_per_app", "history needs at least 1 line and 1024 bytes per app");
        }
        if h.max_bytes_total < h.max_bytes_per_app {
            return bad("history.max_bytes_total", "must be at least history.max_bytes_per_app");
        }
        if h.max_apps == 0 {
            return bad("history.max_apps", "must be at least 1");
        }
        let p = &self.persistence;
        if p.fsync == Fsync::Interval && p.fsync_interval.is_zero() {
            return bad("persistence.fsync_interval", "must be greater than zero");
        }
        if p.segment_bytes < 4096 {
            return bad("persistence.segment_bytes", "must be at least 4096");
        }
        if p.retention_bytes_per_app < p.segment_bytes {
            return bad("persistence.retention_bytes_per_app", "must be at least persistence.segment_bytes");
        }
        if p.retention_age.is_zero() {
            return bad("persistence.retention_age", "must be greater than zero");
        }
        if p.max_pending_bytes < 64 * 1024 {
            return bad("persistence.max_pending_bytes", "must be at least 65536");
        }
        let http = &self.http;
        if http.max_tail == 0 || http.default_tail > http.max_tail {
            return bad("http.default_tail", "must not be above http.max_tail (which must be at least 1)");
        }
        if http.subscriber_queue < 2 || http.subscriber_queue > 1 << 20 {
            return bad("http.subscriber_queue", "must be between 2 and 1048576");
        }
        if http.heartbeat.is_zero() {
            return bad("http.heartbeat", "must be greater than zero");
        }
        if http.max_subscribers == 0 {
            return bad("http.max_subscribers", "must be at least 1");
        }
        for (i, origin) in http.cors_origins.iter().enumerate() {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    &format!("http.cors_origins[{i}]"),
                    format!("{origin:?} is not an origin like \"https://dashboard.example.com\" or \"*\""),
                ));
            }
        }
        let a = &self.auth;
        if a.signing_key.as_ref().is_some_and(|k| k.len() < 32) {
            return bad("auth.signing_key", "must be at least 32 bytes long");
        }
        if a.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return bad("auth.admin_token", "must be at least 16 characters long");
        }
        Ok(())
    }

    /// Number of runtime threads.
    pub fn thread_count(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// An optional regular expression; an empty string means unset.
fn opt_regex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<regex::Regex>, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    regex::Regex::new(&s).map(Some).map_err(|e| D::Error::custom(format!("{s:?} is not a valid regex: {e}")))
}

#[cfg(test)]
mod tests;
