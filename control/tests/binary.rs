//! `slipway server` as a real process: bad configs are one line naming the key, the
//! environment overrides keys, and SIGTERM stops the apps' processes before exiting.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TOKEN, echo_app};
use slipway_tests::process::Process;

const LIMIT: Duration = Duration::from_secs(30);

fn slipway() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_slipway"))
}

/// Runs `slipway server --config <file with toml>` expecting it to refuse; its stderr.
async fn refused(dir: &Path, toml: &str, env: &[(&str, &str)]) -> String {
    let path = dir.join("control.toml");
    std::fs::write(&path, toml).unwrap();
    let mut server = Process::spawn(slipway(), &["server", "--config", path.to_str().unwrap()], env);
    assert_eq!(server.wait_exit(LIMIT).await, Some(2), "{}", server.output.join("\n"));
    assert_eq!(server.output.len(), 1, "one line: {:?}", server.output);
    server.output[0].clone()
}

#[tokio::test]
async fn a_bad_config_stops_the_start_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.toml");
    let data = format!("data_dir = \"{}\"\n", dir.path().display());
    let line =
        refused(dir.path(), &format!("{data}[listen]\napi = \"9000\"\n[auth]\ntoken = \"{TOKEN}\"\n"), &[]).await;
    assert_eq!(
        line,
        format!(
            "error: config: {}: key \"listen.api\": \"9000\" is not an address like \"0.0.0.0:8080\" or \"[::1]:8080\"",
            path.display()
        )
    );
    let line = refused(dir.path(), &data, &[]).await;
    assert!(line.starts_with("error: config: key \"auth.token\": is required"), "{line}");
    let line =
        refused(dir.path(), &format!("{data}[auth]\ntoken = \"{TOKEN}\"\n[runtime]\nbackof = \"1s\"\n"), &[]).await;
    assert!(
        line.starts_with(&format!("error: config: {}: key \"runtime.backof\": unknown key", path.display())),
        "{line}"
    );
    let env = [("SLIPWAY_CONTROL__LOGD__FORWARD", "nowhere")];
    let line = refused(dir.path(), &format!("{data}[auth]\ntoken = \"{TOKEN}\"\n"), &env).await;
    assert!(
        line.starts_with("error: config: environment variable SLIPWAY_CONTROL__LOGD__FORWARD: key \"logd.forward\""),
        "{line}"
    );

    let mut missing = Process::spawn(slipway(), &["server", "--config", "/nonexistent/control.toml"], &[]);
    assert_eq!(missing.wait_exit(LIMIT).await, Some(2));
    assert_eq!(
        missing.output,
        [
            "error: config: /nonexistent/control.toml: no such file (pass the path of a TOML config, e.g. config/control.toml)"
        ]
    );
}

/// `slipway server` as a process on a fresh data directory (`<dir>/data`), its token from
/// the environment as the docs recommend, and a client for its API.
async fn server_process() -> (Process, common::TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}\"\nlog_format = \"json\"\n[listen]\napi = \"127.0.0.1:0\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut server = Process::spawn(
        slipway(),
        &["server", "--config", path.to_str().unwrap()],
        &[("SLIPWAY_CONTROL__AUTH__TOKEN", TOKEN)],
    );
    let line = server.wait_for_line("control plane started", LIMIT).await;
    let api: std::net::SocketAddr =
        serde_json::from_str::<serde_json::Value>(&line).unwrap()["api"].as_str().unwrap().parse().unwrap();
    (server, common::TestServer { server: None, api, dir, logd: None })
}

#[tokio::test]
async fn sigterm_stops_the_apps_processes_then_the_server() {
    let (mut server, s) = server_process().await;
    s.ok("POST", "/v1/apps", Some(serde_json::json!({ "name": "shop" })), 201).await;
    assert_eq!(s.deploy_dir("shop", &echo_app()).await.status, 201);
    let port = s.up_port("shop", "web.1").await;
    assert_eq!(common::get_port(port, "/").await.status, 200);

    server.signal(15);
    assert_eq!(server.wait_exit(LIMIT).await, Some(0), "{}", server.output.join("\n"));
    assert!(server.output.iter().any(|l| l.contains("Stopped (the process")), "{}", server.output.join("\n"));
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the app's process is gone");
}

/// An internal failure (here the slug directory of the app cannot be created) is logged
/// in full under the request's id; the client gets the id and none of the details.
#[tokio::test]
async fn an_internal_error_answers_only_a_request_id_and_logs_the_details_under_it() {
    let (mut server, s) = server_process().await;
    let data = s.dir.path().join("data");
    s.ok("POST", "/v1/apps", Some(serde_json::json!({ "name": "shop" })), 201).await;
    // Where the app's slugs go is taken by a file: installing the slug fails (EEXIST).
    std::fs::write(data.join("slugs").join("shop"), "in the way").unwrap();
    let deploy = |request_id: Option<&'static str>| {
        let tarball = slipway_control::slug::pack_dir(&echo_app()).unwrap();
        let mut req = http::Request::post("/v1/apps/shop/deploys")
            .header("host", "control")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/gzip");
        if let Some(id) = request_id {
            req = req.header("x-request-id", id);
        }
        slipway_tests::send(s.api, req.body(http_body_util::Full::new(bytes::Bytes::from(tarball))).unwrap())
    };

    // A sane id from the client (a router's, say) is kept.
    let given = "edge-1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed";
    let reply = deploy(Some(given)).await.unwrap();
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(reply.headers["x-request-id"], given);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "internal");
    assert_eq!(error["request_id"], given);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(given), "{message}");
    for detail in ["slugs", "exists", "os error", data.to_str().unwrap()] {
        assert!(!reply.text().contains(detail), "the answer shows {detail:?}: {}", reply.text());
    }
    let logged = server.wait_for_line(given, LIMIT).await;
    let logged: serde_json::Value = serde_json::from_str(&logged).unwrap();
    assert_eq!((logged["level"].as_str(), logged["request_id"].as_str()), (Some("ERROR"), Some(given)), "{logged}");
    let detail = logged["error"].as_str().unwrap_or_else(|| panic!("no error field: {logged}"));
    assert!(
        detail.contains(data.join("slugs").join("shop").to_str().unwrap()) && detail.contains("os error"),
        "{detail}"
    );

    // An id that breaks the rule (too short) is replaced by a generated one.
    let reply = deploy(Some("short")).await.unwrap();
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "short");
    assert!(slipway_config::request_id::acceptable(id.as_bytes()), "{id}");
    assert_eq!(reply.json()["error"]["request_id"], id.as_str());
    server.wait_for_line(&id, LIMIT).await;
    // Every answer carries an id, errors or not.
    assert!(s.api("GET", "/v1/apps", None).await.headers.contains_key("x-request-id"));

    server.signal(15);
    assert_eq!(server.wait_exit(LIMIT).await, Some(0), "{}", server.output.join("\n"));
}
