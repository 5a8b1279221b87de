//! The `slipway-logd` binary: config file plus environment overrides, one clear error for a
//! bad config, clean shutdown on SIGTERM.
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::time::Duration;

use slipway_tests::process::Process;

const BIN: &str = env!("CARGO_BIN_EXE_slipway-logd");

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn starts_from_a_file_with_env_overrides_and_stops_on_sigterm() {
    let config = write_config(
        "log_format = \"json\"\n[listen]\nforward = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:1\"\n[auth]\nanonymous = true\n",
    );
    let path = config.path().to_str().unwrap();
    // The file's http address (port 1, not bindable) is overridden from the environment.
    let mut p = Process::spawn(
        std::path::Path::new(BIN),
        &["--config", path],
        &[("SLIPWAY_LOGD__LISTEN__HTTP", "127.0.0.1:0"), ("SLIPWAY_LOGD__WORKER_THREADS", "1")],
    );
    let started = p.wait_for_line("logd started", Duration::from_secs(20)).await;
    let http: std::net::SocketAddr = slipway_tests::platform::log_field(&started, "http").parse().unwrap();
    assert_ne!(http.port(), 1);
    assert_eq!(slipway_tests::get(http, "logd", "/healthz").await.text(), "ok\n");
    p.signal(15);
    assert_eq!(p.wait_exit(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test]
async fn a_bad_config_is_one_clear_error_naming_the_key() {
    let config = write_config("[listen]\nforward = \"24224\"\n");
    let mut p = Process::spawn(std::path::Path::new(BIN), &["--config", config.path().to_str().unwrap()], &[]);
    let line = p.wait_for_line("slipway-logd:", Duration::from_secs(20)).await;
    assert!(line.contains("listen.forward") && line.contains("\"24224\""), "{line}");
    assert_eq!(p.wait_exit(Duration::from_secs(20)).await, Some(2));

    let config = write_config("");
    let mut p = Process::spawn(
        std::path::Path::new(BIN),
        &["--config", config.path().to_str().unwrap()],
        &[("SLIPWAY_LOGD__HTTP__HEARTBEAT", "often")],
    );
    let line = p.wait_for_line("slipway-logd:", Duration::from_secs(20)).await;
    assert!(line.contains("SLIPWAY_LOGD__HTTP__HEARTBEAT") && line.contains("often"), "{line}");
    assert_eq!(p.wait_exit(Duration::from_secs(20)).await, Some(2));
}
