//! One ACME order for one host, with rustls-acme's low-level client: new order, a
//! TLS-ALPN-01 answer to each pending authorization (its validation certificate published
//! in `challenges` for the listener to serve), finalize with a fresh key's CSR, download.
//!
//! ACME is polled: the CA says "pending"/"processing" until it is done, so the order is
//! read again every [`POLL`] until it is valid or invalid; the caller bounds the whole.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::sign::CertifiedKey;
use rustls_acme::acme::{Account, AuthStatus, Identifier, Order, OrderStatus};

/// Validation certificates by host, while an order is validated.
pub type Challenges = Mutex<HashMap<String, Arc<CertifiedKey>>>;

/// Wait between two reads of an order the CA is still working on.
const POLL: Duration = Duration::from_millis(250);

/// Orders a certificate for `host`; returns its PEM (key, then chain).
pub async fn issue(
    account: &Account,
    client: &Arc<ClientConfig>,
    host: &str,
    challenges: &Challenges,
) -> Result<String, String> {
    let result = run(account, client, host, challenges).await;
    lock(challenges).remove(host);
    result
}

async fn run(
    account: &Account,
    client: &Arc<ClientConfig>,
    host: &str,
    challenges: &Challenges,
) -> Result<String, String> {
    let (url, mut order) =
        account.new_order(client, vec![host.to_owned()]).await.map_err(|e| format!("new order: {e}"))?;
    let mut answered = HashSet::new();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| format!("key: {e}"))?;
    loop {
        match &order.status {
            OrderStatus::Pending => {
                for auth_url in &order.authorizations {
                    if answered.contains(auth_url) {
                        continue;
                    }
                    let auth = account.auth(client, auth_url).await.map_err(|e| format!("authorization: {e}"))?;
                    match auth.status {
                        AuthStatus::Valid => {}
                        AuthStatus::Pending => {
                            let Identifier::Dns(name) = &auth.identifier;
                            let (challenge, cert) = account
                                .tls_alpn_01(&auth.challenges, name.clone())
                                .map_err(|e| format!("authorization of {name}: {e}"))?;
                            lock(challenges).insert(name.clone(), Arc::new(cert));
                            account.challenge(client, &challenge.url).await.map_err(|e| format!("challenge: {e}"))?;
                        }
                        other => {
                            let detail = auth.challenges.iter().find_map(|c| c.error.as_ref()).map(problem);
                            return Err(format!("authorization {other:?}: {}", detail.unwrap_or_default()));
                        }
                    }
                    answered.insert(auth_url.clone());
                }
                order = poll(account, client, &url).await?;
            }
            OrderStatus::Processing => order = poll(account, client, &url).await?,
            OrderStatus::Ready => {
                let mut params =
                    rcgen::CertificateParams::new(vec![host.to_owned()]).map_err(|e| format!("CSR: {e}"))?;
                params.distinguished_name = rcgen::DistinguishedName::new();
                let csr = params.serialize_request(&key).map_err(|e| format!("CSR: {e}"))?;
                order =
                    account.finalize(client, &order.finalize, csr.der()).await.map_err(|e| format!("finalize: {e}"))?;
            }
            OrderStatus::Valid { certificate } => {
                let chain = account.certificate(client, certificate).await.map_err(|e| format!("download: {e}"))?;
                return Ok(format!("{}{chain}", key.serialize_pem()));
            }
            OrderStatus::Invalid => {
                let detail = order.error.as_ref().map(problem).unwrap_or_else(|| "order invalid".to_owned());
                // The authorization's own error says why validation failed.
                let mut why = detail;
                for auth_url in &order.authorizations {
                    if let Ok(auth) = account.auth(client, auth_url).await
                        && let Some(e) = auth.challenges.iter().find_map(|c| c.error.as_ref())
                    {
                        why = format!("{why}: {}", problem(e));
                    }
                }
                return Err(why);
            }
        }
    }
}

async fn poll(account: &Account, client: &Arc<ClientConfig>, url: &str) -> Result<Order, String> {
    tokio::time::sleep(POLL).await;
    account.order(client, url).await.map_err(|e| format!("order: {e}"))
}

fn problem(p: &rustls_acme::acme::Problem) -> String {
    format!("{} {}", p.typ.as_deref().unwrap_or("error"), p.detail.as_deref().unwrap_or_default())
}

fn lock(challenges: &Challenges) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
    challenges.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
