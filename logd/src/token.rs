//! App-scoped, expiring log tokens, signed with HMAC-SHA256. The control plane issues them
//! with [`Signer::sign`]; logd checks them with [`Signer::verify`].
//!
//! # Format
//!
//! ```text
//! slt1.<claims>.<signature>
//! ```
//!
//! - `slt1` names the format (Slipway log token, version 1);
//! - `<claims>` is the unpadded base64url encoding of a JSON object:
//!   `{"app":"shop","exp":1795431600}` or `{"app":"shop","exp":1795431600,"scope":"logs:read"}`
//!   where `exp` is the expiry in Unix seconds (the token is refused from that second on)
//!   and `scope` is optional;
//! - `<signature>` is the unpadded base64url encoding of
//!   `HMAC-SHA256(signing_key, "slt1." + <claims>)` — the MAC covers the exact bytes sent.
//!
//! A token carries no secret and can go in a URL (`?token=`, for `EventSource`); it only
//! grants reading one app's logs until it expires. logd accepts a token without `scope`,
//! or with scope `logs:read`; any other scope is refused, so tokens minted for other
//! purposes with the same key cannot read logs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The token prefix (format and version).
pub const PREFIX: &str = "slt1";

/// The scope that reads logs.
pub const SCOPE_LOGS_READ: &str = "logs:read";

/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The app whose logs the token reads.
    pub app: String,
    /// Expiry, Unix seconds: refused from this second on.
    pub exp: u64,
    /// Optional scope (`logs:read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    /// Claims for `app`, valid for `ttl` from now.
    pub fn for_app(app: &str, ttl: std::time::Duration) -> Claims {
        Claims { app: app.to_owned(), exp: now().saturating_add(ttl.as_secs()), scope: None }
    }

    /// Whether the scope allows reading logs.
    pub fn can_read_logs(&self) -> bool {
        self.scope.as_deref().is_none_or(|s| s == SCOPE_LOGS_READ)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `slt1.<claims>.<signature>` with valid base64 and JSON.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match (another key, or altered claims).
    #[error("bad token signature")]
    BadSignature,
    /// Past its `exp`.
    #[error("token expired at {exp}")]
    Expired {
        /// The expiry.
        exp: u64,
    },
    /// The signing key is too short.
    #[error("signing key must be at least {MIN_KEY_BYTES} bytes")]
    KeyTooShort,
}

/// Signs and verifies tokens with one key.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <redacted> }")
    }
}

/// The current Unix time in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Signer {
    /// A signer with `key` (at least 32 bytes; use 32 random bytes).
    pub fn new(key: &[u8]) -> Result<Signer, TokenError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(TokenError::KeyTooShort);
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| TokenError::KeyTooShort)?;
        Ok(Signer { mac })
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(json));
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The claims of `token` if it is well-formed, signed with this key and not expired at
    /// `now` (Unix seconds). The signature is checked in constant time, before the claims
    /// are parsed.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let claims_b64 = signed.strip_prefix(PREFIX).and_then(|s| s.strip_prefix('.')).ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD.decode(claims_b64).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if now >= claims.exp {
            return Err(TokenError::Expired { exp: claims.exp });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
