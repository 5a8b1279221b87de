//! Certificates from PEM files (`tls.certificates`, `tls.default_certificate`): loaded at
//! start (a bad file is a start-up error) and reloaded when the files change, through the
//! same watch as the routes file (`watch.rs`).
//!
//! At a reload each pair (chain, key) is read and compared with the bytes last handled; a
//! changed pair that loads replaces the certificate of its hosts, and one that does not
//! (bad PEM, a key of another certificate, a missing file) keeps the previous certificate
//! serving, logs why and counts `slipway_router_tls_certificate_reloads_total{result="error"}`.
//! A chain rewritten before its key fails once as a mismatch and loads at the key's event.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Tls;
use crate::metrics::Metrics;
use crate::tls::certificate::Certificate;
use crate::tls::resolver::{CertSource, Certificates};
use crate::watch::Watcher;

/// One pair of files and what it serves: hosts, or the default certificate (no hosts).
#[derive(Debug, Clone)]
struct Pair {
    hosts: Vec<String>,
    cert: PathBuf,
    key: PathBuf,
}

/// The bytes last handled, per pair (none for a pair not read yet).
type Handled = Vec<Option<(Vec<u8>, Vec<u8>)>>;

/// The pairs of the config: `tls.certificates`, then the default.
fn pairs(config: &Tls) -> Vec<Pair> {
    let mut pairs: Vec<Pair> = config
        .certificates
        .iter()
        .map(|c| Pair { hosts: c.hosts.clone(), cert: c.cert.clone(), key: c.key.clone() })
        .collect();
    if let Some(default) = &config.default_certificate {
        pairs.push(Pair { hosts: Vec::new(), cert: default.cert.clone(), key: default.key.clone() });
    }
    pairs
}

/// Loads every certificate file into `certs`; the first one that does not load is the error.
pub(crate) fn load(config: &Tls, certs: &Certificates, metrics: &Metrics) -> Result<CertificateFiles, String> {
    let pairs = pairs(config);
    let mut handled = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let result = read(pair).and_then(|bytes| install(pair, &bytes, certs).map(|()| bytes));
        let label = if result.is_ok() { "ok" } else { "error" };
        metrics.tls_certificate_reloads.with_label_values(&[label]).inc();
        handled.push(Some(result?));
    }
    Ok(CertificateFiles { pairs, handled })
}

/// The certificate files as loaded, for [`CertificateFiles::watch`].
#[derive(Debug)]
pub(crate) struct CertificateFiles {
    pairs: Vec<Pair>,
    handled: Handled,
}

impl CertificateFiles {
    /// Whether there are any files to watch.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Watches the files and reloads a pair when its bytes change. Must be called inside
    /// the control runtime.
    pub(crate) fn watch(self, certs: Arc<Certificates>, metrics: Arc<Metrics>) -> Result<Watcher, String> {
        let files: Vec<PathBuf> = self.pairs.iter().flat_map(|p| [p.cert.clone(), p.key.clone()]).collect();
        let pairs = Arc::new(self.pairs);
        // The checks run one at a time (watch.rs), so the lock is never contended.
        let handled = Arc::new(std::sync::Mutex::new(self.handled));
        crate::watch::watch("certificate files", &files, move || {
            let (pairs, handled, certs, metrics) = (pairs.clone(), handled.clone(), certs.clone(), metrics.clone());
            async move {
                // Small files, read off the async threads.
                let _ = tokio::task::spawn_blocking(move || {
                    let mut handled = handled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    for (pair, last) in pairs.iter().zip(handled.iter_mut()) {
                        reload(pair, last, &certs, &metrics);
                    }
                })
                .await;
            }
        })
    }
}

/// Re-reads one pair; applies it if its bytes changed since `last`.
fn reload(pair: &Pair, last: &mut Option<(Vec<u8>, Vec<u8>)>, certs: &Certificates, metrics: &Metrics) {
    let result = match read(pair) {
        // A file missing for a moment (replaced by rename) is read again at the next event;
        // a file that stays missing keeps the old certificate, like any other bad file.
        Err(e) => Err(e),
        Ok(bytes) if last.as_ref() == Some(&bytes) => return,
        Ok(bytes) => {
            let result = install(pair, &bytes, certs);
            *last = Some(bytes);
            result
        }
    };
    let label = match &result {
        Ok(()) => {
            tracing::info!(cert = %pair.cert.display(), hosts = ?pair.hosts, "certificate reloaded");
            "ok"
        }
        Err(e) => {
            tracing::warn!(error = %e, hosts = ?pair.hosts, "certificate not reloaded; the previous one keeps serving");
            "error"
        }
    };
    metrics.tls_certificate_reloads.with_label_values(&[label]).inc();
}

fn read(pair: &Pair) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("certificate file {}: cannot read: {e}", path.display()))
    };
    Ok((read(&pair.cert)?, read(&pair.key)?))
}

/// Parses a pair's bytes and serves it for its hosts (or as the default).
fn install(pair: &Pair, (chain, key): &(Vec<u8>, Vec<u8>), certs: &Certificates) -> Result<(), String> {
    let cert = Certificate::from_pem(chain, key)
        .map_err(|e| format!("certificate {} with key {}: {e}", pair.cert.display(), pair.key.display()))?;
    let cert = Arc::new(cert);
    if pair.hosts.is_empty() {
        certs.set_default(Some(cert));
    } else {
        for host in &pair.hosts {
            certs.insert(host, cert.clone(), CertSource::File);
        }
    }
    Ok(())
}
