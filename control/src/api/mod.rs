//! The HTTP API (axum): one module per resource, all of them thin: parse and check the
//! request, call the [`Platform`], shape the answer.
//!
//! Every `/v1` endpoint needs a bearer token: the admin token, or for the endpoints routers
//! use (the route stream, activity reports, waking, the ACME store under `/v1/acme/`) the
//! router token. Errors are
//! Slipway's JSON error body (`slipway_config::api_error`),
//! `{"error": {"code": "...", "message": "...", "field": "..."}}` (`field` when one
//! field of the request is at fault). Every request has an id (`request_id.rs`), echoed
//! in `X-Request-Id`; an internal error (the database, the disk) is logged in full with
//! it and answered with only that id, never the details.

mod acme;
mod addons;
mod apps;
mod backups;
mod config_vars;
mod domains;
mod formation;
pub mod one_off;
mod releases;
mod request_id;
mod routes;
mod setups;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
pub use slipway_config::ApiError;
use slipway_config::api_error::{ApiJson, ApiPath};
use slipway_router::spec::acme as acme_spec;
use tokio_util::sync::CancellationToken;

use crate::addons::AddonError;
use crate::deploy::FetchError;
use crate::platform::{Platform, PlatformError};
use crate::slug::SlugError;

/// Largest JSON body.
const MAX_JSON: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct Api {
    /// The operations.
    pub platform: Arc<Platform>,
    /// Ends route streams at shutdown.
    pub shutdown: CancellationToken,
    /// Attached one-off dynos waiting for their client.
    pub waiting: Arc<one_off::Waiting>,
}

/// The API's routes.
pub fn router(api: Api) -> Router {
    let max_upload = usize::try_from(api.platform.config.deploy.max_upload_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/v1/apps", get(apps::list).post(apps::create))
        .route("/v1/apps/{app}", get(apps::info).patch(apps::update).delete(apps::destroy))
        .route("/v1/apps/{app}/config", get(config_vars::list).patch(config_vars::update))
        .route("/v1/apps/{app}/releases", get(releases::list))
        .route("/v1/apps/{app}/releases/rollback", post(releases::rollback))
        .route("/v1/apps/{app}/releases/{version}", get(releases::info))
        .route(
            "/v1/apps/{app}/deploys",
            // The tarball is streamed to disk with its own limit (deploy.max_upload_bytes).
            post(releases::deploy).layer(DefaultBodyLimit::max(max_upload)),
        )
        .route(
            "/v1/app-setups",
            // A tarball is streamed to disk with its own limit, as for a deploy.
            post(setups::create).layer(DefaultBodyLimit::max(max_upload)),
        )
        .route("/v1/apps/{app}/formation", get(formation::list).patch(formation::scale))
        .route("/v1/apps/{app}/dynos", get(formation::dynos).post(one_off::create))
        .route("/v1/apps/{app}/dynos/{name}/attach", get(one_off::attach))
        .route("/v1/apps/{app}/dynos/restart", post(formation::restart))
        .route("/v1/apps/{app}/domains", get(domains::list).post(domains::add))
        .route("/v1/apps/{app}/domains/{hostname}", axum::routing::delete(domains::remove))
        .route("/v1/apps/{app}/log-token", post(tokens::create))
        .route("/v1/apps/{app}/addons", get(addons::list).post(addons::create))
        .route("/v1/addons/{name}", get(addons::info).delete(addons::destroy))
        .route("/v1/addons/{name}/backups", get(backups::list).post(backups::create))
        .route("/v1/addons/{name}/backups/{id}/restore", post(backups::restore))
        .route(slipway_router::spec::WAKE_PATH, post(routes::wake))
        .route(slipway_router::spec::ACTIVITY_PATH, post(routes::activity))
        .route(slipway_router::spec::ROUTES_PATH, get(routes::routes))
        .route(acme_spec::ACCOUNT_PATH, get(acme::account).post(acme::put_account).layer(acme_limit()))
        .route(acme_spec::CERTIFICATE_PATH, get(acme::certificate).put(acme::put_certificate).layer(acme_limit()))
        .route(acme_spec::CLAIM_PATH, post(acme::claim).layer(acme_limit()))
        .route(acme_spec::RELEASE_PATH, post(acme::release).layer(acme_limit()))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_JSON))
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(api)
}

/// The body limit of the ACME store's endpoints.
fn acme_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(acme_spec::MAX_BODY)
}

/// Proof that the request carried the admin token.
#[derive(Debug)]
pub struct Admin;

/// Proof that the request carried the admin or the router token.
#[derive(Debug)]
pub struct RouterOrAdmin;

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    slipway_config::api_error::bearer(&parts.headers)
}

fn is(given: &str, expected: Option<&str>) -> bool {
    expected.is_some_and(|e| slipway_config::secret::constant_time_eq(given.as_bytes(), e.as_bytes()))
}

impl FromRequestParts<Api> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let given = bearer(parts)?;
        let auth = &api.platform.config.auth;
        if is(given, auth.token.as_deref()) {
            Ok(Admin)
        } else if is(given, auth.router_token.as_deref()) {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the router token cannot do this; use the admin token",
            ))
        } else {
            Err(ApiError::unauthorized("wrong bearer token"))
        }
    }
}

impl FromRequestParts<Api> for RouterOrAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let given = bearer(parts)?;
        let auth = &api.platform.config.auth;
        if is(given, auth.token.as_deref()) || is(given, auth.router_token.as_deref()) {
            Ok(RouterOrAdmin)
        } else {
            Err(ApiError::unauthorized("wrong bearer token"))
        }
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> ApiError {
        let message = e.to_string();
        match e {
            PlatformError::NoSuchApp(_) | PlatformError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", &message)
            }
            PlatformError::Invalid { field, problem } => ApiError::invalid(&field, problem),
            PlatformError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", &message),
            PlatformError::Source(FetchError::Invalid { field, problem }) => ApiError::invalid(field, problem),
            PlatformError::Source(FetchError::Slug(SlugError::TooLarge { .. })) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &message)
            }
            PlatformError::Source(FetchError::Slug(SlugError::Io { .. })) => internal(&message),
            PlatformError::Source(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_source", &message),
            PlatformError::ReleaseFailed { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "release_failed", &message)
            }
            PlatformError::MissingEnv(keys) => ApiError::invalid("env", message).with("missing", keys),
            PlatformError::SetupFailed { step, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "setup_failed", &message).with("step", step)
            }
            PlatformError::ScaleFailed(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "scale_failed", &message),
            PlatformError::Unavailable(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", &message),
            PlatformError::Limit(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "limit_reached", &message),
            PlatformError::NothingToRun(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_release", &message),
            PlatformError::StartFailed(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "start_failed", &message),
            PlatformError::Addon(AddonError::Unsupported(_)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported", &message)
            }
            PlatformError::Addon(AddonError::NoServer { .. }) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", &message)
            }
            PlatformError::Addon(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "addon_unavailable", &message),
            PlatformError::Store(_) => internal(&message),
        }
    }
}

/// A 500 for a failure of the control plane itself: `detail` goes to the log with the
/// request id, the client gets only the id.
fn internal(detail: &str) -> ApiError {
    let id = request_id::current();
    tracing::error!(request_id = %id, error = detail, "internal error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("internal error; the control plane's log has the details under request id {id}"),
    )
    .with("request_id", id)
}
