//! `/v1/apps`: create, list, info, update (sleep_after), destroy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{App, AppPatch, NewApp};

pub(super) async fn list(_: Admin, State(api): State<Api>) -> Result<Json<Vec<App>>, ApiError> {
    Ok(Json(api.platform.apps().await?))
}

pub(super) async fn create(
    _: Admin,
    State(api): State<Api>,
    ApiJson(new): ApiJson<NewApp>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.platform.create_app(new).await?)))
}

pub(super) async fn info(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<App>, ApiError> {
    Ok(Json(api.platform.app(&app).await?))
}

pub(super) async fn update(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(patch): ApiJson<AppPatch>,
) -> Result<Json<App>, ApiError> {
    Ok(Json(api.platform.update_app(&app, patch).await?))
}

pub(super) async fn destroy(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    api.platform.destroy_app(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}
