//! `/v1/apps/{app}/log-token`: an app-scoped, expiring token for reading the app's logs
//! on logd, signed with logd's signer ([`slipway_logd::Signer`]).

use axum::Json;
use axum::extract::State;

use super::{Admin, Api, ApiError, ApiPath};
use crate::model::LogToken;

pub(super) async fn create(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<LogToken>, ApiError> {
    Ok(Json(api.platform.log_token(&app).await?))
}
