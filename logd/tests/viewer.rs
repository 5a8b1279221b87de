//! The viewer page in a real browser: headless Chromium (Debian's) driven by
//! playwright-core opens `/apps/{app}`, and a line sent after the page is live shows up.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;

use std::time::Duration;

use common::{Fwd, KEY, Time, config, message, record, start};
use slipway_logd::token::{Claims, Signer};

#[tokio::test]
async fn the_viewer_shows_a_line_sent_after_the_page_loaded() {
    let mut c = config();
    c.auth.anonymous = false;
    let logd = start(c).await;
    let mut fwd = Fwd::connect(logd.forward_addr()).await;
    fwd.send(&message(
        "t",
        Time::Int(1_795_428_000),
        &record("shop", "an older line", &[("dyno", "web.1")]),
        &[("chunk", "0")],
    ))
    .await;
    fwd.expect_ack("0").await;

    let token = Signer::new(KEY.as_bytes()).unwrap().sign(&Claims::for_app("shop", Duration::from_secs(300)));
    let url = format!("http://{}/apps/shop?token={token}", logd.http_addr());
    let page = slipway_tests::client::get(logd.http_addr(), "logd", "/apps/shop").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));

    let shot = std::env::var("SLIPWAY_VIEWER_SCREENSHOT").unwrap_or_default();
    let mut browser = slipway_tests::clients::node("viewer.cjs", &[&url, "sent after the page loaded", &shot]);
    browser.wait_for_line("READY", Duration::from_secs(60)).await;
    fwd.send(&message(
        "t",
        Time::Int(1_795_428_001),
        &record("shop", "sent after the page loaded", &[("dyno", "worker.2")]),
        &[("chunk", "1")],
    ))
    .await;
    fwd.expect_ack("1").await;
    browser.wait_for_line("SEEN", Duration::from_secs(60)).await;
    assert_eq!(browser.wait_exit(Duration::from_secs(30)).await, Some(0), "{}", browser.output.join("\n"));
    assert!(!browser.output.iter().any(|l| l.starts_with("PAGEERROR")), "{}", browser.output.join("\n"));
    logd.stop().await;
}
