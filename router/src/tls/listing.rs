//! What the admin API shows of the certificates (`GET /v1/certificates`) and the expiry
//! metric: host, issuer, not-after and source for every certificate served, from files,
//! the default, and the on-demand issuer's held ones. Never any key material.
//!
//! Runs on the admin listener (control runtime), never on a handshake.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::metrics::Metrics;
use crate::tls::certificate::Certificate;
use crate::tls::resolver::{CertSource, Certificates};

/// One certificate as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The host (or `*.zone`) it serves; `*` for the default certificate.
    pub host: String,
    /// The leaf's issuer (RFC 4514).
    pub issuer: String,
    /// The leaf's not-after (RFC 3339, UTC).
    pub not_after: String,
    /// `file`, `default` or `acme`.
    pub source: &'static str,
    #[serde(skip)]
    not_after_unix: i64,
}

/// Every certificate served, sorted by host.
pub fn list(certs: &Certificates) -> Vec<Listed> {
    let mut listed: Vec<Listed> =
        certs.entries().into_iter().map(|(host, entry)| listed(host, &entry.cert, entry.source)).collect();
    if let Some(issuer) = certs.on_demand() {
        for (host, key) in issuer.held() {
            match Certificate::from_key(key) {
                Ok(cert) => listed.push(listed_of(host, &cert)),
                Err(e) => tracing::warn!(host, error = %e, "a certificate held on demand cannot be read"),
            }
        }
    }
    listed.sort_by(|a, b| a.host.cmp(&b.host));
    listed
}

fn listed_of(host: String, cert: &Certificate) -> Listed {
    listed(host, cert, CertSource::Acme)
}

fn listed(host: String, cert: &Certificate, source: CertSource) -> Listed {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(cert.not_after).unwrap_or(0));
    Listed {
        host,
        issuer: cert.issuer.clone(),
        not_after: humantime::format_rfc3339_seconds(at).to_string(),
        source: source.as_str(),
        not_after_unix: cert.not_after,
    }
}

/// Sets `slipway_router_tls_certificate_expiry_seconds` for every host with a certificate
/// and removes the series of hosts that no longer have one. Called when `/metrics` is read.
#[derive(Debug, Default)]
pub struct ExpiryGauge {
    hosts: Mutex<HashSet<String>>,
}

impl ExpiryGauge {
    /// Brings the gauge up to date with `certs`.
    pub fn refresh(&self, certs: &Certificates, metrics: &Metrics) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let current: HashSet<String> = list(certs)
            .into_iter()
            .map(|l| {
                metrics.tls_certificate_expiry.with_label_values(&[&l.host]).set(l.not_after_unix - now);
                l.host
            })
            .collect();
        let mut hosts = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for gone in hosts.difference(&current) {
            let _ = metrics.tls_certificate_expiry.remove_label_values(&[gone]);
        }
        *hosts = current;
    }
}
