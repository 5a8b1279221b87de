//! One certificate as the resolver serves it ([`Certificate`]): the chain and signing key
//! rustls needs, and what the admin listing and the expiry metric show (issuer,
//! not-after), read once when the certificate is loaded.
//!
//! PEM parsing is rustls-pki-types'; the key may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC), and
//! is turned into a signing key by ring (the one crypto provider). Issuer and not-after come
//! from x509-parser, not from DER read by hand.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Why a certificate and key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// No `CERTIFICATE` block, or one that is not valid PEM.
    #[error("no PEM certificate chain: {0}")]
    Chain(String),
    /// No private key block, or one that is not valid PEM.
    #[error("no PEM private key (PKCS#8, PKCS#1 or SEC1): {0}")]
    Key(String),
    /// The key is not one ring can sign with.
    #[error("the private key is not usable: {0}")]
    Unsupported(String),
    /// The key does not belong to the leaf certificate.
    #[error("the private key does not match the certificate: {0}")]
    Mismatch(String),
    /// The leaf certificate is not valid X.509 DER.
    #[error("the leaf certificate cannot be read: {0}")]
    Leaf(String),
}

/// A certificate ready to serve, with what the listing shows of it.
#[derive(Debug)]
pub struct Certificate {
    /// The chain and signing key, as rustls serves them.
    pub key: Arc<CertifiedKey>,
    /// The leaf's issuer, as an RFC 4514 distinguished name.
    pub issuer: String,
    /// The leaf's not-after, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl Certificate {
    /// Reads a PEM chain (leaf first) and a PEM private key.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Certificate, CertificateError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<_, _>>()
            .map_err(|e| CertificateError::Chain(e.to_string()))?;
        if chain.is_empty() {
            return Err(CertificateError::Chain("the file holds no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| CertificateError::Key(e.to_string()))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| CertificateError::Unsupported(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| CertificateError::Mismatch(e.to_string()))?;
        Certificate::from_key(Arc::new(certified))
    }

    /// Reads issuer and not-after from a certified key's leaf (for certificates from
    /// other sources, such as those held by the on-demand issuer).
    pub fn from_key(key: Arc<CertifiedKey>) -> Result<Certificate, CertificateError> {
        let leaf = key.cert.first().ok_or_else(|| CertificateError::Chain("the chain is empty".into()))?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| CertificateError::Leaf(e.to_string()))?;
        let issuer = parsed.issuer().to_string();
        let not_after = parsed.validity().not_after.timestamp();
        Ok(Certificate { key, issuer, not_after })
    }
}

#[cfg(test)]
mod tests;
