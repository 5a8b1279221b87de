//! The `[tls]` section: certificate files, the default certificate, the wait for an
//! on-demand certificate, and what plain HTTP requests get per zone (redirect, HSTS).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use slipway_config::{ConfigError, de};

/// HTTPS settings; the listener itself is `listen.https`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Certificates from PEM files: each names the hosts it serves, exact
    /// (`shop.example.com`) or one wildcard label (`*.reviewapp.example`). An exact host
    /// wins over a wildcard. Reloaded when the files change; a file that does not load keeps
    /// the previous certificate serving.
    pub certificates: Vec<CertificateFiles>,
    /// The certificate for a ClientHello no other certificate matches (or without SNI).
    /// Unset: such a handshake is refused with the `unrecognized_name` alert.
    pub default_certificate: Option<PemFiles>,
    /// Longest wait, during a handshake, for a certificate ordered on demand (ACME) for a
    /// host that has none yet; then the handshake goes on with the default certificate or
    /// the alert.
    #[serde(deserialize_with = "de::duration")]
    pub on_demand_timeout: Duration,
    /// TLS sessions the server remembers for resumption by session id (TLS 1.2 clients
    /// without tickets); tickets need no memory on the server.
    pub session_cache: usize,
    /// Plain HTTP requests are answered with 308 to the same URL over HTTPS (except
    /// `/.well-known/acme-challenge/`). Zones can say otherwise in `tls.zones`. Only with
    /// `listen.https` set.
    pub redirect: bool,
    /// The port the redirect names. Default: the port of `listen.https` (left out when 443).
    /// Set it when a load balancer publishes HTTPS on another port than the router's.
    pub redirect_port: Option<u16>,
    /// `Strict-Transport-Security` value sent on HTTPS responses, e.g. "max-age=31536000".
    /// Default: none. Zones can set their own.
    pub hsts: Option<String>,
    /// Per-zone overrides of `redirect` and `hsts`, by zone name (one of `zones`).
    pub zones: BTreeMap<String, ZoneTls>,
}

/// A certificate chain and its key, as PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// A certificate from files and the hosts it serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// Hosts served with it: exact names or `*.<zone>` (matches exactly one label).
    pub hosts: Vec<String>,
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// What one zone's hosts get over plain HTTP and HTTPS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoneTls {
    /// Redirect plain HTTP to HTTPS for this zone's hosts. Default: `tls.redirect`.
    pub redirect: Option<bool>,
    /// `Strict-Transport-Security` for this zone's hosts ("" for none). Default: `tls.hsts`.
    pub hsts: Option<String>,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            certificates: Vec::new(),
            default_certificate: None,
            on_demand_timeout: Duration::from_secs(10),
            session_cache: 4096,
            redirect: true,
            redirect_port: None,
            hsts: None,
            zones: BTreeMap::new(),
        }
    }
}

impl Tls {
    /// Checks what serde cannot; `zones` are the router's zones.
    pub fn validate(&self, zones: &[String]) -> Result<(), ConfigError> {
        let bad = |key: String, problem: String| Err(ConfigError::invalid(&key, problem));
        for (i, entry) in self.certificates.iter().enumerate() {
            if entry.hosts.is_empty() {
                return bad(
                    format!("tls.certificates[{i}].hosts"),
                    "name at least one host, e.g. [\"*.example.com\"]".into(),
                );
            }
            for (j, host) in entry.hosts.iter().enumerate() {
                let name = host.strip_prefix("*.").unwrap_or(host);
                let problem = if name.contains('*') {
                    Some(format!("{host:?}: a wildcard is only allowed as the whole first label (\"*.zone\")"))
                } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
                    Some(format!("{host:?} must be lower-case"))
                } else {
                    crate::spec::check_host(name).err()
                };
                if let Some(problem) = problem {
                    return bad(format!("tls.certificates[{i}].hosts[{j}]"), problem);
                }
            }
        }
        if self.on_demand_timeout.is_zero() {
            return bad("tls.on_demand_timeout".into(), "must be greater than zero".into());
        }
        if self.session_cache == 0 {
            return bad("tls.session_cache".into(), "must be at least 1".into());
        }
        if self.redirect_port == Some(0) {
            return bad("tls.redirect_port".into(), "must be a port from 1 to 65535".into());
        }
        if let Some(hsts) = &self.hsts {
            check_hsts(hsts).or_else(|p| bad("tls.hsts".into(), p))?;
        }
        for (zone, settings) in &self.zones {
            if !zones.contains(zone) {
                return bad(
                    format!("tls.zones.{zone}"),
                    format!("{zone:?} is not one of the router's zones {zones:?}"),
                );
            }
            if let Some(hsts) = settings.hsts.as_deref().filter(|h| !h.is_empty()) {
                check_hsts(hsts).or_else(|p| bad(format!("tls.zones.{zone}.hsts"), p))?;
            }
        }
        Ok(())
    }
}

/// An HSTS value must be a header value with a `max-age`.
fn check_hsts(value: &str) -> Result<(), String> {
    let has_max_age = value.split(';').any(|d| d.trim().to_ascii_lowercase().starts_with("max-age="));
    if http::HeaderValue::from_str(value).is_err() || !has_max_age {
        return Err(format!("{value:?} is not a Strict-Transport-Security value like \"max-age=31536000\""));
    }
    Ok(())
}
