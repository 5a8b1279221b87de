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
