//! One-off dynos (`slipway run`), run with the real `slipway` binary against a real
//! control plane (and logd) on loopback: the exit status, the output (complete, in order,
//! each stream to its own), stdin, the release's config, detached runs, clients that go
//! away or go silent, and the limits.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cli::{self, Run};
use common::{TOKEN, TestServer, echo_app, start_with_logd};
use futures_util::{SinkExt, StreamExt};
use slipway_config::process_group::processes;
use slipway_tests::process::Process;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Runs `slipway args` against `s` with `stdin` as its standard input.
async fn slipway(s: &TestServer, args: &[&str], stdin: &[u8]) -> Run {
    cli::against(s, &[], args, stdin).await
}

/// `slipway run` as a [`Process`] whose lines can be awaited.
fn slipway_process(s: &TestServer, args: &[&str]) -> Process {
    let home = cli::home(s);
    let url = format!("http://{}", s.api);
    let env = [("SLIPWAY_API_URL", url.as_str()), ("SLIPWAY_TOKEN", TOKEN), ("HOME", home.to_str().unwrap())];
    Process::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_slipway")), args, &env)
}

/// A control plane with logd and the app `shop` deployed (the echo app).
async fn deployed(change: impl FnOnce(&mut slipway_control::Config)) -> TestServer {
    let s = start_with_logd(change).await;
    s.ok("POST", "/v1/apps", Some(serde_json::json!({ "name": "shop" })), 201).await;
    assert_eq!(s.deploy_dir("shop", &echo_app()).await.status, 201);
    s
}

/// Whether any process of group `group` is still alive.
fn group_alive(group: u32) -> bool {
    processes().iter().any(|p| p.group == group && !p.zombie)
}

/// Waits (polling, bounded) until process group `group` is gone.
async fn wait_group_gone(group: u32, what: &str) {
    slipway_tests::eventually(what, Duration::from_secs(30), async || (!group_alive(group)).then_some(())).await;
}

/// The one-off dynos `ps` lists.
async fn one_offs(s: &TestServer) -> Vec<serde_json::Value> {
    s.dynos("shop").await.into_iter().filter(|d| d["type"] == "run").collect()
}

#[tokio::test]
async fn run_exits_with_the_commands_exit_status_and_128_plus_the_signal() {
    let s = deployed(|_| {}).await;
    let run = slipway(&s, &["run", "-a", "shop", "--", "sh", "-c", "exit 3"], b"").await;
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (3, "", ""));
    let run = slipway(&s, &["run", "-a", "shop", "--", "true"], b"").await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    // Killed by a signal: 128 + N, as a shell says.
    let run = slipway(&s, &["run", "-a", "shop", "--", "sh", "-c", "kill -TERM $$"], b"").await;
    assert_eq!(run.code, 143, "{}", run.stderr);
    s.stop().await;
}

#[tokio::test]
async fn output_arrives_complete_and_in_order_with_stdout_on_stdout_and_stderr_on_stderr() {
    let s = deployed(|_| {}).await;
    // 20 MB in writes of 1 MB (1000 lines each), a stderr line before each: more than
    // the pipes, queues and socket buffers between the command and the terminal hold, and
    // the command exits at once after its last write.
    let script = "import os, sys\n\
                  for k in range(20):\n\
                  \x20   print(f'err {k * 1000}', file=sys.stderr, flush=True)\n\
                  \x20   sys.stdout.write(''.join(f'line {i} ' + 'x' * 1000 + '\\n' for i in range(k * 1000, k * 1000 + 1000)))\n\
                  \x20   sys.stdout.flush()\n\
                  os._exit(0)\n";
    let run = slipway(&s, &["run", "-a", "shop", "--", "python3", "-c", script], b"").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: Vec<String> = (0..20000).map(|i| format!("line {i} {}", "x".repeat(1000))).collect();
    let got: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(got.len(), expected.len(), "stdout lines");
    assert!(got.iter().zip(&expected).all(|(g, e)| g == e), "stdout out of order");
    let errors: Vec<String> = (0..20).map(|i| format!("err {}", i * 1000)).collect();
    assert_eq!(run.stderr.lines().collect::<Vec<_>>(), errors);
    s.stop().await;
}

#[tokio::test]
async fn stdin_reaches_the_command_and_its_end_closes_the_commands_stdin() {
    let s = deployed(|_| {}).await;
    let run = slipway(&s, &["run", "-a", "shop", "--", "cat"], b"hi\n").await;
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "hi\n", ""));
    // More than many frames and pipe buffers: all of it, then EOF (wc ends).
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let run = slipway(&s, &["run", "-a", "shop", "--", "wc", "-c"], &big).await;
    assert_eq!((run.code, run.stdout.trim()), (0, "300000"), "{}", run.stderr);
    s.stop().await;
}

#[tokio::test]
async fn the_command_sees_the_releases_config_vars_and_the_runs_own_env() {
    let s = deployed(|_| {}).await;
    s.ok("PATCH", "/v1/apps/shop/config", Some(serde_json::json!({ "GREETING": "Bonjour" })), 200).await;
    let run = slipway(
        &s,
        &["run", "-a", "shop", "-e", "EXTRA=1", "--", "echo $GREETING $EXTRA $DYNO $SLIPWAY_RELEASE $PORT."],
        b"",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let release = s.ok("GET", "/v1/apps/shop", None, 200).await["release"].as_u64().unwrap();
    assert!(run.stdout.starts_with("Bonjour 1 run."), "{}", run.stdout);
    assert!(run.stdout.ends_with(&format!(" v{release} .\n")), "no PORT for a one-off: {}", run.stdout);
    s.stop().await;
}

#[tokio::test]
async fn a_detached_run_shows_in_ps_its_output_goes_to_the_log_and_control_shutdown_stops_it() {
    let s = deployed(|_| {}).await;
    let mut logs = s.logs("shop", "&source=run").await;
    let run = slipway(
        &s,
        &["run", "--detach", "-a", "shop", "--", "sleep 300 & echo detached pid=$$; echo to-stderr >&2; wait"],
        b"",
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("Running `sleep 300 & echo detached pid=$$; echo to-stderr >&2; wait` on shop as run.")
    );
    let line = logs.wait_log("the detached run's stdout in logd", |l| l["stream"] == "stdout").await;
    let dyno = line["dyno"].as_str().unwrap().to_owned();
    assert!(dyno.starts_with("run."), "{line}");
    let pid: u32 = line["message"].as_str().unwrap().strip_prefix("detached pid=").unwrap().parse().unwrap();
    logs.wait_log("the detached run's stderr in logd", |l| l["stream"] == "stderr" && l["message"] == "to-stderr")
        .await;
    let listed = one_offs(&s).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["name"].as_str(), listed[0]["state"].as_str()), (Some(dyno.as_str()), Some("up")));
    let ps = slipway(&s, &["ps", "-a", "shop"], b"").await;
    assert!(ps.stdout.lines().any(|l| l.starts_with(&format!("{dyno} ")) && l.contains(" up ")), "{}", ps.stdout);
    assert!(group_alive(pid));
    // Stopping the control plane waits until every process, one-offs included, is gone.
    s.stop().await;
    assert!(!group_alive(pid), "the detached run's process group outlived the control plane");
}

#[tokio::test]
async fn a_client_that_disconnects_gets_its_command_and_its_process_group_stopped() {
    let s = deployed(|_| {}).await;
    let mut cli = slipway_process(&s, &["run", "-a", "shop", "--", "sleep 300 & echo attached pid=$$; wait"]);
    let line = cli.wait_for_line("attached pid=", Duration::from_secs(30)).await;
    let pid: u32 = line.trim().strip_prefix("attached pid=").unwrap().parse().unwrap();
    assert!(group_alive(pid));
    assert_eq!(one_offs(&s).await.len(), 1);
    cli.signal(9);
    cli.wait_exit(Duration::from_secs(10)).await;
    wait_group_gone(pid, "the disconnected run's process group is gone").await;
    slipway_tests::eventually("ps no longer lists it", Duration::from_secs(30), async || {
        one_offs(&s).await.is_empty().then_some(())
    })
    .await;
    s.stop().await;
}

/// Opens the WebSocket of an attached run started over the API.
async fn attach_raw(
    s: &TestServer,
    command: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let started =
        s.ok("POST", "/v1/apps/shop/dynos", Some(serde_json::json!({ "command": command, "attach": true })), 201).await;
    let url = format!("ws://{}{}", s.api, started["attach_url"].as_str().unwrap());
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The pid the command printed as `pid=N` first on stdout.
async fn first_pid(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> u32 {
    let bytes = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(bytes) => return bytes,
                // The server's Pings, when the command is slow to start.
                Message::Ping(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(bytes[0], 1, "stdout");
    String::from_utf8_lossy(&bytes[1..]).trim().strip_prefix("pid=").unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_silent_client_and_an_oversized_stdin_frame_get_the_command_stopped() {
    let s = deployed(|c| c.runtime.attach_idle_timeout = Duration::from_secs(3)).await;
    // Connected, then never read again: the Pings go unanswered.
    let mut silent = attach_raw(&s, "sleep 300 & echo pid=$$; wait").await;
    let pid = first_pid(&mut silent).await;
    wait_group_gone(pid, "the silent client's command is stopped").await;
    drop(silent);

    let mut ws = attach_raw(&s, "sleep 300 & echo pid=$$; wait").await;
    let pid = first_pid(&mut ws).await;
    let mut frame = vec![0u8];
    frame.resize(1 + 64 * 1024, b'x');
    let _ = ws.send(Message::Binary(frame.into())).await;
    // Read on (answering the Pings, so the client is not silent) until the server ends
    // the connection.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection is still open after an oversized frame");
    wait_group_gone(pid, "the oversized frame's command is stopped").await;
    s.stop().await;
}

#[tokio::test]
async fn a_run_whose_client_never_attaches_is_stopped() {
    let s = deployed(|c| c.runtime.attach_timeout = Duration::from_secs(1)).await;
    s.ok("POST", "/v1/apps/shop/dynos", Some(serde_json::json!({ "command": "sleep 300", "attach": true })), 201).await;
    assert_eq!(one_offs(&s).await.len(), 1);
    slipway_tests::eventually("the unattached run is stopped", Duration::from_secs(30), async || {
        one_offs(&s).await.is_empty().then_some(())
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn over_the_limit_and_without_a_release_a_run_is_refused_with_one_clear_line() {
    let s = deployed(|c| c.runtime.one_off_limit = 1).await;
    let first = slipway(&s, &["run", "--detach", "-a", "shop", "--", "sleep", "300"], b"").await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = slipway(&s, &["run", "-a", "shop", "--", "true"], b"").await;
    assert_eq!(
        (second.code, second.stdout.as_str(), second.stderr.as_str()),
        (
            1,
            "",
            "error: the app already runs 1 one-off dynos, the most it may (runtime.one_off_limit) (hint: wait for one \
             to end (`slipway ps` lists them) or raise runtime.one_off_limit in the control plane's config)\n"
        )
    );
    s.ok("POST", "/v1/apps", Some(serde_json::json!({ "name": "empty" })), 201).await;
    let none = slipway(&s, &["run", "-a", "empty", "--", "true"], b"").await;
    assert_eq!(
        (none.code, none.stdout.as_str(), none.stderr.as_str()),
        (
            1,
            "",
            "error: app \"empty\" has no code to run yet (release v1 has no slug) (hint: deploy code first: \
             `slipway deploy DIR --app APP`)\n"
        )
    );
    let reply = s.api("POST", "/v1/apps/shop/dynos", Some(serde_json::json!({ "command": " " }))).await;
    assert_eq!((reply.status.as_u16(), reply.json()["error"]["field"].as_str()), (400, Some("command")));
    s.stop().await;
}
