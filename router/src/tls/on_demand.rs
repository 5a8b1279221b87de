//! The seam between the SNI resolver and an issuer of certificates on demand (ACME).
//!
//! The resolver asks, in order: exact hosts, wildcard `*.zone`, then an [`OnDemand`]
//! issuer, then the default certificate or the `unrecognized_name` alert. The listener reads
//! the ClientHello first (`tokio_rustls::LazyConfigAcceptor`), so a host with no certificate
//! yet can wait for [`OnDemand::obtain`] before the handshake goes on; the resolver itself
//! stays synchronous and only asks [`OnDemand::certificate`] and [`OnDemand::challenge`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rustls::sign::CertifiedKey;

/// Why [`OnDemand::obtain`] gave no certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObtainError {
    /// The host is not in the route table: no order is made for it.
    #[error("host {0} is not in the route table")]
    NotRouted(String),
    /// The host, or the router as a whole, is over its order rate, or backing off after failures.
    #[error("ordering a certificate for {0} is rate limited")]
    RateLimited(String),
    /// The order failed (the CA's or the store's reason).
    #[error("ordering a certificate for {host} failed: {reason}")]
    Failed { host: String, reason: String },
}

/// A future that resolves once [`OnDemand::obtain`] has its answer.
pub type Obtaining = Pin<Box<dyn Future<Output = Result<(), ObtainError>> + Send + 'static>>;

/// Certificates obtained on demand for hosts in the route table.
pub trait OnDemand: Send + Sync + fmt::Debug + 'static {
    /// A valid certificate held for `host` (lower-case, no trailing dot), without waiting.
    fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>>;

    /// The TLS-ALPN-01 validation certificate for `host` while the CA validates an order for
    /// it; the resolver serves it when the ClientHello offers the `acme-tls/1` protocol.
    fn challenge(&self, host: &str) -> Option<Arc<CertifiedKey>>;

    /// Obtains a certificate for `host` if it is allowed and not held yet; resolves when
    /// [`OnDemand::certificate`] has it, or with the reason there is none. Several callers for
    /// one host share one order.
    fn obtain(&self, host: &str) -> Obtaining;

    /// Every certificate held, by host (for the admin listing and the expiry metric).
    fn held(&self) -> Vec<(String, Arc<CertifiedKey>)>;
}
