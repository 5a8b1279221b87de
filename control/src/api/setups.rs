//! `/v1/app-setups`: an app made in one go from a source and its `app.json` (see
//! `platform/setup.rs`).
//!
//! Two forms, as for a deploy: a JSON body (`model::NewAppSetup` with `source`, a git
//! repository), or a gzipped tarball as the body with the setup (without `source`) as
//! base64url-encoded JSON in the `Slipway-App-Setup` header, which keeps override values
//! (often secrets) out of URLs. The call is synchronous: 201 with what was made once the
//! app is up, or the error once everything the setup made is removed again
//! (`setup_failed`, naming the step).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;

use super::releases::{is_tarball, media_type, save};
use super::{Admin, Api, ApiError};
use crate::model::{AppSetup, NewAppSetup, SETUP_HEADER};
use crate::platform::{PlatformError, Source};

/// Largest JSON setup (either form).
const MAX_SETUP: usize = 64 * 1024;

pub(super) async fn create(
    _: Admin,
    State(api): State<Api>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<AppSetup>), ApiError> {
    let platform = &api.platform;
    let media = media_type(&headers);
    if media == "application/json" {
        let bytes = axum::body::to_bytes(body, MAX_SETUP)
            .await
            .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()))?;
        let setup = parse(&bytes)?;
        let Some(git) = setup.source else {
            return Err(ApiError::invalid(
                "source",
                "give the git repository ({\"url\": ..., \"ref\": ...}), or send a gzipped tarball",
            ));
        };
        let made = platform.setup_app(setup.name, Source::Git(git), setup.overrides.env).await?;
        return Ok((StatusCode::CREATED, Json(made)));
    }
    if !is_tarball(&media) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the setup as JSON with a git source (Content-Type: application/json), or a gzipped tarball (Content-Type: application/gzip) with the setup in the Slipway-App-Setup header",
        ));
    }
    let Some(encoded) = headers.get(SETUP_HEADER) else {
        return Err(ApiError::invalid(SETUP_HEADER, "missing: the setup's JSON, base64url-encoded"));
    };
    let bytes = crate::model::setup_header_engine()
        .decode(encoded.as_bytes())
        .map_err(|e| ApiError::invalid(SETUP_HEADER, format!("not base64url: {e}")))?;
    if bytes.len() > MAX_SETUP {
        return Err(ApiError::invalid(SETUP_HEADER, format!("longer than {MAX_SETUP} bytes")));
    }
    let setup = parse(&bytes)?;
    if setup.source.is_some() {
        return Err(ApiError::invalid("source", "the tarball is the source: leave source out"));
    }
    let work = platform.slugs.temp_dir().map_err(PlatformError::from)?;
    let file = work.path().join("upload.tar.gz");
    let sha256 = save(body, &file, platform.config.deploy.max_upload_bytes).await?;
    let made = platform.setup_app(setup.name, Source::Tarball { file, sha256 }, setup.overrides.env).await?;
    drop(work);
    Ok((StatusCode::CREATED, Json(made)))
}

/// The setup's JSON, with the field at fault named.
fn parse(bytes: &[u8]) -> Result<NewAppSetup, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        ApiError::new(StatusCode::BAD_REQUEST, "bad_json", format!("app setup: {path}: {}", e.into_inner()))
    })
}
