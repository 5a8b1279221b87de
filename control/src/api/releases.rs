//! `/v1/apps/{app}/releases` (list, info, rollback) and `/v1/apps/{app}/deploys`.
//!
//! A deploy is either a gzipped tarball (`Content-Type: application/gzip`), streamed to
//! disk while its SHA-256 is computed and its size checked, or a JSON body naming a git
//! repository and ref. Either way the answer comes once the release is live (201) or has
//! failed to start (422, the previous release keeps serving).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{Admin, Api, ApiError, ApiJson, ApiPath};
use crate::model::{GitDeploy, Release, Rollback};
use crate::platform::Source;

/// Largest JSON body of a git deploy.
const MAX_GIT_BODY: usize = 64 * 1024;

pub(super) async fn list(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
) -> Result<Json<Vec<Release>>, ApiError> {
    Ok(Json(api.platform.releases(&app).await?))
}

pub(super) async fn info(
    _: Admin,
    State(api): State<Api>,
    ApiPath((app, version)): ApiPath<(String, String)>,
) -> Result<Json<Release>, ApiError> {
    let number = version.strip_prefix('v').unwrap_or(&version);
    let Ok(number) = number.parse::<u64>() else {
        return Err(ApiError::invalid("version", format!("{version:?} is not a release number like 3 or v3")));
    };
    Ok(Json(api.platform.release_info(&app, number).await?))
}

pub(super) async fn rollback(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    ApiJson(rollback): ApiJson<Rollback>,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    Ok((StatusCode::CREATED, Json(api.platform.rollback(&app, rollback.version).await?)))
}

pub(super) async fn deploy(
    _: Admin,
    State(api): State<Api>,
    ApiPath(app): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Release>), ApiError> {
    let platform = &api.platform;
    match media_type(&headers).as_str() {
        "application/json" => {
            let bytes = axum::body::to_bytes(body, MAX_GIT_BODY)
                .await
                .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()))?;
            let git: GitDeploy = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", format!("git deploy: {e}")))?;
            Ok((StatusCode::CREATED, Json(platform.deploy(&app, Source::Git(git)).await?)))
        }
        media if is_tarball(media) => {
            // Refuse unknown apps before reading a large upload.
            platform.require_app(&app).await?;
            let work = platform.slugs.temp_dir().map_err(crate::platform::PlatformError::from)?;
            let file = work.path().join("upload.tar.gz");
            let max = platform.config.deploy.max_upload_bytes;
            let sha256 = save(body, &file, max).await?;
            let release = platform.deploy(&app, Source::Tarball { file, sha256 }).await?;
            drop(work);
            Ok((StatusCode::CREATED, Json(release)))
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a gzipped tarball (Content-Type: application/gzip) or a git source (Content-Type: application/json, {\"url\": ..., \"ref\": ...})",
        )),
    }
}

/// The request's media type, lower-cased, without parameters.
pub(super) fn media_type(headers: &HeaderMap) -> String {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Whether `media` is one a gzipped tarball is sent as.
pub(super) fn is_tarball(media: &str) -> bool {
    matches!(media, "application/gzip" | "application/x-gzip" | "application/x-tar+gzip" | "application/octet-stream")
}

/// Streams `body` into `file`, refusing more than `max` bytes; returns its SHA-256 (hex).
pub(super) async fn save(body: Body, file: &std::path::Path, max: u64) -> Result<String, ApiError> {
    let io = |e: std::io::Error| super::internal(&format!("saving the upload to {}: {e}", file.display()));
    let mut out = tokio::fs::File::create(file).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            // axum reports its own body limit as an error of the stream.
            if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit")) {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the upload is larger than {max} bytes (deploy.max_upload_bytes)"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("reading the upload: {e}"))
            }
        })?;
        size += chunk.len() as u64;
        if size > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the upload is larger than {max} bytes (deploy.max_upload_bytes)"),
            ));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    if size == 0 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "the upload is empty"));
    }
    Ok(crate::hex(&hasher.finalize()))
}
