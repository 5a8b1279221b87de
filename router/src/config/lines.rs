//! `[lines]`: the router's lines in each app's log (`lines/` sends them).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use slipway_config::{ConfigError, de};

/// Most lines one worker may hold for logd (`lines.queue`).
pub const MAX_QUEUE: usize = 1_000_000;

/// Router lines: one Heroku-style `key=value` line per request (and per error, with its
/// code) in the app's own log stream, with source `router`, sent to logd over the Fluent
/// forward protocol.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lines {
    /// Send the lines. Off by default; `slipway up` turns it on.
    pub enabled: bool,
    /// logd's Fluent forward listener.
    #[serde(deserialize_with = "de::addr")]
    pub logd: SocketAddr,
    /// logd's `forward.shared_key`, when it asks for the handshake (prefer
    /// `SLIPWAY_ROUTER__LINES__SHARED_KEY`). Default: none.
    pub shared_key: Option<String>,
    /// Keep the query string in `path=` (off: it is cut, as query strings often carry
    /// tokens).
    pub query_strings: bool,
    /// Fraction of requests whose line is sent, 0.0 to 1.0; error lines are always sent.
    pub sample: f64,
    /// Per-app fractions overriding `sample`, e.g. `{ shop = 0.1 }`.
    pub sample_apps: BTreeMap<String, f64>,
    /// Lines each worker thread holds for logd at most; past it (logd slow or down) new
    /// lines are dropped and counted in `slipway_router_log_lines_dropped_total`.
    pub queue: usize,
    /// Longest time a line waits in its worker's batch before it is sent.
    #[serde(deserialize_with = "de::duration")]
    pub flush_interval: Duration,
}

impl Default for Lines {
    fn default() -> Self {
        Lines {
            enabled: false,
            logd: SocketAddr::from(([127, 0, 0, 1], 24224)),
            shared_key: None,
            query_strings: false,
            sample: 1.0,
            sample_apps: BTreeMap::new(),
            queue: 4096,
            flush_interval: Duration::from_millis(200),
        }
    }
}

impl Lines {
    /// Checks ranges and app names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fraction = |key: String, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::invalid(&key, format!("{value} is not a fraction from 0.0 to 1.0")))
            }
        };
        fraction("lines.sample".into(), self.sample)?;
        for (app, value) in &self.sample_apps {
            let key = format!("lines.sample_apps.{app}");
            slipway_config::app_name::check(app).map_err(|p| ConfigError::invalid(&key, p))?;
            fraction(key, *value)?;
        }
        if self.queue == 0 || self.queue > MAX_QUEUE {
            return Err(ConfigError::invalid(
                "lines.queue",
                format!("{} is out of range: 1 to {MAX_QUEUE}", self.queue),
            ));
        }
        if self.flush_interval.is_zero() {
            return Err(ConfigError::invalid("lines.flush_interval", "must be greater than zero"));
        }
        if self.shared_key.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::invalid("lines.shared_key", "must not be empty (leave it unset for none)"));
        }
        Ok(())
    }
}
