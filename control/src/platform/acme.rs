//! The ACME store routers share (`acme.store.kind = "control"` in router.toml; the wire
//! format is `slipway_router::spec::acme`): the account key, certificates by host and the
//! per-host order claims, checked here and kept in the database.
//!
//! Claims expire by this clock, so one replica orders a host at a time and a replica that
//! died mid-order holds it no longer than its claim's TTL. Key material is never logged
//! and never part of an error: the two getters are the only way out.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use slipway_router::spec::acme::{MAX_BODY, MAX_CLAIM_TTL};

use super::{Platform, PlatformError, invalid};
use crate::clock;

/// Longest account key (an ECDSA or RSA PKCS#8 key is well below it).
const MAX_ACCOUNT_KEY: usize = 16 * 1024;

fn check_host(host: &str) -> Result<(), PlatformError> {
    slipway_router::spec::check_host(host).map_err(|p| invalid("host", p))?;
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid("host", format!("{host:?} must be lower-case")));
    }
    Ok(())
}

fn check_owner(owner: &str) -> Result<(), PlatformError> {
    slipway_router::spec::check_router_id(owner).map_err(|p| invalid("owner", p))
}

/// A certificate as the router stores it: a private key rustls can sign with, then at
/// least one certificate. The problems named never quote the text.
fn check_pem(pem: &str) -> Result<(), PlatformError> {
    if pem.len() > MAX_BODY {
        return Err(invalid("pem", format!("is longer than {MAX_BODY} bytes")));
    }
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| invalid("pem", "holds no private key (PKCS#8, PKCS#1 or SEC1 PEM)"))?;
    rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|_| invalid("pem", "its private key is not one rustls can sign with"))?;
    let chain: Result<Vec<CertificateDer<'_>>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match chain {
        Ok(chain) if !chain.is_empty() => Ok(()),
        Ok(_) => Err(invalid("pem", "holds no certificate after the key")),
        Err(_) => Err(invalid("pem", "a certificate in it is not valid PEM")),
    }
}

impl Platform {
    /// The ACME account key (PKCS#8 DER), if one is stored.
    pub async fn acme_account_key(&self) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.store.acme_account_key().await?)
    }

    /// Stores `key` (PKCS#8 DER) as the ACME account key unless one is stored; the stored one.
    pub async fn put_acme_account_key(&self, key: &[u8]) -> Result<Vec<u8>, PlatformError> {
        if key.is_empty() || key.len() > MAX_ACCOUNT_KEY {
            return Err(invalid("key", format!("must be 1 to {MAX_ACCOUNT_KEY} bytes of PKCS#8 DER")));
        }
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
        rustls::crypto::ring::sign::any_supported_type(&der)
            .map_err(|_| invalid("key", "is not a PKCS#8 private key rustls can sign with"))?;
        let stored = self.store.put_acme_account_key(key, clock::now_ms()).await?;
        if stored == key {
            tracing::info!("ACME account key stored");
        }
        Ok(stored)
    }

    /// `host`'s certificate (PEM: key, then chain), if one is stored.
    pub async fn acme_certificate(&self, host: &str) -> Result<Option<String>, PlatformError> {
        check_host(host)?;
        Ok(self.store.acme_certificate(host).await?)
    }

    /// Stores `host`'s certificate (PEM: key, then chain), replacing any earlier one.
    pub async fn put_acme_certificate(&self, host: &str, pem: &str) -> Result<(), PlatformError> {
        check_host(host)?;
        check_pem(pem)?;
        self.store.put_acme_certificate(host, pem, clock::now_ms()).await?;
        tracing::info!(%host, "ACME certificate stored");
        Ok(())
    }

    /// Claims the order of `host` for `owner` for `ttl_secs`: true unless another owner
    /// holds an unexpired claim.
    pub async fn claim_acme_host(&self, host: &str, owner: &str, ttl_secs: u64) -> Result<bool, PlatformError> {
        check_host(host)?;
        check_owner(owner)?;
        if ttl_secs == 0 || ttl_secs > MAX_CLAIM_TTL.as_secs() {
            return Err(invalid("ttl_secs", format!("must be 1 to {} seconds", MAX_CLAIM_TTL.as_secs())));
        }
        let now = clock::now_ms();
        let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let claimed = self.store.claim_acme_host(host, owner, now, now.saturating_add(ttl_ms)).await?;
        tracing::debug!(%host, %owner, claimed, "ACME order claim");
        Ok(claimed)
    }

    /// Gives up `owner`'s claim on `host`.
    pub async fn release_acme_host(&self, host: &str, owner: &str) -> Result<(), PlatformError> {
        check_host(host)?;
        check_owner(owner)?;
        Ok(self.store.release_acme_host(host, owner).await?)
    }
}
