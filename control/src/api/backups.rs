//! `/v1/addons/{name}/backups` (list, create) and
//! `/v1/addons/{name}/backups/{id}/restore`: backups of PostgreSQL add-ons.
//!
//! `POST .../backups` answers once the backup is complete (201) or failed (the error);
//! `POST .../restore` once the restore is done (200, the backup restored).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{Admin, Api, ApiError, ApiPath};
use crate::model::Backup;

pub(super) async fn list(
    _: Admin,
    State(api): State<Api>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<Backup>>, ApiError> {
    Ok(Json(api.platform.backups(&name).await?))
}

pub(super) async fn create(
    _: Admin,
    State(api): State<Api>,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<Backup>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.platform.create_backup(&name).await?)))
}

pub(super) async fn restore(
    _: Admin,
    State(api): State<Api>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> Result<Json<Backup>, ApiError> {
    Ok(Json(api.platform.restore_backup(&name, &id).await?))
}
