//! Balancing, retries on connect failure, ejection and probing, and the failure pages.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{host, start};
use slipway_tests::Backend;

/// An address nothing listens on (connections are refused).
async fn dead_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn rr(endpoints: &[String]) -> String {
    serde_json::json!({ "endpoints": endpoints, "options": { "balance": "round_robin" } }).to_string()
}

#[tokio::test]
async fn round_robin_spreads_requests_evenly() {
    let router = start(common::config()).await;
    let backends = [Backend::start("a").await, Backend::start("b").await, Backend::start("c").await];
    router.put_app_json("rr", &rr(&backends.iter().map(Backend::endpoint).collect::<Vec<_>>())).await;
    for _ in 0..30 {
        assert_eq!(router.get("rr", "/").await.status, 200);
    }
    assert_eq!(backends.map(|b| b.hits()), [10, 10, 10]);
    router.stop().await;
}

#[tokio::test]
async fn least_outstanding_sends_new_requests_to_the_idle_endpoint() {
    let router = start(common::config()).await;
    let (busy, idle) = (Backend::start("busy").await, Backend::start("idle").await);
    // Only `busy` first: hold three requests on it.
    router.put_app("lor", &[busy.endpoint()]).await;
    let held: Vec<_> = (0..3)
        .map(|_| {
            let http = router.http;
            tokio::spawn(async move { slipway_tests::get(http, &host("lor"), "/hold").await })
        })
        .collect();
    busy.wait_held(3).await;
    router.put_app("lor", &[busy.endpoint(), idle.endpoint()]).await;
    for _ in 0..20 {
        assert_eq!(router.get("lor", "/").await.json()["backend"], "idle");
    }
    busy.release(3);
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
    router.stop().await;
}

#[tokio::test]
async fn removing_an_endpoint_moves_its_traffic_to_the_others_without_errors() {
    let router = start(common::config()).await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    router.put_app("app", &[a.endpoint(), b.endpoint()]).await;
    for _ in 0..100 {
        assert_eq!(router.get("app", "/").await.status, 200);
    }
    assert!(a.hits() > 0 && b.hits() > 0);
    let b_before = b.hits();
    router.put_app("app", &[a.endpoint()]).await;
    for _ in 0..100 {
        assert_eq!(router.get("app", "/").await.json()["backend"], "a");
    }
    assert_eq!(b.hits(), b_before, "no request reaches the removed endpoint");
    router.stop().await;
}

#[tokio::test]
async fn a_dead_endpoint_is_retried_on_a_live_one_then_ejected() {
    let mut config = common::config();
    config.upstream.eject_after_failures = 2;
    config.upstream.eject_backoff = Duration::from_secs(600);
    config.upstream.eject_backoff_max = Duration::from_secs(600);
    let router = start(config).await;
    let live = Backend::start("live").await;
    let dead = dead_address().await;
    router.put_app_json("app", &rr(&[dead.to_string(), live.endpoint()])).await;

    for _ in 0..20 {
        let reply = router.get("app", "/").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["backend"], "live");
    }
    assert_eq!(live.hits(), 20);
    // Two failures eject it; after that it is skipped, so no more connect attempts.
    assert_eq!(router.metric(r#"slipway_router_upstream_connect_errors_total{app="app"}"#), 2.0);
    assert_eq!(router.metric(r#"slipway_router_retries_total{app="app"}"#), 2.0);
    assert_eq!(router.metric(r#"slipway_router_endpoint_ejections_total{app="app"}"#), 1.0);
    let status = router.admin("GET", "/v1/routes/app", None).await.json();
    assert_eq!(status["endpoints"][0]["address"], dead.to_string());
    assert_eq!(status["endpoints"][0]["ejected"], true);
    assert_eq!(status["endpoints"][1]["ejected"], false);
    router.stop().await;
}

#[tokio::test]
async fn an_ejected_endpoint_is_probed_and_returns_when_it_answers() {
    let mut config = common::config();
    config.upstream.eject_after_failures = 1;
    config.upstream.eject_backoff = Duration::from_millis(20);
    config.upstream.eject_backoff_max = Duration::from_millis(50);
    let router = start(config).await;
    let live = Backend::start("live").await;
    let dead = dead_address().await;
    router.put_app_json("app", &rr(&[dead.to_string(), live.endpoint()])).await;
    assert_eq!(router.get("app", "/").await.status, 200);
    assert_eq!(router.metric(r#"slipway_router_endpoint_ejections_total{app="app"}"#), 1.0);

    // The process comes back on the same address.
    let revived = Backend::start_on("revived", dead).await;
    common::eventually("the probe restores the endpoint", async || {
        router.admin("GET", "/v1/routes/app", None).await.json()["endpoints"][0]["ejected"] == false
    })
    .await;
    for _ in 0..10 {
        assert_eq!(router.get("app", "/").await.status, 200);
    }
    assert!(revived.hits() >= 4, "traffic returns to the revived endpoint: {}", revived.hits());
    router.stop().await;
}

#[tokio::test]
async fn all_endpoints_dead_gives_502_without_internal_addresses() {
    let router = start(common::config()).await;
    let dead = [dead_address().await, dead_address().await, dead_address().await];
    router.put_app("down", &dead.map(|a| a.to_string())).await;
    let reply = router.get("down", "/").await;
    assert_eq!(reply.status, 502);
    let page = reply.text();
    assert!(page.contains("could not be reached"), "{page}");
    for addr in dead {
        assert!(!page.contains(&addr.port().to_string()), "the page leaks {addr}: {page}");
    }
    assert!(!page.contains("127.0.0.1"));
    // Two retries: three endpoints tried once each.
    assert_eq!(router.metric(r#"slipway_router_upstream_connect_errors_total{app="down"}"#), 3.0);
    assert_eq!(router.metric(r#"slipway_router_requests_total{app="down",class="5xx"}"#), 1.0);
    router.stop().await;
}

#[tokio::test]
async fn an_app_without_endpoints_gives_503_with_retry_after() {
    let router = start(common::config()).await;
    router.put_app("empty", &[]).await;
    let reply = router.get("empty", "/").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.headers["retry-after"], "5");
    assert_eq!(reply.headers["cache-control"], "no-store");
    router.stop().await;
}

/// An app that answers the first request on each connection, and closes the connection
/// without answering when a second one arrives on it: the keep-alive race made certain.
async fn closes_kept_alive_connections() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let seen = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for index in 0.. {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    seen.fetch_add(1, Ordering::SeqCst);
                    if index == 1 {
                        return; // close under the second request
                    }
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_bodiless_get_caught_in_the_keep_alive_race_is_resent_on_a_fresh_connection() {
    use std::sync::atomic::Ordering;
    let router = start(common::config()).await;
    let (app, seen) = closes_kept_alive_connections().await;
    router.put_app("racy", &[app.to_string()]).await;
    assert_eq!(router.get("racy", "/first").await.status, 200);
    // The pooled connection sits idle, as before an app times it out (the router only
    // copies requests for a resend on connections idle for a while).
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Same pooled upstream connection: the app closes it under this request.
    let reply = router.get("racy", "/second").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(seen.load(Ordering::SeqCst), 3, "first, the dropped second, and its resend");
    assert_eq!(router.metric(r#"slipway_router_retries_total{app="racy"}"#), 1.0);

    // A POST is not idempotent: it is not sent twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let post = http::Request::post("/write")
        .header("host", host("racy"))
        .body(http_body_util::Full::new(bytes::Bytes::from("x")))
        .unwrap();
    let reply = slipway_tests::send(router.http, post).await.unwrap();
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(seen.load(Ordering::SeqCst), 4, "the POST reached the app once, and was not sent again");
    router.stop().await;
}
