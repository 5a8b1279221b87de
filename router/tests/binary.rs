//! The `slipway-router` binary: config errors, environment overrides, graceful shutdown.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slipway_tests::Backend;
use slipway_tests::process::Process;

const BIN: &str = env!("CARGO_BIN_EXE_slipway-router");
const TOKEN: &str = "binary-test-token-0123456789";
const LIMIT: Duration = Duration::from_secs(20);

fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("router.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const LOOPBACK: &str = "workers = 1\n[listen]\nhttp = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n";

/// Runs the binary to completion and returns (exit code, everything it printed).
async fn run_to_exit(config: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut process = Process::spawn(Path::new(BIN), &["--config", config.to_str().unwrap()], env);
    let code = process.wait_exit(LIMIT).await;
    (code, process.output.join("\n"))
}

fn addr_from(line: &str, key: &str) -> SocketAddr {
    slipway_tests::platform::log_field(line, key).parse().unwrap()
}

#[tokio::test]
async fn a_bad_config_is_one_clear_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("[listen]\nhttp = \"8080\"\n", &[], "key \"listen.http\""),
        ("[listen]\nhttps = \"443\"\n", &[], "key \"listen.https\""),
        ("[tls]\nhsts = \"forever\"\n", &[], "key \"tls.hsts\""),
        ("zones = [\"UPPER.case\"]\n", &[], "key \"zones[0]\""),
        ("[timeouts]\nidle = \"forever\"\n", &[], "key \"timeouts.idle\""),
        ("zones = [", &[], "router.toml"),
        (LOOPBACK, &[("SLIPWAY_ROUTER__TIMEOUTS__CONNECT", "quick")], "SLIPWAY_ROUTER__TIMEOUTS__CONNECT"),
        (LOOPBACK, &[("SLIPWAY_ROUTER__WORKERZ", "1")], "key \"workerz\": unknown key"),
    ];
    for (text, env, expected) in cases {
        let path = config_file(dir.path(), text);
        let (code, output) = run_to_exit(&path, env).await;
        assert_eq!(code, Some(2), "{text:?} {env:?}: {output}");
        assert!(output.contains(expected), "{text:?} {env:?}: expected {expected:?} in {output:?}");
        assert_eq!(output.lines().count(), 1, "one error line: {output}");
    }
    let (code, output) = run_to_exit(&dir.path().join("missing.toml"), &[]).await;
    assert_eq!(code, Some(2));
    assert!(output.contains("missing.toml"), "{output}");
}

#[tokio::test]
async fn a_listen_address_in_use_is_a_clear_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("workers = 1\n[listen]\nhttp = \"127.0.0.1:{port}\"\nadmin = \"127.0.0.1:0\"\n");
    let (code, output) = run_to_exit(&config_file(dir.path(), &text), &[]).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("listen.http") && output.contains(&port.to_string()), "{output}");
}

/// A router left running (or started twice) holds its port: a second one on the same
/// address, or on an overlapping one (127.0.0.1 against 0.0.0.0 and back), refuses to
/// start with an error naming the address, and the first keeps serving. Without the check,
/// SO_REUSEPORT would let the second take a share of the first one's connections.
#[tokio::test]
async fn a_second_router_on_a_port_another_router_listens_on_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for (first, second) in [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")] {
        let text = format!("workers = 2\n[listen]\nhttp = \"{first}:0\"\nadmin = \"127.0.0.1:0\"\n");
        let path = dir.path().join("first.toml");
        std::fs::write(&path, text).unwrap();
        let mut router = Process::spawn(Path::new(BIN), &["--config", path.to_str().unwrap()], &[]);
        let started = router.wait_for_line("router started", LIMIT).await;
        let port = addr_from(&started, "http").port();

        let text = format!("workers = 2\n[listen]\nhttp = \"{second}:{port}\"\nadmin = \"127.0.0.1:0\"\n");
        let (code, output) = run_to_exit(&config_file(dir.path(), &text), &[]).await;
        assert_eq!(code, Some(1), "{first}:{port} then {second}:{port}: {output}");
        let named = format!("key \"listen.http\": cannot listen on {second}:{port}");
        assert!(output.contains(&named) && output.contains("another process"), "{output}");

        let first_router = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(slipway_tests::get(first_router, "nope.reviewapp.localhost", "/").await.status, 404);
        router.signal(15);
        assert_eq!(router.wait_exit(LIMIT).await, Some(0), "{}", router.output.join("\n"));
    }
}

/// SIGTERM: no new connections, the request in flight finishes, exit 0. The zones and the
/// admin token come from environment variables.
#[tokio::test]
async fn sigterm_drains_an_in_flight_request_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path(), LOOPBACK);
    let env = [
        ("SLIPWAY_ROUTER__ADMIN__TOKEN", TOKEN),
        ("SLIPWAY_ROUTER__ZONES", "[\"env.localhost\"]"),
        ("SLIPWAY_ROUTER__TIMEOUTS__DRAIN", "10s"),
    ];
    let mut router = Process::spawn(Path::new(BIN), &["--config", path.to_str().unwrap()], &env);
    let started = router.wait_for_line("router started", LIMIT).await;
    let (http, admin) = (addr_from(&started, "http"), addr_from(&started, "admin"));

    let app = Backend::start("app").await;
    let body = serde_json::json!({ "endpoints": [app.endpoint()] }).to_string();
    let put = ("PUT", "/v1/routes/slow");
    let reply =
        slipway_tests::client::call(admin, "admin", put, Some("application/json"), Bytes::from(body), Some(TOKEN));
    assert_eq!(reply.await.status, 200);

    let in_flight = tokio::spawn(async move { slipway_tests::get(http, "slow.env.localhost", "/hold").await });
    app.wait_held(1).await;
    router.signal(15);
    router.wait_for_line("shutting down", LIMIT).await;

    // The listener closes: new connections are refused (polled: there is no event for it).
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(http).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    app.release(1);
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "released app");
    assert_eq!(router.wait_exit(LIMIT).await, Some(0), "{}", router.output.join("\n"));
    assert!(router.output.iter().any(|l| l.contains("\"stopped\"")), "{}", router.output.join("\n"));
}

/// Runs the binary with `access_log = <on>` and JSON logs, sends a request to a real app
/// (with a query string) and one for an unknown host, then stops it with SIGTERM. Returns
/// every line it printed, all of them written by then (the access line of a request is
/// written when its response ends, before the drain completes), and the app's endpoint.
async fn run_two_requests(access_log: bool) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("access_log = {access_log}\nlog_format = \"json\"\n{LOOPBACK}");
    let path = config_file(dir.path(), &text);
    let env = [("SLIPWAY_ROUTER__ADMIN__TOKEN", TOKEN), ("SLIPWAY_ROUTER__ZONES", "[\"env.localhost\"]")];
    let mut router = Process::spawn(Path::new(BIN), &["--config", path.to_str().unwrap()], &env);
    let started = router.wait_for_line("router started", LIMIT).await;
    let (http, admin) = (addr_from(&started, "http"), addr_from(&started, "admin"));
    let app = Backend::start("app").await;
    let body = serde_json::json!({ "endpoints": [app.endpoint()] }).to_string();
    let put = ("PUT", "/v1/routes/shop");
    let reply =
        slipway_tests::client::call(admin, "admin", put, Some("application/json"), Bytes::from(body), Some(TOKEN));
    assert_eq!(reply.await.status, 200);

    let req = http::Request::get("/cart/items?secret=hunter2")
        .header("host", "shop.env.localhost")
        .header("x-request-id", "access-log-test-0123456789")
        .body(Default::default())
        .unwrap();
    let reply = slipway_tests::send(http, req).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(slipway_tests::get(http, "nope.env.localhost", "/x").await.status, 404);
    router.signal(15);
    assert_eq!(router.wait_exit(LIMIT).await, Some(0), "{}", router.output.join("\n"));
    assert!(router.output.iter().any(|l| l.contains("\"stopped\"")), "{}", router.output.join("\n"));
    (std::mem::take(&mut router.output), app.endpoint())
}

/// The output lines that are access log lines, as JSON.
fn access_lines(output: &[String]) -> Vec<serde_json::Value> {
    output
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect()
}

#[tokio::test]
async fn the_access_log_has_a_line_per_request_with_its_fields_and_no_query_string() {
    let (output, endpoint) = run_two_requests(true).await;
    let lines = access_lines(&output);
    assert_eq!(lines.len(), 2, "{}", output.join("\n"));
    let shop = &lines[0];
    assert_eq!(shop["request_id"], "access-log-test-0123456789", "{shop}");
    assert_eq!(shop["client"], "127.0.0.1");
    assert_eq!(shop["app"], "shop");
    assert_eq!(shop["host"], "shop.env.localhost");
    assert_eq!(shop["method"], "GET");
    assert_eq!(shop["path"], "/cart/items");
    assert_eq!(shop["protocol"], "HTTP/1.1");
    assert_eq!(shop["status"], 200);
    assert!(shop["bytes"].as_u64().is_some_and(|b| b > 0), "{shop}");
    assert!(shop["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{shop}");
    assert_eq!(shop["upstream"], endpoint.as_str());
    assert_eq!(shop["outcome"], "complete");
    assert!(output.iter().all(|l| !l.contains("hunter2")), "a query string was logged: {}", output.join("\n"));

    let unknown = &lines[1];
    assert_eq!((unknown["app"].as_str(), unknown["status"].as_u64()), (Some("-"), Some(404)), "{unknown}");
    assert_eq!(unknown["host"], "nope.env.localhost");
    assert_eq!(unknown["upstream"], "-");
    assert_eq!(unknown["request_id"].as_str().map(str::len), Some(32), "a generated id: {unknown}");
}

#[tokio::test]
async fn access_log_false_writes_no_access_lines() {
    let (output, _) = run_two_requests(false).await;
    assert_eq!(access_lines(&output), Vec::<serde_json::Value>::new(), "{}", output.join("\n"));
}
