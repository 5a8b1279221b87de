//! The headers that tell an app what the edge saw (`X-Forwarded-*`, `X-Request-Id`,
//! `X-Request-Start`) can be believed: a client cannot forge them unless it is a trusted
//! proxy (`clients.trusted_proxies`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{host, start};
use http::{HeaderMap, Request};
use slipway_router::Config;
use slipway_tests::Backend;

/// The forwarding headers a client sends to fool an app.
const SPOOFED: [(&str, &str); 5] = [
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "bank.example"),
    ("x-forwarded-port", "443"),
    ("x-request-start", "t=1"),
];

/// Sends `GET /` for app "app" with `headers`; returns the headers the app received.
async fn received_by_app(config: Config, headers: &[(&str, &str)]) -> (HeaderMap, u16) {
    let router = start(config).await;
    let app = Backend::start("app").await;
    router.put_app("app", &[app.endpoint()]).await;
    let mut req = Request::get("/").header("host", host("app"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let reply = slipway_tests::send(router.http, req.body(Default::default()).unwrap()).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let port = router.http.port();
    router.stop().await;
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    (seen[0].headers.clone(), port)
}

fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_client_are_replaced() {
    let mut config = common::config();
    // A trusted network the test client (127.0.0.1) is not in.
    config.clients.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let mut spoofed = SPOOFED.to_vec();
    spoofed.push(("x-forwarded-for", "7.7.7.7"));
    let (headers, port) = received_by_app(config, &spoofed).await;
    assert_eq!(all(&headers, "x-forwarded-for"), ["127.0.0.1"], "only the peer the router saw");
    assert_eq!(all(&headers, "x-forwarded-proto"), ["http"]);
    assert_eq!(all(&headers, "x-forwarded-host"), [host("app")]);
    assert_eq!(all(&headers, "x-forwarded-port"), [port.to_string()]);
    let start = all(&headers, "x-request-start");
    assert_eq!(start.len(), 1);
    assert_ne!(start[0], "t=1");
}

#[tokio::test]
async fn forwarding_headers_from_a_trusted_proxy_are_extended_and_kept() {
    let mut config = common::config();
    config.clients.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.0/8".parse().unwrap()];
    let (headers, _) = received_by_app(config.clone(), &SPOOFED).await;
    assert_eq!(all(&headers, "x-forwarded-for"), ["6.6.6.6, 127.0.0.1"], "the proxy's chain, then the proxy");
    assert_eq!(all(&headers, "x-forwarded-proto"), ["https"]);
    assert_eq!(all(&headers, "x-forwarded-host"), ["bank.example"]);
    assert_eq!(all(&headers, "x-forwarded-port"), ["443"]);
    assert_eq!(all(&headers, "x-request-start"), ["t=1"]);

    // What a trusted proxy does not send, the router sets.
    let (headers, port) = received_by_app(config, &[]).await;
    assert_eq!(all(&headers, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all(&headers, "x-forwarded-proto"), ["http"]);
    assert_eq!(all(&headers, "x-forwarded-host"), [host("app")]);
    assert_eq!(all(&headers, "x-forwarded-port"), [port.to_string()]);
    assert_eq!(all(&headers, "x-request-start").len(), 1);
}

#[tokio::test]
async fn client_request_ids_are_kept_only_when_they_follow_the_rule() {
    let good = ["0123456789abcdefghij", "Req+Id=base64/like-0123456789"];
    let long = "a".repeat(201);
    let bad = ["short-id", "nineteen-characters", "twenty chars with spaces", "<script>alert(1)</script>", &long];
    for id in good {
        let (headers, _) = received_by_app(common::config(), &[("x-request-id", id)]).await;
        assert_eq!(all(&headers, "x-request-id"), [id]);
    }
    for id in bad {
        let (headers, _) = received_by_app(common::config(), &[("x-request-id", id)]).await;
        let forwarded = all(&headers, "x-request-id");
        assert_eq!(forwarded.len(), 1);
        assert_ne!(forwarded[0], id, "{id:?} was kept");
        assert!(forwarded[0].len() == 32 && forwarded[0].bytes().all(|b| b.is_ascii_hexdigit()), "{forwarded:?}");
    }
}

#[tokio::test]
async fn x_request_start_is_when_the_router_received_the_request() {
    let unix_ms = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let before = unix_ms();
    let (headers, _) = received_by_app(common::config(), &[]).await;
    let after = unix_ms();
    let start = all(&headers, "x-request-start");
    assert_eq!(start.len(), 1, "{headers:?}");
    let ms: u128 = start[0].strip_prefix("t=").unwrap().parse().unwrap();
    assert!(before <= ms && ms <= after, "t={ms} is not between {before} and {after}");
}
