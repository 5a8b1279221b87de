//! `/v1/apps/{app}/formation` (process types and counts; PATCH scales) and
//! `/v1/apps/{app}/dynos` (the processes; restart).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{Dyno, ProcessType, Restart, Scale};

pub(super) async fn list(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<Vec<ProcessType>>, ApiError> {
    Ok(Json(api.platform.formation(&app).await?))
}

pub(super) async fn scale(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(scale): ApiJson<Scale>,
) -> Result<Json<Vec<ProcessType>>, ApiError> {
    Ok(Json(api.platform.scale(&app, scale).await?))
}

pub(super) async fn dynos(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<Vec<Dyno>>, ApiError> {
    Ok(Json(api.platform.dynos(&app).await?))
}

pub(super) async fn restart(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(restart): ApiJson<Restart>,
) -> Result<StatusCode, ApiError> {
    api.platform.restart(&app, restart.target.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
