//! Router lines in each app's log: a real router sends them to a real logd (both in this
//! process, on loopback), provoked for real: a slow app, one that closes without answering
//! or mid-response, a refused connection, a client that hangs up, a smuggling attempt, an
//! app over its concurrency limit, an app with no processes, a sleeping app that cannot
//! be woken; and a logd that takes no lines.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{ZONE, host, start};
use http::Request;
use http_body_util::Full;
use slipway_tests::{Backend, eventually, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);
const LOGD_ADMIN: &str = "test-admin-token-0123456789";

async fn logd() -> slipway_logd::Logd {
    let mut c = slipway_logd::Config::default();
    c.listen.forward = "127.0.0.1:0".parse().unwrap();
    c.listen.http = "127.0.0.1:0".parse().unwrap();
    c.auth.admin_token = Some(LOGD_ADMIN.into());
    c.log_level = "warn".into();
    slipway_logd::Logd::start(c).await.unwrap()
}

/// A test router whose lines go to `logd` (every request, sent every 20 ms).
fn config(logd: SocketAddr) -> slipway_router::Config {
    let mut config = common::config();
    config.lines.enabled = true;
    config.lines.logd = logd;
    config.lines.flush_interval = Duration::from_millis(20);
    config
}

/// `app`'s lines in logd, as JSON, filtered by `query` (`&source=router`).
async fn lines(logd: &slipway_logd::Logd, app: &str, query: &str) -> Vec<serde_json::Value> {
    let path = format!("/v1/apps/{app}/logs?tail=1000&follow=false&token={LOGD_ADMIN}{query}");
    let reply = slipway_tests::get(logd.http_addr(), "logd", &path).await;
    if reply.status != 200 {
        return Vec::new();
    }
    reply.text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Waits for `app`'s first router line and returns its message.
async fn router_line(logd: &slipway_logd::Logd, app: &str) -> String {
    eventually(&format!("a router line of {app}"), LIMIT, async || {
        let found = lines(logd, app, "&source=router").await;
        found.first().map(|l| l["message"].as_str().unwrap().to_owned())
    })
    .await
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(&format!(" {key}=")).map(|i| i + key.len() + 2).unwrap_or_else(|| panic!("{key} in {line}"));
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return &quoted[..quoted.find('"').unwrap()];
    }
    rest.split(' ').next().unwrap()
}

async fn put(router: &common::TestRouter, app: &str, endpoints: &[String], options: serde_json::Value) {
    let dynos: serde_json::Map<String, serde_json::Value> =
        endpoints.iter().enumerate().map(|(i, e)| (e.clone(), format!("web.{}", i + 1).into())).collect();
    let body = serde_json::json!({ "endpoints": endpoints, "dynos": dynos, "options": options });
    router.put_app_json(app, &body.to_string()).await;
}

#[tokio::test]
async fn a_request_gets_one_heroku_style_line_in_its_apps_log_naming_its_dyno() {
    let logd = logd().await;
    let router = start(config(logd.forward_addr())).await;
    let app = Backend::start("shop").await;
    put(&router, "shop", &[app.endpoint()], serde_json::json!({})).await;

    let id = "lines-test-request-0000000001";
    let req = Request::get("/cart?token=secret")
        .header("host", host("shop"))
        .header("x-request-id", id)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = slipway_tests::send(router.http, req).await.unwrap();
    assert_eq!(reply.status, 200);

    let line = router_line(&logd, "shop").await;
    assert!(line.starts_with("at=info method=GET path=\"/cart\" "), "no query string by default: {line}");
    assert_eq!(field(&line, "host"), host("shop"));
    assert_eq!(field(&line, "request_id"), id);
    assert_eq!(field(&line, "fwd"), "127.0.0.1");
    assert_eq!(field(&line, "dyno"), "web.1");
    assert_eq!(field(&line, "status"), "200");
    assert_eq!(field(&line, "bytes"), reply.body.len().to_string());
    assert_eq!(field(&line, "protocol"), "http");
    for key in ["connect", "service"] {
        let value = field(&line, key);
        assert!(value.ends_with("ms") && value[..value.len() - 2].parse::<u64>().is_ok(), "{key}={value}");
    }
    // The line's record: source router, dyno web.1, so `--source router` and `--dyno web.1`
    // find it, and `--source app` does not.
    let by_dyno = lines(&logd, "shop", "&dyno=web.1").await;
    assert_eq!(by_dyno.len(), 1, "{by_dyno:?}");
    assert_eq!((by_dyno[0]["source"].as_str(), by_dyno[0]["dyno"].as_str()), (Some("router"), Some("web.1")));
    assert!(lines(&logd, "shop", "&source=app").await.is_empty());

    // Unknown hosts have no app log: counted, nowhere else.
    assert_eq!(router.get("nope", "/").await.status, 404);
    eventually("the no-app line is counted", LIMIT, async || {
        (router.metric(r#"slipway_router_log_lines_dropped_total{reason="no_app"}"#) == 1.0).then_some(())
    })
    .await;
    eventually("the line is counted as sent", LIMIT, async || {
        (router.metric("slipway_router_log_lines_sent_total") == 1.0).then_some(())
    })
    .await;
    router.stop().await;
}

/// A one-shot upstream on loopback: reads a request head, then does `then` with the socket.
async fn raw_upstream(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(answer).await;
                // Dropped: closed, with or without (part of) an answer.
            });
        }
    });
    addr
}

#[tokio::test]
async fn each_failure_gets_its_error_code_in_its_apps_log() {
    let logd = logd().await;
    let mut config = config(logd.forward_addr());
    config.upstream.retries = 1;
    config.timeouts.request_body = Duration::from_millis(300);
    let router = start(config).await;
    let backend = Backend::start("app").await;

    // H12: the app answers after its response timeout.
    put(&router, "slow", &[backend.endpoint()], serde_json::json!({ "response_timeout": "200ms" })).await;
    assert_eq!(router.get("slow", "/slow/3000").await.status, 504);
    // H13: the app closes the connection without answering.
    let closes = raw_upstream(b"").await;
    put(&router, "closes", &[closes.to_string()], serde_json::json!({})).await;
    assert_eq!(router.get("closes", "/").await.status, 502);
    // H18: the app breaks off its response mid-body.
    let breaks = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b").await;
    put(&router, "breaks", &[breaks.to_string()], serde_json::json!({})).await;
    let mut conn = TcpStream::connect(router.http).await.unwrap();
    conn.write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", host("breaks")).as_bytes()).await.unwrap();
    let cut = raw::read_until_closed(&mut conn, LIMIT).await;
    assert!(cut.text().starts_with("HTTP/1.1 200"), "{}", cut.text());
    // H21: nothing listens on the app's port (every retry refused).
    let refused = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    put(&router, "refused", &[refused.to_string()], serde_json::json!({})).await;
    assert_eq!(router.get("refused", "/").await.status, 502);
    // H14: the app has no processes.
    put(&router, "empty", &[], serde_json::json!({})).await;
    assert_eq!(router.get("empty", "/").await.status, 503);
    // S11: a sleeping app, and no control plane to wake it.
    put(&router, "sleepy", &[], serde_json::json!({ "sleeping": true })).await;
    assert_eq!(router.get("sleepy", "/").await.status, 503);
    // H26: a smuggling attempt, over a raw socket.
    put(&router, "smuggle", &[backend.endpoint()], serde_json::json!({})).await;
    let attack = format!(
        "POST / HTTP/1.1\r\nHost: smuggle.{ZONE}\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: smuggle.{ZONE}\r\n\r\n"
    );
    let reply = raw::exchange(router.http, attack.as_bytes(), LIMIT).await;
    assert_eq!(reply.statuses(), [400], "{}", reply.text());
    // H11: one request in flight is the app's limit; the next is refused.
    let held = Backend::start("held").await;
    put(&router, "busy", &[held.endpoint()], serde_json::json!({ "max_concurrent_requests": 1 })).await;
    let first = tokio::spawn({
        let http = router.http;
        async move { slipway_tests::client::get(http, &host("busy"), "/hold").await }
    });
    held.wait_held(1).await;
    assert_eq!(router.get("busy", "/").await.status, 503);
    // H27: the client hangs up while the app works on its request.
    put(&router, "gone", &[held.endpoint()], serde_json::json!({})).await;
    let mut conn = TcpStream::connect(router.http).await.unwrap();
    conn.write_all(format!("GET /hold HTTP/1.1\r\nHost: {}\r\n\r\n", host("gone")).as_bytes()).await.unwrap();
    held.wait_held(2).await;
    drop(conn);
    // H28: the client stops sending its request body (to an app that reads it all first).
    let handler: slipway_tests::backend::Handler = std::sync::Arc::new(|req| {
        Box::pin(async move {
            use http_body_util::BodyExt;
            let _ = req.into_body().collect().await;
            slipway_tests::backend::text(http::StatusCode::OK, "read it all")
        })
    });
    let reads = Backend::start_with("reads", Some(handler)).await;
    put(&router, "stalls", &[reads.endpoint()], serde_json::json!({})).await;
    let mut conn = TcpStream::connect(router.http).await.unwrap();
    let head = format!("POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\n\r\nab", host("stalls"));
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(LIMIT, conn.read(&mut answer)).await.unwrap().unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer[..n]));

    let expect = [
        ("slow", "H12", "Request timeout", "504"),
        ("closes", "H13", "Connection closed without response", "502"),
        ("breaks", "H18", "Server Request Interrupted", "200"),
        ("refused", "H21", "Backend connection refused", "502"),
        ("empty", "H14", "No web processes running", "503"),
        ("sleepy", "S11", "Wake failed", "503"),
        ("smuggle", "H26", "Request Error", "400"),
        ("busy", "H11", "Backlog too deep", "503"),
        ("gone", "H27", "Client Request Interrupted", "499"),
        ("stalls", "H28", "Client Connection Idle", "408"),
    ];
    for (app, code, desc, status) in expect {
        let line = router_line(&logd, app).await;
        let start = format!("at=error code={code} desc=\"{desc}\" ");
        assert!(line.starts_with(&start), "{app}: {line}");
        assert_eq!(field(&line, "status"), status, "{app}: {line}");
    }
    // The app that answered late is named; one with no process is not.
    assert_eq!(field(&router_line(&logd, "slow").await, "dyno"), "web.1");
    assert_eq!(field(&router_line(&logd, "empty").await, "dyno"), "");
    assert_eq!(field(&router_line(&logd, "smuggle").await, "host"), format!("smuggle.{ZONE}"));
    held.release(2);
    assert_eq!(first.await.unwrap().status, 200);
    router.stop().await;
}

#[tokio::test]
async fn a_logd_that_takes_no_lines_costs_no_request_and_the_drops_are_counted() {
    // Accepts connections and reads, never acknowledges: the slowest logd there is.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut config = config(silent_addr);
    config.lines.queue = 4;
    let router = start(config).await;
    let app = Backend::start("app").await;
    put(&router, "shop", &[app.endpoint()], serde_json::json!({})).await;

    for _ in 0..30 {
        assert_eq!(router.get("shop", "/").await.status, 200);
    }
    // At most one batch waits for its ack and one fills up behind it: 8 lines.
    let dropped = router.metric(r#"slipway_router_log_lines_dropped_total{reason="queue_full"}"#);
    assert!(dropped >= 22.0, "dropped {dropped}");
    assert_eq!(router.metric("slipway_router_log_lines_sent_total"), 0.0);
    router.stop().await;
}

/// A listener whose accept queue is full drops new SYNs: connecting to it hangs (the
/// loopback stand-in for an unreachable host, as in `timeouts.rs`).
#[tokio::test]
async fn a_connect_that_times_out_is_h19() {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.listen(0).unwrap();
    let blackhole: SocketAddr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(blackhole)).await {
            fillers.push(s);
        }
    }
    let logd = logd().await;
    let mut config = config(logd.forward_addr());
    config.timeouts.connect = Duration::from_millis(300);
    config.upstream.retries = 0;
    let router = start(config).await;
    put(&router, "hang", &[blackhole.to_string()], serde_json::json!({})).await;
    assert_eq!(router.get("hang", "/").await.status, 504);
    let line = router_line(&logd, "hang").await;
    assert!(line.starts_with("at=error code=H19 desc=\"Backend connection timeout\" "), "{line}");
    assert_eq!(field(&line, "dyno"), "");
    drop(fillers);
    router.stop().await;
}
