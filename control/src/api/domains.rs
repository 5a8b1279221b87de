//! `/v1/apps/{app}/domains`: custom host names routed to the app.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{Domain, NewDomain};

pub(super) async fn list(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<Vec<Domain>>, ApiError> {
    Ok(Json(api.platform.domains(&app).await?))
}

pub(super) async fn add(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(new): ApiJson<NewDomain>,
) -> Result<(StatusCode, Json<Domain>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.platform.add_domain(&app, &new.hostname).await?)))
}

pub(super) async fn remove(
    _: Admin,
    State(api): State<Api>,
    ApiPath((app, hostname)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    api.platform.remove_domain(&app, &hostname).await?;
    Ok(StatusCode::NO_CONTENT)
}
