//! A stored certificate (PEM: private key, then the chain) as rustls serves it, with the
//! dates renewal needs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A certificate held for a host.
#[derive(Debug, Clone)]
pub struct Held {
    /// What the resolver serves.
    pub key: Arc<CertifiedKey>,
    /// Start of the leaf's validity.
    pub not_before: SystemTime,
    /// End of the leaf's validity.
    pub not_after: SystemTime,
}

impl Held {
    /// Parses `pem` (key, then chain, leaf first).
    pub fn parse(pem: &str) -> Result<Held, String> {
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("private key: {e}"))?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate chain: {e}"))?;
        let leaf = chain.first().ok_or("no certificate in the chain")?;
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("certificate: {e}"))?;
        let at = |t: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
        let validity = parsed.validity();
        let (not_before, not_after) = (at(validity.not_before.timestamp()), at(validity.not_after.timestamp()));
        let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| format!("private key: {e}"))?;
        Ok(Held { key: Arc::new(CertifiedKey::new(chain, signer)), not_before, not_after })
    }

    /// Whether it is still valid at `now`.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        now < self.not_after
    }

    /// When it should be renewed: once `fraction` of its lifetime has passed.
    pub fn renew_at(&self, fraction: f64) -> SystemTime {
        let lifetime = self.not_after.duration_since(self.not_before).unwrap_or_default();
        self.not_before + lifetime.mul_f64(fraction)
    }

    /// Whether it is valid and not due for renewal at `now`.
    pub fn fresh_at(&self, now: SystemTime, fraction: f64) -> bool {
        self.valid_at(now) && now < self.renew_at(fraction)
    }
}
