//! The control plane's store (`acme.store.kind = "control"`): the account key, the
//! certificates and the order claims kept in the control plane's database, over its API
//! (`/v1/acme/...`, see [`crate::spec::acme`]) with the router token, so that routers on
//! several hosts share them. Claims expire by the control plane's clock, so the replicas'
//! clocks need not agree.
//!
//! Every call is bounded by `[control]`'s timeouts ([`ControlClient`]); a failed one is a
//! [`StoreError`] naming the call (never key material) and counts
//! `slipway_router_control_errors_total{call="acme_store"}`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, StoreError};
use crate::control_client::{Call, ControlClient, ControlError};
use crate::spec::acme::{
    ACCOUNT_PATH, AccountKey, CERTIFICATE_PATH, CLAIM_PATH, CertificatePem, Claim, Claimed, RELEASE_PATH, Release,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The store in the control plane.
#[derive(Debug, Clone)]
pub struct ControlStore {
    client: Arc<ControlClient>,
}

fn failed(what: &str, e: &ControlError) -> StoreError {
    StoreError(format!("control plane, {what}: {e}"))
}

impl ControlStore {
    /// The store behind the control plane `client` talks to.
    pub fn new(client: Arc<ControlClient>) -> ControlStore {
        ControlStore { client }
    }

    /// `method path` with `body` as JSON; the answer parsed as `T`, or `None` on 404 when
    /// `missing_ok`.
    async fn call<T: DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        missing_ok: bool,
    ) -> Result<Option<T>, StoreError> {
        let body = match body {
            Some(body) => {
                Bytes::from(serde_json::to_vec(body).map_err(|e| StoreError(format!("control plane, {what}: {e}")))?)
            }
            None => Bytes::new(),
        };
        let (status, answer) =
            self.client.send(Call::AcmeStore, method, path, body).await.map_err(|e| failed(what, &e))?;
        if status == StatusCode::NOT_FOUND && missing_ok {
            return Ok(None);
        }
        if !status.is_success() {
            let e = ControlError::status(path, status, &answer);
            self.client.count(Call::AcmeStore, &e);
            return Err(failed(what, &e));
        }
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        serde_json::from_slice(&answer).map(Some).map_err(|e| {
            let e = ControlError::BadEvent(format!("{path}: {e}"));
            self.client.count(Call::AcmeStore, &e);
            failed(what, &e)
        })
    }
}

/// `path` with `{host}` filled in. Hosts come from the route table (checked DNS names), so
/// they need no escaping in a path; the control plane checks them again.
fn at(path: &str, host: &str) -> String {
    path.replace("{host}", host)
}

impl Store for ControlStore {
    fn account_key(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        async move {
            let stored: Option<AccountKey> =
                self.call("account key", Method::GET, ACCOUNT_PATH, None::<&()>, true).await?;
            stored
                .map(|k| B64.decode(k.key).map_err(|_| StoreError("control plane, account key: not base64url".into())))
                .transpose()
        }
        .boxed()
    }

    fn put_account_key<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        async move {
            let body = AccountKey { key: B64.encode(key) };
            let stored: Option<AccountKey> =
                self.call("storing the account key", Method::POST, ACCOUNT_PATH, Some(&body), false).await?;
            let stored =
                stored.ok_or_else(|| StoreError("control plane, storing the account key: no answer".into()))?;
            B64.decode(stored.key).map_err(|_| StoreError("control plane, account key: not base64url".into()))
        }
        .boxed()
    }

    fn certificate<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        async move {
            let path = at(CERTIFICATE_PATH, host);
            let stored: Option<CertificatePem> =
                self.call("certificate", Method::GET, &path, None::<&()>, true).await?;
            Ok(stored.map(|c| c.pem))
        }
        .boxed()
    }

    fn put_certificate<'a>(&'a self, host: &'a str, pem: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let path = at(CERTIFICATE_PATH, host);
            let body = CertificatePem { pem: pem.to_owned() };
            self.call::<serde_json::Value>("storing a certificate", Method::PUT, &path, Some(&body), false).await?;
            Ok(())
        }
        .boxed()
    }

    fn try_claim<'a>(
        &'a self,
        host: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            let path = at(CLAIM_PATH, host);
            let body = Claim { owner: owner.to_owned(), ttl_secs: ttl.as_secs().max(1) };
            let claimed: Option<Claimed> =
                self.call("claiming an order", Method::POST, &path, Some(&body), false).await?;
            Ok(claimed.is_some_and(|c| c.claimed))
        }
        .boxed()
    }

    fn release<'a>(&'a self, host: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let path = at(RELEASE_PATH, host);
            let body = Release { owner: owner.to_owned() };
            self.call::<serde_json::Value>("releasing a claim", Method::POST, &path, Some(&body), false).await?;
            Ok(())
        }
        .boxed()
    }
}
