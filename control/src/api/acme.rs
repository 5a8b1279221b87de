//! `/v1/acme/...`: the ACME store routers share (see `slipway_router::spec::acme` for the
//! wire format, `platform/acme.rs` for the rules). The router token (or the admin token)
//! is needed, checked as for the route stream. Bodies are at most
//! `slipway_router::spec::acme::MAX_BODY` bytes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use slipway_router::spec::acme::{AccountKey, CertificatePem, Claim, Claimed, Release};

use super::{Api, ApiError, ApiJson, ApiPath, RouterOrAdmin};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn missing(what: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} is stored"))
}

pub(super) async fn account(_: RouterOrAdmin, State(api): State<Api>) -> Result<Json<AccountKey>, ApiError> {
    let key = api.platform.acme_account_key().await?.ok_or_else(|| missing("ACME account key"))?;
    Ok(Json(AccountKey { key: B64.encode(key) }))
}

pub(super) async fn put_account(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiJson(body): ApiJson<AccountKey>,
) -> Result<Json<AccountKey>, ApiError> {
    let key = B64
        .decode(body.key.trim_end_matches('='))
        .map_err(|_| ApiError::invalid("key", "is not base64url (the account key's PKCS#8 DER)"))?;
    let stored = api.platform.put_acme_account_key(&key).await?;
    Ok(Json(AccountKey { key: B64.encode(stored) }))
}

pub(super) async fn certificate(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiPath(host): ApiPath<String>,
) -> Result<Json<CertificatePem>, ApiError> {
    let pem = api.platform.acme_certificate(&host).await?.ok_or_else(|| missing("certificate for this host"))?;
    Ok(Json(CertificatePem { pem }))
}

pub(super) async fn put_certificate(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiPath(host): ApiPath<String>,
    ApiJson(body): ApiJson<CertificatePem>,
) -> Result<StatusCode, ApiError> {
    api.platform.put_acme_certificate(&host, &body.pem).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn claim(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiPath(host): ApiPath<String>,
    ApiJson(claim): ApiJson<Claim>,
) -> Result<Json<Claimed>, ApiError> {
    let claimed = api.platform.claim_acme_host(&host, &claim.owner, claim.ttl_secs).await?;
    Ok(Json(Claimed { claimed }))
}

pub(super) async fn release(
    _: RouterOrAdmin,
    State(api): State<Api>,
    ApiPath(host): ApiPath<String>,
    ApiJson(release): ApiJson<Release>,
) -> Result<StatusCode, ApiError> {
    api.platform.release_acme_host(&host, &release.owner).await?;
    Ok(StatusCode::NO_CONTENT)
}
