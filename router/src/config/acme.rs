//! `[acme]`: certificates obtained on demand from an ACME CA (TLS-ALPN-01) for the hosts in
//! the route table, kept in a store that several routers can share.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use slipway_config::{ConfigError, de};

use crate::spec::acme::MAX_CLAIM_TTL;

/// On-demand ACME.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Acme {
    /// Obtain certificates on demand for hosts in the route table. Off by default.
    pub enabled: bool,
    /// The CA's ACME directory URL (https). Let's Encrypt's staging directory is
    /// "https://acme-staging-v02.api.letsencrypt.org/directory".
    pub directory: String,
    /// Contact e-mail given to the CA with the account (expiry warnings). Optional.
    pub email: Option<String>,
    /// External account binding, for CAs that require one (ZeroSSL, Google, ...): the key
    /// id the CA gave. Set together with `eab_hmac_key`.
    pub eab_key_id: Option<String>,
    /// External account binding: the HMAC key the CA gave, base64url (prefer
    /// `SLIPWAY_ROUTER__ACME__EAB_HMAC_KEY`).
    pub eab_hmac_key: Option<String>,
    /// PEM files of extra root CAs trusted for the ACME directory's HTTPS (staging and
    /// test CAs), on top of the public web roots.
    pub roots: Vec<PathBuf>,
    /// Renew a certificate once this fraction of its lifetime has passed (0 < x < 1).
    pub renew_at: f64,
    /// How often held certificates are checked for renewal.
    #[serde(deserialize_with = "de::duration")]
    pub renew_check: Duration,
    /// Longest time one order may take (the CA's validation included); then it fails.
    #[serde(deserialize_with = "de::duration")]
    pub order_timeout: Duration,
    /// Wait after a host's failed order before it may be ordered again; doubles after each
    /// further failure, up to `backoff_max`.
    #[serde(deserialize_with = "de::duration")]
    pub backoff: Duration,
    /// Longest wait after failed orders of a host.
    #[serde(deserialize_with = "de::duration")]
    pub backoff_max: Duration,
    /// How many orders may be made per `rate_limit.window`.
    pub rate_limit: RateLimit,
    /// Where the account key, the certificates and the in-flight order locks live.
    pub store: Store,
}

/// Order rate limits (orders started, successful or not).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Orders per host per window.
    pub per_host: u32,
    /// Orders by this router per window, all hosts together.
    pub global: u32,
    /// The window the limits count over.
    #[serde(deserialize_with = "de::duration")]
    pub window: Duration,
}

/// Which store the certificates live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// A local directory (`store.dir`); several routers on one host may share it.
    Dir,
    /// The control plane's database, through its API (`/v1/acme/...`) at `control.url`
    /// with `control.token` (the router token), for routers on several hosts.
    Control,
}

/// The certificate store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// "dir" (the default: `store.dir`) or "control" (the control plane at `control.url`,
    /// with `control.token`).
    pub kind: StoreKind,
    /// The directory of the "dir" store (created if missing, mode 0700).
    pub dir: PathBuf,
    /// How long one replica's claim to order a host lasts unless it finishes first: a
    /// replica that died mid-order holds the host no longer than this (at most 24h).
    #[serde(deserialize_with = "de::duration")]
    pub lock_ttl: Duration,
}

impl Default for Acme {
    fn default() -> Self {
        Acme {
            enabled: false,
            directory: "https://acme-v02.api.letsencrypt.org/directory".to_owned(),
            email: None,
            eab_key_id: None,
            eab_hmac_key: None,
            roots: Vec::new(),
            renew_at: 2.0 / 3.0,
            renew_check: Duration::from_secs(3600),
            order_timeout: Duration::from_secs(120),
            backoff: Duration::from_secs(60),
            backoff_max: Duration::from_secs(6 * 3600),
            rate_limit: RateLimit::default(),
            store: Store::default(),
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { per_host: 5, global: 100, window: Duration::from_secs(3600) }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store { kind: StoreKind::Dir, dir: PathBuf::from("/var/lib/slipway/acme"), lock_ttl: Duration::from_secs(300) }
    }
}

impl Acme {
    /// Checks the section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| Err(ConfigError::invalid(key, problem));
        if !self.enabled {
            return Ok(());
        }
        let https = self
            .directory
            .parse::<http::Uri>()
            .is_ok_and(|u| u.scheme_str() == Some("https") && u.authority().is_some());
        if !https {
            return bad("acme.directory", format!("{:?} is not an https URL of an ACME directory", self.directory));
        }
        if let Some(email) = &self.email {
            let ok = email.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
                && !email.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b',');
            if !ok {
                return bad("acme.email", format!("{email:?} is not an e-mail address like \"ops@example.com\""));
            }
        }
        match (&self.eab_key_id, &self.eab_hmac_key) {
            (None, None) => {}
            (Some(id), Some(key)) => {
                if id.is_empty() {
                    return bad("acme.eab_key_id", "must not be empty".into());
                }
                use base64::Engine as _;
                let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key.trim_end_matches('='));
                if !decoded.is_ok_and(|k| !k.is_empty()) {
                    return bad("acme.eab_hmac_key", "is not base64url (the HMAC key the CA gave)".into());
                }
            }
            (Some(_), None) => return bad("acme.eab_hmac_key", "is needed with acme.eab_key_id".into()),
            (None, Some(_)) => return bad("acme.eab_key_id", "is needed with acme.eab_hmac_key".into()),
        }
        for (i, root) in self.roots.iter().enumerate() {
            if !root.is_file() {
                return bad(&format!("acme.roots[{i}]"), format!("{} is not a readable file", root.display()));
            }
        }
        if !(self.renew_at > 0.0 && self.renew_at < 1.0) {
            return bad(
                "acme.renew_at",
                format!("{} is out of range: a fraction of the lifetime, above 0 and below 1", self.renew_at),
            );
        }
        for (key, value) in [
            ("acme.renew_check", self.renew_check),
            ("acme.order_timeout", self.order_timeout),
            ("acme.backoff", self.backoff),
            ("acme.rate_limit.window", self.rate_limit.window),
            ("acme.store.lock_ttl", self.store.lock_ttl),
        ] {
            if value.is_zero() {
                return bad(key, "must be greater than zero".into());
            }
        }
        if self.backoff_max < self.backoff {
            return bad("acme.backoff_max", "must not be below acme.backoff".into());
        }
        if self.rate_limit.per_host == 0 || self.rate_limit.global == 0 {
            return bad("acme.rate_limit", "per_host and global must be at least 1".into());
        }
        if self.store.lock_ttl < self.order_timeout {
            return bad(
                "acme.store.lock_ttl",
                "must not be below acme.order_timeout (a claim would expire mid-order)".into(),
            );
        }
        if self.store.lock_ttl > MAX_CLAIM_TTL {
            return bad(
                "acme.store.lock_ttl",
                format!("must not be above {}", humantime::format_duration(MAX_CLAIM_TTL)),
            );
        }
        match self.store.kind {
            StoreKind::Dir if self.store.dir.as_os_str().is_empty() => {
                bad("acme.store.dir", "must name a directory".into())
            }
            StoreKind::Dir | StoreKind::Control => Ok(()),
        }
    }
}
