//! The wire format of the ACME store the control plane keeps for routers
//! (`acme.store.kind = "control"`): the account key, certificates by host and the
//! per-host order claims, under `/v1/acme/`, with the router token. The control plane's
//! handlers (`control/src/api/acme.rs`) and the router's store
//! (`tls/acme/store/control.rs`) both use these types.
//!
//! - `GET  /v1/acme/account` → [`AccountKey`], or 404 when none is stored;
//! - `POST /v1/acme/account` [`AccountKey`] → [`AccountKey`]: stores it unless one is
//!   there, and answers with the one stored (replicas racing to create it agree);
//! - `GET  /v1/acme/certificates/{host}` → [`CertificatePem`], or 404;
//! - `PUT  /v1/acme/certificates/{host}` [`CertificatePem`] → 204, replacing any earlier one;
//! - `POST /v1/acme/claims/{host}` [`Claim`] → [`Claimed`]: the claim is the owner's unless
//!   another owner holds one that has not expired (by the control plane's clock);
//! - `POST /v1/acme/claims/{host}/release` [`Release`] → 204 (nothing if another holds it).
//!
//! Key material leaves the control plane only in the answers of the two `GET`s: never in a
//! listing, a log line or an error.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The account key's path.
pub const ACCOUNT_PATH: &str = "/v1/acme/account";
/// A certificate's path (with `{host}`).
pub const CERTIFICATE_PATH: &str = "/v1/acme/certificates/{host}";
/// A claim's path (with `{host}`).
pub const CLAIM_PATH: &str = "/v1/acme/claims/{host}";
/// Giving up a claim (with `{host}`).
pub const RELEASE_PATH: &str = "/v1/acme/claims/{host}/release";

/// Largest body of an ACME store request (a certificate chain with its key is a few KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// Longest claim: a replica that died mid-order holds a host no longer than this.
pub const MAX_CLAIM_TTL: Duration = Duration::from_secs(24 * 3600);

/// The ACME account's key: PKCS#8 DER, base64url without padding.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountKey {
    /// The key.
    pub key: String,
}

impl std::fmt::Debug for AccountKey {
    /// Without the key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKey").finish_non_exhaustive()
    }
}

/// A host's certificate: PEM text, the private key then the chain (leaf first).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatePem {
    /// The PEM.
    pub pem: String,
}

impl std::fmt::Debug for CertificatePem {
    /// Without the key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificatePem").field("bytes", &self.pem.len()).finish()
    }
}

/// A claim to order a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Who claims: the ordering replica's id (the rule of [`super::check_router_id`]).
    pub owner: String,
    /// How long the claim lasts unless released first, 1 s to [`MAX_CLAIM_TTL`].
    pub ttl_secs: u64,
}

/// The answer to a [`Claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claimed {
    /// Whether the claim is the owner's now.
    pub claimed: bool,
}

/// Giving up a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Who gives it up.
    pub owner: String,
}
