//! The viewer page in a real browser: headless Chromium (Debian's) driven by
//! playwright-core opens `/apps/{app}`; a line sent after the page is live shows up; the
//! dyno filter, pause and resume work; and when logd restarts (with persistence) the page
//! reconnects, resumes, and shows new lines without repeating old ones. Through a proxy
//! the test controls (it can stall the stream or cut the connection), the source and
//! text filters, and the dropped and gap markers, are checked in the page too.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use std::time::Duration;

use common::{Fwd, KEY, Time, config, message, metric, record, send_buffer_max, start};
use slipway_logd::token::{Claims, Signer};

const STEP: Duration = Duration::from_secs(60);

async fn send(logd: &slipway_logd::Logd, msg: &str, dyno: &str, chunk: &str) {
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message("t", Time::Int(1_795_428_000), &record("shop", msg, &[("dyno", dyno)]), &[("chunk", chunk)]))
        .await;
    fwd.expect_ack(chunk).await;
}

#[tokio::test]
async fn the_viewer_shows_new_lines_filters_pauses_and_resumes_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed port, so the page finds logd again after the restart.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = config();
    c.auth.anonymous = false;
    c.listen.http = format!("127.0.0.1:{port}").parse().unwrap();
    c.persistence.dir = Some(dir.path().to_owned());
    let logd = start(c.clone()).await;
    send(&logd, "an older line", "web.1", "0").await;

    let token = Signer::new(KEY.as_bytes()).unwrap().sign(&Claims::for_app("shop", Duration::from_secs(300)));
    let url = format!("http://{}/apps/shop?token={token}", logd.http_addr());
    let page = slipway_tests::client::get(logd.http_addr(), "logd", "/apps/shop").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));

    let shot = std::env::var("SLIPWAY_VIEWER_SCREENSHOT").unwrap_or_default();
    let mut browser = slipway_tests::clients::node("viewer.cjs", &[&url, "sent after the page loaded", &shot]);
    browser.wait_for_line("READY", STEP).await;
    send(&logd, "sent after the page loaded", "worker.2", "1").await;
    browser.wait_for_line("SEEN", STEP).await;
    browser.wait_for_line("FILTERED", STEP).await;
    browser.wait_for_line("PAUSED", STEP).await;
    send(&logd, "sent while paused", "web.2", "2").await;
    browser.wait_for_line("RESUMED", STEP).await;

    logd.stop().await;
    browser.wait_for_line("DISCONNECTED", STEP).await;
    let logd = start(c).await;
    browser.wait_for_line("RECONNECTED", STEP).await;
    send(&logd, "sent after the restart", "web.1", "3").await;
    let done = browser.wait_for_line("DONE", STEP).await;
    assert_eq!(done, "DONE 4", "every line once: {}", browser.output.join("\n"));
    assert_eq!(browser.wait_exit(Duration::from_secs(30)).await, Some(0), "{}", browser.output.join("\n"));
    assert!(!browser.output.iter().any(|l| l.starts_with("PAGEERROR")), "{}", browser.output.join("\n"));
    logd.stop().await;
}

/// What the proxy between the browser and logd does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Open,
    /// Stops reading from logd (logd's writes back up, as with a slow network).
    Stalled,
    /// Closes every connection, and each new one at once.
    Down,
}

/// A TCP proxy on a loopback port in front of `upstream`, switched by `mode`.
async fn proxy(upstream: std::net::SocketAddr, mode: tokio::sync::watch::Receiver<Mode>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            if *mode.borrow() == Mode::Down {
                continue;
            }
            tokio::spawn(forward(client, upstream, mode.clone()));
        }
    });
    addr
}

async fn forward(
    client: tokio::net::TcpStream,
    upstream: std::net::SocketAddr,
    mut mode: tokio::sync::watch::Receiver<Mode>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A fixed 64 KiB receive buffer (no autotuning): a stalled stream backs up into logd soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    let Ok(up) = socket.connect(upstream).await else { return };
    let ((mut client_rx, mut client_tx), (mut up_rx, mut up_tx)) = (client.into_split(), up.into_split());
    let mut down = mode.clone();
    let to_logd = async move {
        let mut buf = vec![0u8; 16 << 10];
        while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
            if up_tx.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let to_browser = async move {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let current = *mode.borrow_and_update();
            match current {
                Mode::Down => return,
                Mode::Stalled => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
                Mode::Open => tokio::select! {
                    read = up_rx.read(&mut buf) => match read {
                        Ok(n @ 1..) => if client_tx.write_all(&buf[..n]).await.is_err() { return },
                        _ => return,
                    },
                    changed = mode.changed() => if changed.is_err() { return },
                },
            }
        }
    };
    let cut = async move {
        let _ = down.wait_for(|m| *m == Mode::Down).await;
    };
    tokio::select! {
        () = to_logd => {}
        () = to_browser => {}
        () = cut => {}
    }
}

/// Sends `lines` (source, message) for `shop` in one frame and waits for the ack.
async fn send_lines(logd: &slipway_logd::Logd, lines: &[(&str, &str)], chunk: &str) {
    let entries: Vec<(Time, Vec<u8>)> = lines
        .iter()
        .map(|(source, msg)| (Time::Int(1_795_428_000), record("shop", msg, &[("dyno", "web.1"), ("source", source)])))
        .collect();
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&common::packed("t", &entries, &[("chunk", chunk)])).await;
    fwd.expect_ack(chunk).await;
}

#[tokio::test]
async fn the_viewer_filters_by_source_and_text_and_shows_dropped_and_gap_markers() {
    let mut c = config();
    c.http.subscriber_queue = 16;
    c.history.max_lines_per_app = 100;
    let logd = start(c).await;
    let (mode, mode_rx) = tokio::sync::watch::channel(Mode::Open);
    let front = proxy(logd.http_addr(), mode_rx).await;
    let mut browser = slipway_tests::clients::node("viewer-markers.cjs", &[&format!("http://{front}/apps/shop")]);
    let output = |b: &slipway_tests::process::Process| b.output.join("\n");

    browser.wait_for_line("READY", STEP).await;
    send_lines(
        &logd,
        &[
            ("app", "GET /cart 200"),
            ("build", "compiling assets"),
            ("app", "GET /checkout 500"),
            ("build", "build failed: 500 errors"),
        ],
        "four",
    )
    .await;
    browser.wait_for_line("FILTERED", STEP).await;
    send_lines(&logd, &[("app", "GET /live 500"), ("app", "GET /live 200")], "live").await;
    browser.wait_for_line("LIVE-FILTERED", STEP).await;

    // Stall the page's stream while a burst fills logd's send buffer and the page's queue
    // twice over (8 KiB lines, one per frame: one queue slot each), then let it flow.
    mode.send_replace(Mode::Stalled);
    let big = "x".repeat(8 * 1024);
    let burst = 2 * (send_buffer_max() + (128 << 10)) / big.len() + 500;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    for i in 0..burst {
        let chunk = format!("b{i}");
        fwd.send(&message(
            "t",
            Time::Int(1_795_428_000),
            &record("shop", &format!("burst {i} {big}"), &[]),
            &[("chunk", &chunk)],
        ))
        .await;
        fwd.expect_ack(&chunk).await;
    }
    send_lines(&logd, &[("app", "end of the burst")], "end").await;
    mode.send_replace(Mode::Open);
    let line = browser.wait_for_line("DROPPED", STEP).await;
    let dropped: usize = line.trim_start_matches("DROPPED ").parse().unwrap();
    assert!(dropped > 0 && dropped < burst, "{line}");
    let last_seen = 6 + burst + 1; // the sequence number of "end of the burst"

    // Cut the page off while more lines arrive than history keeps, then let it back.
    mode.send_replace(Mode::Down);
    browser.wait_for_line("DISCONNECTED", STEP).await;
    let gone: Vec<String> = (0..150).map(|i| format!("while away {i}")).collect();
    let mut away: Vec<(&str, &str)> = gone.iter().map(|m| ("app", m.as_str())).collect();
    away.push(("app", "after the gap"));
    send_lines(&logd, &away, "away").await;
    mode.send_replace(Mode::Open);
    // History keeps the newest 100 of the 151: the first 51 after the page's last line are gone.
    let gap = browser.wait_for_line("GAP", STEP).await;
    assert_eq!(
        gap,
        format!("GAP — lines {}–{} are no longer in history —", last_seen + 1, last_seen + 51),
        "{}",
        output(&browser)
    );
    let done = browser.wait_for_line("DONE", STEP).await;
    assert_eq!(
        done,
        format!("DONE {}", 6 + (burst - dropped) + 1 + 100),
        "every line once, or counted as dropped: {}",
        output(&browser)
    );
    assert_eq!(browser.wait_exit(Duration::from_secs(30)).await, Some(0), "{}", output(&browser));
    assert!(!browser.output.iter().any(|l| l.starts_with("PAGEERROR")), "{}", output(&browser));
    assert_eq!(metric(&logd, "slipway_logd_subscriber_dropped_lines_total"), dropped as f64);
    logd.stop().await;
}
