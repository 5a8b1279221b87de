//! The whole platform end to end, with the real binaries: `slipway server` (control),
//! `slipway-router` following its route stream, `slipway-logd` receiving the apps'
//! output, and the echo app of `tests/fixtures/echo-app` (python3) deployed from a local
//! git repository; and `slipway up`, all three in one process.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use slipway_tests::platform::{ROUTER_TOKEN, Slipway, Up};
use slipway_tests::process::Process;
use slipway_tests::stream::{self, Stream};

/// Follows `app`'s logs on logd over SSE (history included), with extra query filters.
async fn follow_logs(s: &Slipway, app: &str, filters: &str) -> Stream {
    stream::app_logs(s.logd_http, app, &s.log_token(app).await, filters).await
}

fn message(line: &serde_json::Value) -> &str {
    line["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_git_deployed_app_is_served_by_host_and_follows_config_rollback_and_scale() {
    let s = Slipway::start().await;
    let release = s.deploy_echo("shop", json!({})).await;
    assert_eq!((release["version"].as_u64(), release["status"].as_str()), (Some(2), Some("succeeded")));
    assert_eq!(release["slug"]["source"]["kind"], "git");
    assert_eq!(release["slug"]["process_types"]["web"], "python3 app.py");

    // The route reaches the router over the stream.
    s.eventually("shop is served", async || s.get("shop", "/").await.status == 200).await;
    let reply = s.get("shop", "/hello").await.json();
    assert_eq!((reply["dyno"].as_str(), reply["release"].as_str()), (Some("web.1"), Some("v2")));
    assert_eq!(reply["path"], "/hello");

    // A config var makes a release, and the new process sees it.
    let changed = s.api_ok("PATCH", "/v1/apps/shop/config", Some(json!({ "GREETING": "hello" })), 200).await;
    assert_eq!(changed["release"]["version"], 3);
    assert_eq!(changed["release"]["description"], "Set GREETING");
    s.eventually("v3 serves", async || s.get("shop", "/").await.json()["release"] == "v3").await;
    assert_eq!(s.get("shop", "/").await.json()["greeting"], "hello");

    // Rollback to v2: a new release equal to v2, without the var.
    let rolled = s.api_ok("POST", "/v1/apps/shop/releases/rollback", Some(json!({ "version": 2 })), 201).await;
    assert_eq!((rolled["version"].as_u64(), rolled["description"].as_str()), (Some(4), Some("Rollback to v2")));
    s.eventually("v4 serves", async || s.get("shop", "/").await.json()["release"] == "v4").await;
    assert_eq!(s.get("shop", "/").await.json()["greeting"], serde_json::Value::Null);
    let v4 = s.api_ok("GET", "/v1/apps/shop/releases/4", None, 200).await;
    let v2 = s.api_ok("GET", "/v1/apps/shop/releases/2", None, 200).await;
    assert_eq!((&v4["slug"], &v4["config"]), (&v2["slug"], &v2["config"]));
    let versions: Vec<u64> = s
        .api_ok("GET", "/v1/apps/shop/releases", None, 200)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [4, 3, 2, 1]);

    // Two web processes both get traffic.
    let formation = s.api_ok("PATCH", "/v1/apps/shop/formation", Some(json!({ "web": 2 })), 200).await;
    assert_eq!(formation[0]["type"], "web");
    assert_eq!(formation[0]["quantity"], 2);
    let mut seen = BTreeSet::new();
    s.eventually("both web processes answer", async || {
        seen.insert(s.get("shop", "/").await.json()["dyno"].as_str().unwrap().to_owned());
        seen.len() == 2
    })
    .await;
    assert_eq!(seen, BTreeSet::from(["web.1".to_owned(), "web.2".to_owned()]));
    let dynos = s.api_ok("GET", "/v1/apps/shop/dynos", None, 200).await;
    let names: Vec<&str> = dynos.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web.1", "web.2"]);

    // Custom domains route too.
    s.api_ok("POST", "/v1/apps/shop/domains", Some(json!({ "hostname": "shop.example.test" })), 201).await;
    s.eventually("the custom domain routes", async || {
        slipway_tests::get(s.http, "shop.example.test", "/").await.status == 200
    })
    .await;

    // Destroying the app removes its route and stops its processes.
    s.api_ok("DELETE", "/v1/apps/shop", None, 204).await;
    s.eventually("shop is gone", async || s.get("shop", "/").await.status == 404).await;
    s.stop().await;
}

#[tokio::test]
async fn a_killed_dyno_is_restarted_and_the_crash_is_in_its_logs() {
    let s = Slipway::start().await;
    s.deploy_echo("crashy", json!({})).await;
    s.eventually("crashy is served", async || s.get("crashy", "/").await.status == 200).await;
    let mut logs = follow_logs(&s, "crashy", "").await;
    let pid = s.get("crashy", "/").await.json()["pid"].as_u64().unwrap();

    slipway_tests::process::send_signal(u32::try_from(pid).unwrap(), 9).unwrap();
    // The process is python3 itself, or a launcher's child (pyenv's shim does not exec):
    // then the launcher reports the kill as 128 + 9.
    let crash = logs
        .wait_log("the crash", |l| {
            l["source"] == "slipway"
                && ["Process was killed by SIGKILL", "Process exited with status 137"].contains(&message(l))
        })
        .await;
    assert_eq!(crash["dyno"], "web.1");
    logs.wait_log("the restart plan", |l| message(l).starts_with("State changed from up to crashed; restarting in"))
        .await;
    logs.wait_log("the restart", |l| message(l) == "Restarting (restart 1)").await;
    logs.wait_log("back up", |l| l["dyno"] == "web.1" && message(l).starts_with("State changed from starting to up"))
        .await;

    s.eventually("a new process answers", async || {
        let reply = s.get("crashy", "/").await;
        reply.status == 200 && reply.json()["pid"].as_u64() != Some(pid)
    })
    .await;
    let dynos = s.api_ok("GET", "/v1/apps/crashy/dynos", None, 200).await;
    assert_eq!((dynos[0]["state"].as_str(), dynos[0]["restarts"].as_u64()), (Some("up"), Some(1)));
    s.stop().await;
}

#[tokio::test]
async fn the_apps_output_arrives_over_logd_sse() {
    let s = Slipway::start().await;
    s.deploy_echo("chatty", json!({})).await;
    let mut logs = follow_logs(&s, "chatty", "").await;
    let started = logs
        .wait_log("the app's start-up line", |l| l["source"] == "app" && message(l).starts_with("listening on"))
        .await;
    assert_eq!((started["dyno"].as_str(), started["stream"].as_str()), (Some("web.1"), Some("stdout")));
    let release =
        logs.wait_log("the release event", |l| l["source"] == "slipway" && message(l) == "Release v2 is live").await;
    assert_eq!(release["dyno"], "");

    s.eventually("chatty is served", async || s.get("chatty", "/warm-up").await.status == 200).await;
    assert_eq!(s.get("chatty", "/over-sse").await.status, 200);
    let line = logs.wait_log("the request line", |l| message(l) == "request /over-sse by web.1").await;
    assert_eq!(
        (line["app"].as_str(), line["source"].as_str(), line["stream"].as_str()),
        (Some("chatty"), Some("app"), Some("stdout"))
    );

    // The router's line of a request is in the same stream, with the dyno that answered
    // and the request id the app got; the app's own line of it too (the two are sent by
    // different programs, so either may come first). Router lines keep request order.
    let mut ids = Vec::new();
    for n in 1..=2 {
        let id = format!("platform-lines-request-{n:08}");
        let req = http::Request::get(format!("/with-id-{n}"))
            .header("host", format!("chatty.{}", slipway_tests::platform::ZONE))
            .header("x-request-id", &id)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        assert_eq!(slipway_tests::send(s.http, req).await.unwrap().status, 200);
        ids.push(id);
    }
    let (mut app_lines, mut router_lines) = (Vec::new(), Vec::new());
    tokio::time::timeout(Duration::from_secs(30), async {
        while app_lines.len() < 2 || router_lines.len() < 2 {
            let line = logs
                .wait_log("the lines of the two requests", |l| {
                    // Router lines of the earlier requests (/warm-up, /over-sse) may come
                    // later than their apps' lines (batched): only these two count.
                    message(l).starts_with("request /with-id-")
                        || (l["source"] == "router" && message(l).contains(" path=\"/with-id-"))
                })
                .await;
            if line["source"] == "router" {
                router_lines.push(line);
            } else {
                app_lines.push(line);
            }
        }
    })
    .await
    .expect("both requests' app and router lines");
    assert_eq!(message(&app_lines[0]), "request /with-id-1 by web.1");
    for (n, (line, id)) in router_lines.iter().zip(&ids).enumerate() {
        let text = message(line);
        assert_eq!(line["dyno"], "web.1", "{line}");
        assert!(text.starts_with(&format!("at=info method=GET path=\"/with-id-{}\" ", n + 1)), "{text}");
        assert!(text.contains(&format!(" request_id={id} ")), "{text}");
        assert!(text.contains(" dyno=web.1 ") && text.contains(" status=200 "), "{text}");
    }
    assert!(router_lines[0]["seq"].as_u64() < router_lines[1]["seq"].as_u64());

    // The token reads this app only.
    let other = s.log_token("chatty").await;
    let refused = stream::open(s.logd_http, &format!("/v1/apps/someone-else/logs?token={other}"), &[]).await;
    assert_eq!(refused.status, 403);
    s.stop().await;
}

#[tokio::test]
async fn a_sleeping_app_is_woken_by_a_request_that_then_succeeds() {
    let s = Slipway::start().await;
    // The route stream tells when the app falls asleep: watch it as a router does.
    let mut routes =
        stream::sse(s.api, "/v1/routes?watch=true", &[("authorization", &format!("Bearer {ROUTER_TOKEN}"))]).await;
    assert_eq!(routes.status, 200);
    s.deploy_echo("nap", json!({ "sleep_after": "1s" })).await;
    s.eventually("nap is served", async || s.get("nap", "/").await.status == 200).await;

    let asleep = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = routes.next_data().await.expect("the route stream goes on");
            let data = event.json();
            if data["type"] == "upsert" && data["app"]["name"] == "nap" && data["app"]["options"]["sleeping"] == true {
                return data;
            }
        }
    })
    .await
    .expect("nap falls asleep");
    assert_eq!(asleep["app"]["endpoints"], json!([]));
    assert_eq!(s.api_ok("GET", "/v1/apps/nap/dynos", None, 200).await, json!([]));
    assert_eq!(s.api_ok("GET", "/v1/apps/nap", None, 200).await["sleeping"], true);

    // The router holds this request, wakes the app, then serves it.
    let started = Instant::now();
    let reply = s.get("nap", "/first-after-sleep").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["path"], "/first-after-sleep");
    let info = s.api_ok("GET", "/v1/apps/nap", None, 200).await;
    assert_eq!(info["sleeping"], false);
    let dynos = s.api_ok("GET", "/v1/apps/nap/dynos", None, 200).await;
    assert_eq!(dynos[0]["state"], "up");
    // Its router line says it woke the app, and how long that took.
    let mut logs = follow_logs(&s, "nap", "&source=router").await;
    let woken =
        logs.wait_log("the router line of the woken request", |l| message(l).contains("/first-after-sleep")).await;
    let text = message(&woken);
    assert!(text.starts_with("at=info code=S10 desc=\"Sleeping app woken\" wake="), "{text}");
    assert!(text.contains(" dyno=web.1 ") && text.contains(" status=200 "), "{text}");
    eprintln!("woken and served in {:?}", started.elapsed());
    s.stop().await;
}

#[tokio::test]
async fn a_release_switch_under_continuous_requests_loses_none() {
    let s = Arc::new(Slipway::start().await);
    s.deploy_echo("steady", json!({})).await;
    s.eventually("steady is served", async || s.get("steady", "/").await.status == 200).await;

    // Four clients, each request on a new connection, until told to stop (bounded).
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (s, stop, served) = (s.clone(), stop.clone(), served.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut releases = BTreeSet::new();
            let deadline = Instant::now() + Duration::from_secs(90);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let reply = s.get("steady", "/").await;
                if reply.status == 200 {
                    releases.insert(reply.json()["release"].as_str().unwrap().to_owned());
                    served.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(format!("{}: {}", reply.status, reply.text()));
                }
            }
            (failures, releases)
        }));
    }
    // Three switches: a config change, a new deploy of the same code, a restart.
    s.api_ok("PATCH", "/v1/apps/steady/config", Some(json!({ "GREETING": "one" })), 200).await;
    s.api_ok("PATCH", "/v1/apps/steady/config", Some(json!({ "GREETING": "two" })), 200).await;
    s.api_ok("POST", "/v1/apps/steady/dynos/restart", Some(json!({ "target": "web" })), 204).await;
    // Keep the load on while the old processes drain and stop: their "Stopped" lines on
    // logd are the events that say they are gone (platform events only: the requests'
    // lines would push them out of the tail).
    let mut logs = follow_logs(&s, "steady", "&source=slipway").await;
    for _ in 0..3 {
        logs.wait_log("an old process stops", |l| message(l).starts_with("Stopped (the process")).await;
    }
    let served_before = served.load(Ordering::Relaxed);
    s.eventually("requests flow after the last switch", async || served.load(Ordering::Relaxed) > served_before + 20)
        .await;
    stop.store(true, Ordering::Relaxed);

    let mut all_releases = BTreeSet::new();
    for client in clients {
        let (failures, releases) = client.await.unwrap();
        assert!(failures.is_empty(), "lost requests: {failures:?}");
        all_releases.extend(releases);
    }
    assert!(all_releases.contains("v2") && all_releases.contains("v4"), "saw {all_releases:?}");
    assert!(served.load(Ordering::Relaxed) > 100, "only {} requests", served.load(Ordering::Relaxed));
    Arc::try_unwrap(s).ok().expect("clients are done").stop().await;
}

/// A router that cannot follow the route stream during a release (its stream cut, its
/// reconnection held) still reports to the control plane, which keeps the old processes
/// running until that router has applied the routes without them: it never answers 502.
#[tokio::test]
async fn a_router_whose_route_stream_is_cut_during_a_release_keeps_getting_200s() {
    let s = Slipway::start().await;
    s.deploy_echo("tide", json!({})).await;
    s.eventually("tide is served", async || s.get("tide", "/").await.status == 200).await;
    let old_port: u16 = s.get("tide", "/").await.json()["port"].as_str().unwrap().parse().unwrap();

    s.control_relay.cut("GET /v1/routes");
    // The router's reconnection is held: from here on it cannot learn new routes.
    s.control_relay.wait_held().await;
    let changed = s.api_ok("PATCH", "/v1/apps/tide/config", Some(json!({ "GREETING": "new" })), 200).await;
    assert_eq!(changed["release"]["version"], 3);
    // v3 is live; the router still sends to v2's process. Without waiting for the router,
    // that process got SIGTERM after drain_delay (1 s here) and the router answered 502.
    // Keep requests going for four times that.
    let window = Instant::now() + Duration::from_secs(4);
    while Instant::now() < window {
        let reply = s.get("tide", "/").await;
        assert_eq!(reply.status, 200, "while the stream is cut: {}", reply.text());
        assert_eq!(reply.json()["release"], "v2");
    }

    // The router reconnects, applies v3's routes and says so; then the old process goes.
    s.control_relay.open();
    let mut releases = BTreeSet::new();
    s.eventually("v3 serves and the old process has stopped", async || {
        let reply = s.get("tide", "/").await;
        assert_eq!(reply.status, 200, "after the stream is back: {}", reply.text());
        releases.insert(reply.json()["release"].as_str().unwrap().to_owned());
        let old_gone = tokio::net::TcpStream::connect(("127.0.0.1", old_port)).await.is_err();
        reply.json()["release"] == "v3" && old_gone
    })
    .await;
    assert!(releases.contains("v3"), "{releases:?}");
    s.stop().await;
}

/// Waits for `slipway up`'s banner; the router's address from its app URL.
async fn banner(up: &mut Process) -> std::net::SocketAddr {
    let limit = Duration::from_secs(60);
    let app_line = up.wait_for_line("  App:   ", limit).await;
    up.wait_for_line("Ctrl-C stops everything.", limit).await;
    let url = app_line.trim().strip_prefix("App:").unwrap().trim().to_owned();
    let port: u16 = url.trim_end_matches('/').rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(url, format!("http://demo.reviewapp.localhost:{port}/"));
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// Stops `slipway up` with Ctrl-C (SIGINT) and checks it stopped cleanly.
async fn interrupt(mut up: Process) {
    up.signal(2);
    assert_eq!(up.wait_exit(Duration::from_secs(60)).await, Some(0), "{}", up.output.join("\n"));
    let stopped = up.output.iter().any(|l| l.contains("stopping: router, then every app's processes, then logd"));
    assert!(stopped, "{}", up.output.join("\n"));
}

#[tokio::test]
async fn slipway_up_starts_from_an_empty_data_dir_and_the_demo_app_answers() {
    let dirs = Up::new();
    let mut up = dirs.start(&[]);
    let router = banner(&mut up).await;
    let banner = up.output.join("\n");
    assert!(banner.contains("  Logs:  http://127.0.0.1:"), "{banner}");
    assert!(banner.contains("/apps/demo?token=slt1."), "{banner}");
    assert!(banner.contains("  API:   http://127.0.0.1:"), "{banner}");
    assert!(banner.contains("  Token: "), "{banner}");
    assert!(dirs.data.join("control.db").exists() && dirs.data.join("secrets.toml").exists());

    let page = slipway_tests::get(router, "demo.reviewapp.localhost", "/").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Hello from Slipway!"), "{}", page.text());

    // `up` saved the CLI's login: `slipway logs --app demo --tail` shows the next request live.
    let path = request_seen_live(&dirs, router).await;
    assert!(path.starts_with("/from-the-test-"), "{path}");
    interrupt(up).await;
}

/// Sends requests to the demo app until `slipway logs --tail` shows one; its path.
async fn request_seen_live(dirs: &Up, router: std::net::SocketAddr) -> String {
    let limit = Duration::from_secs(60);
    let mut logs = dirs.cli(&["logs", "--app", "demo", "--tail", "--num", "0"]);
    // No event tells when the stream is open: retry the request until its line shows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let path = format!("/from-the-test-{attempt}");
        assert_eq!(slipway_tests::get(router, "demo.reviewapp.localhost", &path).await.status, 200);
        let seen = tokio::time::timeout(
            Duration::from_millis(500),
            logs.wait_for_line(&format!("GET {path} HTTP/1.1"), limit),
        )
        .await;
        if let Ok(line) = seen {
            assert!(line.contains(" app[web.1]: 127.0.0.1 \"GET /from-the-test-"), "{line}");
            logs.signal(15);
            logs.wait_exit(limit).await;
            return path;
        }
        assert!(Instant::now() < deadline, "the request never showed in `slipway logs --tail`");
    }
}

/// A second start reuses the data and does not create the demo app again. Its router
/// gets the routes late here (the route stream's first event waits 5 s, a test seam):
/// the URLs are printed only once its table has the demo app, so a request sent as soon
/// as they are is held while the app starts again, and answered (before, it got the 404
/// "No such app" page). The apps' log history is on disk in the data directory, so the
/// lines from before the restart are still there.
#[tokio::test]
async fn a_restarted_slipway_up_serves_its_urls_at_once_and_keeps_the_log_history() {
    let dirs = Up::new();
    let mut up = dirs.start(&[]);
    let router = banner(&mut up).await;
    let before = request_seen_live(&dirs, router).await;
    interrupt(up).await;

    let mut again = dirs.start(&["--test-route-stream-delay", "5s"]);
    let router = banner(&mut again).await;
    let page = slipway_tests::get(router, "demo.reviewapp.localhost", "/").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let creations = again.output.iter().filter(|l| l.contains("App created")).count();
    assert_eq!(creations, 0, "{}", again.output.join("\n"));

    // This start's API is on another port than the saved login's: use the banner's.
    let mut logs = dirs.cli_of(&again, &["logs", "--app", "demo", "--num", "1000"]);
    assert_eq!(logs.wait_exit(Duration::from_secs(60)).await, Some(0), "{}", logs.output.join("\n"));
    let history = logs.output.join("\n");
    assert!(history.contains(&format!("\"GET {before} HTTP/1.1\"")), "no line from before the restart:\n{history}");
    assert!(dirs.data.join("logs").is_dir());
    interrupt(again).await;
}

/// A control plane killed without a chance to stop its apps (SIGKILL, the OOM killer) does
/// not leave their processes running next to new ones: its next start stops them, then
/// runs the apps again, and the router serves the new processes.
#[tokio::test]
async fn processes_left_by_a_killed_control_plane_are_stopped_on_its_next_start() {
    let mut s = Slipway::start().await;
    s.deploy_echo("orphan", json!({})).await;
    s.eventually("orphan is served", async || s.get("orphan", "/").await.status == 200).await;
    let pid = s.get("orphan", "/").await.json()["pid"].as_u64().unwrap() as u32;

    s.kill_and_restart_control().await;
    assert!(
        s.control.output.iter().any(|l| l.contains("stopped processes left running by a previous run")),
        "{}",
        s.control.output.join("\n")
    );
    assert!(!slipway_tests::platform::running(pid), "the old web process still runs");
    s.eventually("a new process answers", async || {
        let reply = s.get("orphan", "/").await;
        reply.status == 200 && reply.json()["pid"].as_u64() != Some(u64::from(pid))
    })
    .await;
    s.stop().await;
}
