//! Ambiguous or malformed requests are refused with 400 and the connection closed; they
//! never reach an app as two requests.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ZONE, start};
use http::StatusCode;
use slipway_tests::backend::{self, Handler};
use slipway_tests::{Backend, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// A request smuggled behind `head`: Content-Length with Transfer-Encoding, whose body
/// would hide a second request from a proxy that reads by length.
fn smuggled_after(head: &str) -> String {
    format!(
        "{head}POST / HTTP/1.1\r\nHost: app.{ZONE}\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.{ZONE}\r\n\r\n"
    )
}

/// An upgrade request whose answer is not `101` (the app's 200, or the router's own 404)
/// leaves the connection speaking HTTP, so the framing check goes on: the smuggled request
/// behind it gets 400 and never reaches the app.
#[tokio::test]
async fn after_an_upgrade_that_was_not_switched_a_smuggled_request_is_refused() {
    let (router, app) = setup().await;
    for (upgrade_host, first_status) in [(format!("app.{ZONE}"), 200), (format!("nope.{ZONE}"), 404)] {
        let upgrade = format!(
            "GET / HTTP/1.1\r\nHost: {upgrade_host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let reply = raw::exchange(router.http, smuggled_after(&upgrade).as_bytes(), LIMIT).await;
        assert_eq!(reply.statuses(), [first_status, 400], "{}", reply.text());
    }
    assert!(smuggled_paths(&app).is_empty(), "{:?}", app.seen());
    assert_eq!(app.hits(), 1, "only the upgrade request: {:?}", app.seen());
    router.stop().await;
}

/// `Upgrade: h2c` (h2c upgrade smuggling) is not an allowed upgrade: the app gets a plain
/// request without `Upgrade`, `Connection: upgrade` or `HTTP2-Settings`, and the check
/// stays on for what follows.
#[tokio::test]
async fn an_h2c_upgrade_reaches_the_app_as_a_plain_request_and_the_check_stays_on() {
    let (router, app) = setup().await;
    let upgrade = format!(
        "GET / HTTP/1.1\r\nHost: app.{ZONE}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
         HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    );
    let reply = raw::exchange(router.http, smuggled_after(&upgrade).as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses(), [200, 400], "{}", reply.text());
    let seen = app.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let headers = &seen[0].headers;
    assert!(headers.get("upgrade").is_none(), "the app saw {:?}", headers.get("upgrade"));
    assert!(headers.get("http2-settings").is_none(), "{headers:?}");
    let connection: Vec<String> =
        headers.get_all("connection").iter().map(|v| v.to_str().unwrap().to_ascii_lowercase()).collect();
    assert!(!connection.iter().any(|v| v.contains("upgrade")), "{connection:?}");
    router.stop().await;
}

/// An app that answers an allowed upgrade by switching to another protocol (here `h2c`)
/// gets the client a 502, not a tunnel.
#[tokio::test]
async fn an_app_switching_to_a_protocol_not_allowed_gets_502() {
    let router = start(common::config()).await;
    let handler: Handler = Arc::new(|_req| {
        Box::pin(async {
            let mut response = backend::text(StatusCode::SWITCHING_PROTOCOLS, "");
            response.headers_mut().insert("connection", "upgrade".parse().unwrap());
            response.headers_mut().insert("upgrade", "h2c".parse().unwrap());
            response
        })
    });
    let app = Backend::start_with("app", Some(handler)).await;
    router.put_app("app", &[app.endpoint()]).await;
    let upgrade = format!(
        "GET / HTTP/1.1\r\nHost: app.{ZONE}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\
         GET /next HTTP/1.1\r\nHost: app.{ZONE}\r\nConnection: close\r\n\r\n"
    );
    let reply = raw::exchange(router.http, upgrade.as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses()[0], 502, "{}", reply.text());
    router.stop().await;
}

/// Bytes a client sends right behind its upgrade request are held while the app answers,
/// and reach it through the tunnel once the `101` is out: here a WebSocket frame, echoed.
#[tokio::test]
async fn bytes_sent_right_after_an_upgrade_request_go_through_the_tunnel() {
    let (router, _app) = setup().await;
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: app.{ZONE}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    // A masked text frame "hello" (RFC 6455 §5.3), in the same write as the request.
    let mask = [1u8, 2, 3, 4];
    request.extend_from_slice(&[0x81, 0x80 | 5]);
    request.extend_from_slice(&mask);
    request.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut stream = tokio::net::TcpStream::connect(router.http).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut seen = Vec::new();
    let echoed = tokio::time::timeout(LIMIT, async {
        let mut buf = [0u8; 1024];
        while !seen.windows(7).any(|w| w == b"\x81\x05hello") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(echoed.is_ok(), "no echo: {}", String::from_utf8_lossy(&seen));
    assert!(seen.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&seen));
    drop(stream);
    router.stop().await;
}
