//! One app at its concurrency limit gets 503s; the others are unaffected.

#![allow(clippy::unwrap_used)]

mod common;

use common::{host, start};
use slipway_tests::Backend;

#[tokio::test]
async fn an_app_over_its_limit_gets_503_while_another_app_is_served() {
    let router = start(common::config()).await;
    let (busy, calm) = (Backend::start("busy").await, Backend::start("calm").await);
    let body = serde_json::json!({ "endpoints": [busy.endpoint()], "options": { "max_concurrent_requests": 3 } });
    router.put_app_json("busy", &body.to_string()).await;
    router.put_app("calm", &[calm.endpoint()]).await;

    let held: Vec<_> = (0..3)
        .map(|_| {
            let http = router.http;
            tokio::spawn(async move { slipway_tests::get(http, &host("busy"), "/hold").await })
        })
        .collect();
    busy.wait_held(3).await;

    let over = router.get("busy", "/").await;
    assert_eq!(over.status, 503);
    assert_eq!(over.headers["retry-after"], "1");
    assert!(over.text().contains("too many requests"), "{}", over.text());
    for _ in 0..20 {
        assert_eq!(router.get("calm", "/").await.status, 200, "another app is not affected");
    }
    assert_eq!(busy.hits(), 3, "the refused request never reached the app");

    busy.release(3);
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
    // Slots come back when responses end.
    assert_eq!(router.get("busy", "/").await.status, 200);
    assert_eq!(router.metric(r#"slipway_router_requests_total{app="busy",class="5xx"}"#), 1.0);
    router.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_frees_its_slot_closes_the_upstream_request_and_counts_as_499() {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    let body = serde_json::json!({ "endpoints": [app.endpoint()], "options": { "max_concurrent_requests": 1 } });
    router.put_app_json("app", &body.to_string()).await;

    let mut client = tokio::net::TcpStream::connect(router.http).await.unwrap();
    let request = format!("GET /hold HTTP/1.1\r\nHost: {}\r\n\r\n", host("app"));
    tokio::io::AsyncWriteExt::write_all(&mut client, request.as_bytes()).await.unwrap();
    app.wait_held(1).await;
    drop(client);
    // The router drops the upstream request, which closes its connection to the app.
    app.wait_connections(0).await;
    assert_eq!(router.metric(r#"slipway_router_requests_total{app="app",class="4xx"}"#), 1.0);
    // The slot is free again: the only slot of this app serves the next request.
    app.release(1);
    assert_eq!(router.get("app", "/").await.status, 200);
    router.stop().await;
}
