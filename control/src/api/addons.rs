//! `/v1/apps/{app}/addons` (list, create) and `/v1/addons/{name}` (show, destroy): add-on
//! names are unique on the control plane, so one needs no app.
//!
//! `POST ...?wait=true` answers once the add-on is ready (201) or failed (the error);
//! without it the answer is at once, 202 with state `provisioning`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{Addon, NewAddon};

pub(super) async fn list(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<Vec<Addon>>, ApiError> {
    Ok(Json(api.platform.addons(&app).await?))
}

pub(super) async fn create(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    uri: Uri,
    ApiJson(new): ApiJson<NewAddon>,
) -> Result<(StatusCode, Json<Addon>), ApiError> {
    let wait = match uri.query().unwrap_or("").split('&').find_map(|p| p.strip_prefix("wait=")) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => return Err(ApiError::invalid("wait", format!("{other:?} is not true or false"))),
    };
    let addon = api.platform.create_addon(&app, new, wait).await?;
    let status = if wait { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((status, Json(addon)))
}

pub(super) async fn info(
    _: Admin,
    State(api): State<Api>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Addon>, ApiError> {
    Ok(Json(api.platform.addon(&name).await?))
}

pub(super) async fn destroy(
    _: Admin,
    State(api): State<Api>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    api.platform.destroy_addon(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
