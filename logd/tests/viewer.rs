//! The viewer page in a real browser: headless Chromium (Debian's) driven by
//! playwright-core opens `/apps/{app}`; a line sent after the page is live shows up; the
//! dyno filter, pause and resume work; and when logd restarts (with persistence) the page
//! reconnects, resumes, and shows new lines without repeating old ones.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use std::time::Duration;

use common::{Fwd, KEY, Time, config, message, record, start};
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
