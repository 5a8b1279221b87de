//! The admin listener: the route API (`/v1/routes`, bearer token), the certificate listing
//! (`/v1/certificates`, bearer token; never key material), `/metrics`, `/healthz` and
//! `/readyz`. It runs on the control runtime, away from the workers.
//!
//! Errors are Slipway's JSON error body (`slipway_config::api_error`):
//! `{"error": {"code": "...", "message": "..."}}`, with `field` when one field of the body
//! is at fault.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use slipway_config::ApiError;
use slipway_config::api_error::{ApiJson, bearer};
use slipway_config::secret::constant_time_eq;

use crate::shared::Shared;
use crate::spec::{self, AppRoutes, AppRoutesBody, RouteSet};
use crate::table::Source;
use crate::table::update::{Change, RouteWriter, UpdateError};

/// Largest accepted request body (a full table of 100,000 apps fits).
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Admin {
    shared: Arc<Shared>,
    writer: RouteWriter,
}

/// The admin API.
pub(crate) fn router(shared: Arc<Shared>, writer: RouteWriter) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/routes", get(list_routes).put(replace_routes))
        .route("/v1/routes/{app}", get(show_app).put(put_app).delete(delete_app))
        .route("/v1/certificates", get(list_certificates))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Admin { shared, writer })
}

/// 200 `ready` or 503 `not ready`, then a line per stale source: `kubernetes: stale, no
/// answer from the API server for 75s`. A stale source leaves the router ready (its last
/// routes serve; every replica turning unready at once would take the edge down).
async fn readyz(State(admin): State<Admin>) -> Response {
    let (status, mut body) = if admin.shared.is_ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned())
    };
    if let Some(kubernetes) = &admin.shared.kubernetes {
        if !kubernetes.is_synced() {
            body.push_str("kubernetes: not synced yet\n");
        } else if let Some(silent) = kubernetes.stale_for() {
            body.push_str(&format!("kubernetes: stale, no answer from the API server for {}s\n", silent.as_secs()));
        }
    }
    (status, body).into_response()
}

async fn metrics(State(admin): State<Admin>) -> Response {
    if let Some(certs) = &admin.shared.certificates {
        admin.shared.expiry.refresh(certs, &admin.shared.metrics);
    }
    admin.shared.metrics.response()
}

/// Host, issuer, not-after and source of every certificate served (`[]` with HTTPS off).
async fn list_certificates(_: Authorized, State(admin): State<Admin>) -> Json<serde_json::Value> {
    let listed = admin.shared.certificates.as_deref().map(crate::tls::listing::list).unwrap_or_default();
    Json(json!({ "certificates": listed }))
}

async fn list_routes(_: Authorized, State(admin): State<Admin>) -> Json<RouteSet> {
    let table = admin.shared.routes.snapshot();
    let mut apps: Vec<AppRoutes> = table.apps().map(|app| app.state().spec.clone()).collect();
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Json(RouteSet { version: Some(table.version), apps })
}

async fn replace_routes(
    _: Authorized,
    State(admin): State<Admin>,
    ApiJson(set): ApiJson<RouteSet>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let change = Change::Replace { version: set.version, apps: set.apps };
    let version = admin.writer.apply(Source::Admin, change).await?;
    Ok(Json(json!({ "version": version })))
}

#[derive(Debug, Serialize)]
struct AppStatus {
    version: u64,
    source: &'static str,
    routes: AppRoutes,
    inflight: u32,
    endpoints: Vec<EndpointStatus>,
}

#[derive(Debug, Serialize)]
struct EndpointStatus {
    address: String,
    ejected: bool,
    outstanding: usize,
}

async fn show_app(
    _: Authorized,
    State(admin): State<Admin>,
    Path(name): Path<String>,
) -> Result<Json<AppStatus>, ApiError> {
    let table = admin.shared.routes.snapshot();
    let app = table.app(&name).ok_or_else(|| UpdateError::NotFound(name.clone()))?;
    let state = app.state();
    Ok(Json(AppStatus {
        version: table.version,
        source: state.source.as_str(),
        routes: state.spec.clone(),
        inflight: app.inflight(),
        endpoints: state
            .endpoints
            .iter()
            .map(|e| EndpointStatus {
                address: e.label.to_string(),
                ejected: e.is_ejected(),
                outstanding: e.outstanding(),
            })
            .collect(),
    }))
}

async fn put_app(
    _: Authorized,
    State(admin): State<Admin>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<AppRoutesBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    slipway_config::app_name::check(&name).map_err(|p| invalid(&spec::SpecError::new("name", p)))?;
    let version = admin.writer.apply(Source::Admin, Change::Upsert(body.named(name))).await?;
    Ok(Json(json!({ "version": version })))
}

async fn delete_app(
    _: Authorized,
    State(admin): State<Admin>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let version = admin.writer.apply(Source::Admin, Change::Remove(name)).await?;
    Ok(Json(json!({ "version": version })))
}

/// Proof that the request carried the admin bearer token.
#[derive(Debug)]
struct Authorized;

impl FromRequestParts<Admin> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, ApiError> {
        let Some(expected) = admin.shared.config.admin.token.as_deref() else {
            return Err(ApiError::unauthorized(
                "the admin API is disabled: set [admin] token or SLIPWAY_ROUTER__ADMIN__TOKEN",
            ));
        };
        let given = bearer(&parts.headers)?;
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(Authorized)
        } else {
            Err(ApiError::unauthorized("wrong bearer token"))
        }
    }
}

fn invalid(e: &spec::SpecError) -> ApiError {
    ApiError::invalid(&e.field, e.to_string())
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> ApiError {
        match &e {
            UpdateError::Invalid(spec) => invalid(spec),
            UpdateError::Stale { current, .. } => {
                ApiError::new(StatusCode::CONFLICT, "stale_version", e.to_string()).with("current_version", *current)
            }
            UpdateError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "no_such_app", e.to_string()),
            UpdateError::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", e.to_string()),
            UpdateError::VersionExhausted(_) => ApiError::new(StatusCode::CONFLICT, "version_exhausted", e.to_string()),
        }
    }
}
