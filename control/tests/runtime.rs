//! The local runtime through the API, with real processes (bash, python3) and a real logd
//! in this process: boot failures, crash restarts with backoff, SIGTERM then SIGKILL,
//! scaling, restarts, and apps coming back when the control plane restarts.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{echo_app, get_port, start_with, start_with_logd};
use serde_json::json;

fn time(line: &serde_json::Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(line["time"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_release_whose_web_process_exits_fails_and_the_previous_one_keeps_serving() {
    let s = start_with_logd(|_| {}).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    let good = s.deploy_dir("shop", &echo_app()).await;
    assert_eq!(good.status, 201, "{}", good.text());
    let port = s.up_port("shop", "web.1").await;
    assert_eq!(get_port(port, "/").await.json()["release"], "v2");

    let bad = s.deploy_files("shop", &[("Procfile", "web: echo 'no database!' >&2; exit 3\n")]).await;
    assert_eq!(bad.status, 422, "{}", bad.text());
    let error = bad.json()["error"].clone();
    assert_eq!(error["code"], "release_failed");
    assert_eq!(
        error["message"],
        "release v3 did not start: web.1 exited with status 3 before accepting connections on $PORT; v2 keeps running"
    );
    // v2 is still live and still serving from the same process.
    let app = s.ok("GET", "/v1/apps/shop", None, 200).await;
    assert_eq!(app["release"], 2);
    let releases = s.ok("GET", "/v1/apps/shop/releases", None, 200).await;
    assert_eq!((releases[0]["version"].as_u64(), releases[0]["status"].as_str()), (Some(3), Some("failed")));
    assert_eq!(get_port(port, "/").await.json()["release"], "v2");
    let dynos = s.dynos("shop").await;
    assert_eq!((dynos.len(), dynos[0]["release"].as_u64()), (1, Some(2)));
    // The failing process's stderr and the reason are in the app's logs.
    let mut logs = s.logs("shop", "").await;
    let stderr = logs.wait_log("the failing process's stderr", |l| l["message"] == "no database!").await;
    assert_eq!((stderr["stream"].as_str(), stderr["dyno"].as_str()), (Some("stderr"), Some("web.1")));
    logs.wait_log("the failure", |l| {
        l["source"] == "slipway"
            && l["message"].as_str().unwrap().starts_with("Release v3 failed: release v3 did not start")
    })
    .await;
    // A config change now releases v2's code, not the failed v3's.
    let changed = s.ok("PATCH", "/v1/apps/shop/config", Some(json!({ "A": "1" })), 200).await;
    assert_eq!(changed["release"]["slug"]["process_types"]["web"], "python3 app.py");
    s.stop().await;
}

#[tokio::test]
async fn a_web_process_that_never_listens_fails_the_release_at_the_boot_timeout() {
    let s = start_with(|c| c.runtime.boot_timeout = Duration::from_millis(500)).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "mute" })), 201).await;
    let started = Instant::now();
    let reply = s.deploy_files("mute", &[("Procfile", "web: sleep 600\n")]).await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert!(
        reply.json()["error"]["message"].as_str().unwrap().contains("web.1 did not accept connections on $PORT within")
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(s.dynos("mute").await.is_empty(), "the new process was stopped");
    s.stop().await;
}

#[tokio::test]
async fn crashed_processes_are_restarted_with_a_growing_backoff() {
    // restart_backoff 100ms, doubling, at most 400ms (common::config).
    let s = start_with_logd(|_| {}).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "flaky" })), 201).await;
    let procfile = "web: python3 app.py\nworker: echo 'worker starting'; sleep 0.05; exit 7\n";
    let app = std::fs::read_to_string(echo_app().join("app.py")).unwrap();
    let deployed = s.deploy_files("flaky", &[("Procfile", procfile), ("app.py", &app)]).await;
    assert_eq!(deployed.status, 201, "{}", deployed.text());
    let mut logs = s.logs("flaky", "&dyno=worker.1&source=slipway").await;
    s.ok("PATCH", "/v1/apps/flaky/formation", Some(json!({ "worker": 1 })), 200).await;

    let mut crashes = Vec::new();
    while crashes.len() < 5 {
        let line = logs.wait_log("a crash", |l| l["message"] == "Process exited with status 7").await;
        crashes.push(time(&line));
    }
    let plan = |n: u32| Duration::from_millis(100 * 2u64.pow(n).min(4));
    for (i, pair) in crashes.windows(2).enumerate() {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(
            gap >= plan(i as u32),
            "crash {} came {gap:?} after the previous one; the backoff was {:?}",
            i + 2,
            plan(i as u32)
        );
    }
    let worker = s.dynos("flaky").await.into_iter().find(|d| d["name"] == "worker.1").unwrap();
    assert!(worker["restarts"].as_u64().unwrap() >= 4, "{worker}");
    // The web process is not affected.
    let port = s.up_port("flaky", "web.1").await;
    assert_eq!(get_port(port, "/").await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn stopping_sends_sigterm_then_sigkill_after_the_grace_period() {
    // Long enough for python3 to handle SIGTERM and exit on a loaded machine (it took over
    // 800 ms there), so only the process that ignores SIGTERM meets the SIGKILL.
    const GRACE: Duration = Duration::from_secs(4);
    let s = start_with_logd(|c| c.runtime.stop_grace = GRACE).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "stubborn" })), 201).await;
    let procfile = "web: python3 app.py\nworker: trap 'echo got SIGTERM, ignoring it' TERM; echo $$ > worker.pid; while true; do sleep 0.05; done\n";
    let app = std::fs::read_to_string(echo_app().join("app.py")).unwrap();
    assert_eq!(s.deploy_files("stubborn", &[("Procfile", procfile), ("app.py", &app)]).await.status, 201);
    let mut logs = s.logs("stubborn", "").await;
    s.ok("PATCH", "/v1/apps/stubborn/formation", Some(json!({ "worker": 1 })), 200).await;
    logs.wait_log("the worker is up", |l| {
        l["dyno"] == "worker.1" && l["message"] == "State changed from starting to up"
    })
    .await;

    // Scaling the worker down stops it: it ignores SIGTERM, so SIGKILL follows the grace.
    let started = Instant::now();
    s.ok("PATCH", "/v1/apps/stubborn/formation", Some(json!({ "worker": 0 })), 200).await;
    logs.wait_log("the worker got SIGTERM", |l| l["dyno"] == "worker.1" && l["message"] == "got SIGTERM, ignoring it")
        .await;
    let stopped = logs
        .wait_log("the worker stopped", |l| {
            l["dyno"] == "worker.1" && l["message"].as_str().unwrap().starts_with("Stopped")
        })
        .await;
    assert_eq!(stopped["message"], "Stopped (the process was killed by SIGKILL)");
    assert!(started.elapsed() >= GRACE, "SIGKILL came before the grace period ended");

    // The web process handles SIGTERM: it stops by itself, not by the SIGKILL at the end
    // of the grace period (the line below says which; a duration would not, on a loaded
    // machine).
    s.ok("DELETE", "/v1/apps/stubborn", None, 204).await;
    let line = logs
        .wait_log("web stopped", |l| l["dyno"] == "web.1" && l["message"].as_str().unwrap().starts_with("Stopped"))
        .await;
    // python3 itself exits 0; a launcher that does not exec it (a pyenv shim under another
    // HOME) dies of the SIGTERM while python3 finishes.
    let how = line["message"].as_str().unwrap();
    assert!(
        ["Stopped (the process exited with status 0)", "Stopped (the process was killed by SIGTERM)"].contains(&how),
        "{how}"
    );
    s.stop().await;
}

#[tokio::test]
async fn scaling_and_restarts_start_and_replace_processes() {
    let s = start_with(|_| {}).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    assert_eq!(s.deploy_dir("shop", &echo_app()).await.status, 201);
    let formation = s.ok("GET", "/v1/apps/shop/formation", None, 200).await;
    assert_eq!(
        formation,
        json!([
            { "type": "web", "quantity": 1, "command": "python3 app.py" },
            { "type": "worker", "quantity": 0, "command": formation[1]["command"] },
        ])
    );
    s.ok("PATCH", "/v1/apps/shop/formation", Some(json!({ "web": 3, "worker": 1 })), 200).await;
    for name in ["web.1", "web.2", "web.3"] {
        let port = s.up_port("shop", name).await;
        assert_eq!(get_port(port, "/").await.json()["dyno"], name);
    }
    let names: Vec<String> = s.dynos("shop").await.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["web.1", "web.2", "web.3", "worker.1"]);
    let bad = s.api("PATCH", "/v1/apps/shop/formation", Some(json!({ "clock": 1 }))).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"].as_str().unwrap().contains("its Procfile declares: web, worker"));
    assert_eq!(s.api("PATCH", "/v1/apps/shop/formation", Some(json!({ "web": 101 }))).await.status, 400);

    s.ok("PATCH", "/v1/apps/shop/formation", Some(json!({ "web": 1 })), 200).await;
    let names: Vec<String> = s.dynos("shop").await.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["web.1", "worker.1"]);

    // Restarting web.1 replaces it (a new process on a new port) once the new one is up.
    let before = s.up_port("shop", "web.1").await;
    let pid = get_port(before, "/").await.json()["pid"].clone();
    s.ok("POST", "/v1/apps/shop/dynos/restart", Some(json!({ "target": "web.1" })), 204).await;
    let after = s.up_port("shop", "web.1").await;
    assert_ne!(before, after);
    assert_ne!(get_port(after, "/").await.json()["pid"], pid);
    s.ok("POST", "/v1/apps/shop/dynos/restart", Some(json!({})), 204).await;
    assert_eq!(s.dynos("shop").await.len(), 2);
    s.stop().await;
}

/// Scaling applies first and stores after: a scale whose new web process cannot start
/// answers why, and the stored formation stays what runs.
#[tokio::test]
async fn a_scale_whose_new_web_process_cannot_start_leaves_the_stored_formation_as_it_was() {
    let s = start_with(|_| {}).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "gated" })), 201).await;
    // Web processes start only while the gate file exists.
    let gate = s.dir.path().join("gate");
    std::fs::write(&gate, "open").unwrap();
    let procfile = format!(
        "web: test -e {} && exec python3 app.py || {{ echo 'the gate is closed' >&2; exit 1; }}\n",
        gate.display()
    );
    let app = std::fs::read_to_string(echo_app().join("app.py")).unwrap();
    let deployed = s.deploy_files("gated", &[("Procfile", &procfile), ("app.py", &app)]).await;
    assert_eq!(deployed.status, 201, "{}", deployed.text());
    let port = s.up_port("gated", "web.1").await;

    std::fs::remove_file(&gate).unwrap();
    let refused = s.api("PATCH", "/v1/apps/gated/formation", Some(json!({ "web": 2 }))).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "scale_failed");
    assert_eq!(
        error["message"],
        "cannot scale: web.2 exited with status 1 before accepting connections on $PORT; the formation is unchanged"
    );
    let formation = s.ok("GET", "/v1/apps/gated/formation", None, 200).await;
    assert_eq!(formation[0]["quantity"], 1, "{formation}");
    assert_eq!(s.ok("GET", "/v1/apps/gated", None, 200).await["formation"], json!({ "web": 1 }));
    let dynos = s.dynos("gated").await;
    assert_eq!(dynos.len(), 1, "{dynos:?}");
    assert_eq!((dynos[0]["name"].as_str(), dynos[0]["state"].as_str()), (Some("web.1"), Some("up")));
    assert_eq!(get_port(port, "/").await.status, 200, "web.1 keeps serving");

    // With the gate open again the same scale goes through and is stored.
    std::fs::write(&gate, "open").unwrap();
    s.ok("PATCH", "/v1/apps/gated/formation", Some(json!({ "web": 2 })), 200).await;
    assert_eq!(s.ok("GET", "/v1/apps/gated/formation", None, 200).await[0]["quantity"], 2);
    let names: Vec<String> = s.dynos("gated").await.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["web.1", "web.2"]);
    s.stop().await;
}

#[tokio::test]
async fn a_restarted_control_plane_runs_its_apps_again() {
    let mut s = start_with(|_| {}).await;
    s.ok("POST", "/v1/apps", Some(json!({ "name": "shop" })), 201).await;
    assert_eq!(s.deploy_dir("shop", &echo_app()).await.status, 201);
    s.ok("PATCH", "/v1/apps/shop/config", Some(json!({ "GREETING": "again" })), 200).await;
    let port = s.up_port("shop", "web.1").await;
    // Stopping stops the app's processes.
    let server = s.server.take().unwrap();
    let data = s.dir.path().to_owned();
    server.stop().await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the process is gone");

    let config = common::config(&data);
    config.validate().unwrap();
    let server = slipway_control::server::Server::start(config).await.unwrap();
    s.api = server.api_addr();
    s.server = Some(server);
    let port = s.up_port("shop", "web.1").await;
    let reply = get_port(port, "/").await.json();
    assert_eq!((reply["release"].as_str(), reply["greeting"].as_str()), (Some("v3"), Some("again")));
    s.stop().await;
}
