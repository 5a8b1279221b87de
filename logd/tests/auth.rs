//! Tokens: app-scoped, expiring HMAC tokens and the admin token, in a header or the query.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use std::time::Duration;

use common::{ADMIN, KEY, config, start};
use slipway_logd::token::{Claims, Signer, now};
use slipway_tests::stream;

fn secured() -> slipway_logd::Config {
    let mut c = config();
    c.auth.anonymous = false;
    c
}

async fn status(addr: std::net::SocketAddr, path: &str, bearer: Option<&str>) -> (u16, serde_json::Value) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let s = stream::open(addr, path, &headers).await;
    let code = s.status.as_u16();
    if code == 200 {
        return (code, serde_json::Value::Null);
    }
    let body = s.rest().await;
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

#[tokio::test]
async fn tokens_missing_wrong_app_expired_and_valid() {
    let logd = start(secured()).await;
    let addr = logd.http_addr();
    let signer = Signer::new(KEY.as_bytes()).unwrap();
    let path = "/v1/apps/shop/logs?follow=false";

    let (code, body) = status(addr, path, None).await;
    assert_eq!(code, 401);
    assert_eq!(body["error"]["code"], "unauthorized");

    let other_app = signer.sign(&Claims::for_app("blog", Duration::from_secs(60)));
    let (code, body) = status(addr, path, Some(&other_app)).await;
    assert_eq!(code, 403);
    assert!(body["error"]["message"].as_str().unwrap().contains("blog"), "{body}");

    let expired = signer.sign(&Claims { app: "shop".into(), exp: now() - 1, scope: None });
    let (code, body) = status(addr, path, Some(&expired)).await;
    assert_eq!(code, 403);
    assert_eq!(body["error"]["code"], "token_expired");

    let other_scope = signer.sign(&Claims { app: "shop".into(), exp: now() + 60, scope: Some("builds:write".into()) });
    assert_eq!(status(addr, path, Some(&other_scope)).await.0, 403);

    let forged = Signer::new(b"not the key of this logd, 32+ bytes")
        .unwrap()
        .sign(&Claims::for_app("shop", Duration::from_secs(60)));
    assert_eq!(status(addr, path, Some(&forged)).await.0, 401);
    assert_eq!(status(addr, path, Some("garbage")).await.0, 401);

    let valid = signer.sign(&Claims::for_app("shop", Duration::from_secs(60)));
    assert_eq!(status(addr, path, Some(&valid)).await.0, 200);
    // In the query too (EventSource cannot set headers).
    assert_eq!(status(addr, &format!("{path}&token={valid}"), None).await.0, 200);
    let scoped = signer.sign(&Claims { app: "shop".into(), exp: now() + 60, scope: Some("logs:read".into()) });
    assert_eq!(status(addr, path, Some(&scoped)).await.0, 200);
    // The admin token reads every app, and lists them.
    assert_eq!(status(addr, "/v1/apps/blog/logs?follow=false", Some(ADMIN)).await.0, 200);
    let reply = slipway_tests::get(addr, "logd", &format!("/v1/apps?token={ADMIN}")).await;
    assert_eq!(reply.status, 200);
    let apps: Vec<String> =
        reply.json()["apps"].as_array().unwrap().iter().map(|a| a["app"].as_str().unwrap().to_owned()).collect();
    assert_eq!(apps, ["blog", "shop"]);
    assert_eq!(status(addr, "/v1/apps", Some(&valid)).await.0, 403, "an app token cannot list apps");
    assert_eq!(status(addr, "/v1/apps", None).await.0, 401);

    assert_eq!(common::metric(&logd, r#"slipway_logd_auth_failures_total{status="401"}"#), 4.0);
    logd.stop().await;
}

#[tokio::test]
async fn websocket_and_sse_need_tokens_too() {
    let logd = start(secured()).await;
    let url = format!("ws://{}/v1/apps/shop/logs", logd.http_addr());
    let err = tokio_tungstenite::connect_async(url.clone()).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let token = Signer::new(KEY.as_bytes()).unwrap().sign(&Claims::for_app("shop", Duration::from_secs(60)));
    let (_ws, response) = tokio_tungstenite::connect_async(format!("{url}?token={token}")).await.unwrap();
    assert_eq!(response.status(), 101);
    let s = stream::sse(logd.http_addr(), "/v1/apps/shop/logs", &[]).await;
    assert_eq!(s.status, 401);
    logd.stop().await;
}

#[tokio::test]
async fn metrics_can_require_the_admin_token() {
    let mut c = secured();
    c.auth.protect_metrics = true;
    let logd = start(c).await;
    assert_eq!(slipway_tests::get(logd.http_addr(), "logd", "/metrics").await.status, 401);
    let reply = slipway_tests::get(logd.http_addr(), "logd", &format!("/metrics?token={ADMIN}")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.text().contains("slipway_logd_ingested_records_total"));
    logd.stop().await;
}
