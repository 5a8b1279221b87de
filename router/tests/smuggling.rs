//! Ambiguous or malformed requests are refused with 400 and the connection closed; they
//! never reach an app as two requests.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{ZONE, start};
use slipway_tests::{Backend, raw};

const LIMIT: Duration = Duration::from_secs(5);

async fn setup() -> (common::TestRouter, Backend) {
    let router = start(common::config()).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;
    (router, app)
}

fn smuggled_paths(app: &Backend) -> Vec<String> {
    app.seen().into_iter().map(|s| s.path).filter(|p| p.contains("smuggled")).collect()
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused() {
    let (router, app) = setup().await;
    let attack = format!(
        "POST / HTTP/1.1\r\nHost: app.{ZONE}\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n"
    );
    let reply = raw::exchange(router.http, attack.as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    assert!(reply.text().to_ascii_lowercase().contains("connection: close"), "{}", reply.text());
    assert_eq!(app.hits(), 0, "{:?}", app.seen());
    let reason = r#"slipway_router_rejected_requests_total{reason="content-length-with-transfer-encoding"}"#;
    assert_eq!(router.metric(reason), 1.0);
    router.stop().await;
}

#[tokio::test]
async fn two_different_content_lengths_are_refused() {
    let (router, app) = setup().await;
    let attack = format!(
        "POST / HTTP/1.1\r\nHost: app.{ZONE}\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n\
         GET /smuggled HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n"
    );
    let reply = raw::exchange(router.http, attack.as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    assert_eq!(app.hits(), 0);
    router.stop().await;
}

#[tokio::test]
async fn an_invalid_chunk_size_is_refused_and_never_becomes_a_second_request() {
    let (router, app) = setup().await;
    let attack = format!(
        "POST /upload HTTP/1.1\r\nHost: app.{ZONE}\r\nTransfer-Encoding: chunked\r\n\r\n\
         zz\r\nGET /smuggled HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n"
    );
    let reply = raw::exchange(router.http, attack.as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    assert!(smuggled_paths(&app).is_empty(), "{:?}", app.seen());
    assert!(app.hits() <= 1, "at most the one (truncated) request: {:?}", app.seen());
    router.stop().await;
}

#[tokio::test]
async fn obfuscated_transfer_encodings_are_refused() {
    let (router, app) = setup().await;
    for te in ["chunked, identity", "xchunked", "chunked\r\nTransfer-Encoding: x"] {
        let attack = format!(
            "POST / HTTP/1.1\r\nHost: app.{ZONE}\r\nTransfer-Encoding: {te}\r\nContent-Length: 3\r\n\r\n\
             0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n"
        );
        let reply = raw::exchange(router.http, attack.as_bytes(), LIMIT).await;
        assert_eq!(reply.statuses(), [400], "TE {te:?}: {}", reply.text());
    }
    assert!(smuggled_paths(&app).is_empty(), "{:?}", app.seen());
    assert_eq!(app.hits(), 0);
    router.stop().await;
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let mut config = common::config();
    config.limits.max_header_bytes = 4096;
    let router = start(config).await;
    let big = "a".repeat(8000);
    let request = format!("GET / HTTP/1.1\r\nHost: app.{ZONE}\r\nX-Big: {big}\r\n\r\n");
    let reply = raw::exchange(router.http, request.as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses(), [431], "{}", reply.text());
    router.stop().await;
}
