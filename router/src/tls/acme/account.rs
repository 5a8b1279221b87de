//! The ACME client's set-up: the TLS client config for the CA's directory (public web roots
//! plus `acme.roots`) and the account, created (or found again: the CA answers with the
//! existing account for a known key) from the store's account key.
//!
//! rustls-acme 0.15's `Account::create_with_keypair` sends a fixed newAccount payload and
//! its JWS signer is private, so an external account binding (RFC 8555 §7.3.4) cannot go
//! through it. With EAB configured, the newAccount request is signed here (ES256 with the
//! account key, HS256 with the CA's HMAC key, both with ring) and sent with rustls-acme's
//! own HTTP client; the [`Account`] it returns is then built from its public fields, and
//! every later request goes through rustls-acme.

use std::path::Path;
use std::sync::Arc;

use async_web_client::prelude::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures_util::AsyncReadExt as _;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls_acme::acme::{Account, Directory};

/// An external account binding: the CA's key id and HMAC key (raw bytes).
#[derive(Clone)]
pub struct Eab {
    /// The key id.
    pub key_id: String,
    /// The HMAC key.
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for Eab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eab").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The TLS client config for the ACME directory: web roots and the PEM files in `roots`.
pub fn client_config(roots: &[impl AsRef<Path>]) -> Result<Arc<ClientConfig>, (usize, String)> {
    let mut store = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for (i, path) in roots.iter().enumerate() {
        let path = path.as_ref();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect())
            .map_err(|e| (i, format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err((i, format!("{}: no PEM certificate in it", path.display())));
        }
        for cert in certs {
            store.add(cert).map_err(|e| (i, format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (0, e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The account for `key` (PKCS#8) at the CA whose directory is `url`.
pub async fn account(
    client: &Arc<ClientConfig>,
    url: &str,
    email: Option<&str>,
    eab: Option<&Eab>,
    key: &[u8],
) -> Result<Account, String> {
    let directory = Directory::discover(client, url).await.map_err(|e| format!("directory {url}: {e}"))?;
    let contact: Vec<String> = email.map(|e| format!("mailto:{e}")).into_iter().collect();
    match eab {
        None => {
            Account::create_with_keypair(client, directory, &contact, key).await.map_err(|e| format!("account: {e}"))
        }
        Some(eab) => with_binding(client, directory, &contact, eab, key).await,
    }
}

async fn with_binding(
    client: &Arc<ClientConfig>,
    directory: Directory,
    contact: &[String],
    eab: &Eab,
    key: &[u8],
) -> Result<Account, String> {
    let rng = ring::rand::SystemRandom::new();
    let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key, &rng)
        .map_err(|e| format!("account key: {e}"))?;
    let jwk = jwk(&key_pair);
    let url = directory.new_account.clone();

    let eab_protected = B64.encode(serde_json::json!({"alg": "HS256", "kid": eab.key_id, "url": url}).to_string());
    let eab_payload = B64.encode(jwk.to_string());
    let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &eab.hmac_key);
    let mac = ring::hmac::sign(&mac_key, format!("{eab_protected}.{eab_payload}").as_bytes());
    let binding =
        serde_json::json!({"protected": eab_protected, "payload": eab_payload, "signature": B64.encode(mac.as_ref())});

    let nonce = directory.nonce(client).await.map_err(|e| format!("nonce: {e}"))?;
    let protected = B64.encode(serde_json::json!({"alg": "ES256", "jwk": jwk, "nonce": nonce, "url": url}).to_string());
    let payload = B64.encode(
        serde_json::json!({"termsOfServiceAgreed": true, "contact": contact, "externalAccountBinding": binding})
            .to_string(),
    );
    let signature = key_pair
        .sign(&rng, format!("{protected}.{payload}").as_bytes())
        .map_err(|e| format!("signing newAccount: {e}"))?;
    let body =
        serde_json::json!({"protected": protected, "payload": payload, "signature": B64.encode(signature.as_ref())})
            .to_string();

    let request = http::Request::post(&url)
        .header(http::header::CONTENT_TYPE, "application/jose+json")
        .header(http::header::USER_AGENT, concat!("slipway-router/", env!("CARGO_PKG_VERSION")))
        .body(body)
        .map_err(|e| format!("newAccount: {e}"))?;
    let mut response =
        request.send_with_client_config(client.clone()).await.map_err(|e| format!("newAccount {url}: {e}"))?;
    let mut text = String::new();
    // The CA's answer is a small JSON document; a longer one is not an ACME answer.
    let read = response.body_mut().take(64 * 1024).read_to_string(&mut text).await;
    read.map_err(|e| format!("newAccount {url}: {e}"))?;
    if !response.status().is_success() {
        // Most often a wrong key id or HMAC key: say which setting to check.
        return Err(format!(
            "the CA refused the account's external account binding (EAB; check acme.eab_key_id {:?} and \
             acme.eab_hmac_key): newAccount {url}: {} {text}",
            eab.key_id,
            response.status()
        ));
    }
    let kid = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("newAccount {url}: no Location in the answer"))?
        .to_owned();
    Ok(Account { key_pair, directory, kid })
}

/// The account key's JWK (RFC 7518 §6.2: P-256, x and y from the uncompressed point).
fn jwk(key: &EcdsaKeyPair) -> serde_json::Value {
    let point = key.public_key().as_ref();
    let (x, y) = point.get(1..).unwrap_or_default().split_at(32.min(point.len().saturating_sub(1)));
    serde_json::json!({"crv": "P-256", "kty": "EC", "x": B64.encode(x), "y": B64.encode(y)})
}
