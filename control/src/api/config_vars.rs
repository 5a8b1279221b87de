//! `/v1/apps/{app}/config`: the live config vars; a PATCH sets (`"value"`) and unsets
//! (`null`) vars and makes a new release.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{ConfigChanged, ConfigPatch};

pub(super) async fn list(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    Ok(Json(api.platform.config_vars(&app).await?))
}

pub(super) async fn update(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> Result<Json<ConfigChanged>, ApiError> {
    Ok(Json(api.platform.set_config(&app, patch).await?))
}
