use axum::response::IntoResponse;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::*;

async fn body_json(response: axum::response::Response) -> serde_json::Value {
    use http_body_util::BodyExt;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn an_error_is_the_json_body_with_its_status() {
    let response = ApiError::invalid("endpoints[1]", "not an address").into_response();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        body_json(response).await,
        serde_json::json!({"error": {"code": "invalid", "message": "not an address", "field": "endpoints[1]"}})
    );
}

#[tokio::test]
async fn extra_members_sit_in_the_error_object_and_read_back() {
    let e = ApiError::new(StatusCode::CONFLICT, "stale_version", "older than 7").with("current_version", 7);
    let json = body_json(e.into_response()).await;
    assert_eq!(json["error"]["current_version"], 7);
    let back: ErrorBody = serde_json::from_value(json).unwrap();
    assert_eq!(back.error.code, "stale_version");
    assert_eq!(back.error.field, None);
    assert_eq!(back.error.extra["current_version"], 7);
}

#[test]
fn a_401_asks_for_a_bearer_token() {
    let response = ApiError::unauthorized("wrong bearer token").into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let other = ApiError::new(StatusCode::FORBIDDEN, "forbidden", "no").into_response();
    assert!(other.headers().get(header::WWW_AUTHENTICATE).is_none());
}

#[test]
fn the_bearer_token_is_read_from_the_authorization_header() {
    let mut headers = HeaderMap::new();
    assert_eq!(bearer(&headers).unwrap_err().status(), StatusCode::UNAUTHORIZED);
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
    assert!(bearer(&headers).is_err());
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
    assert!(bearer(&headers).is_err());
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret "));
    assert_eq!(bearer(&headers).unwrap(), "s3cret");
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer s3cret"));
    assert_eq!(bearer(&headers).unwrap(), "s3cret");
}
