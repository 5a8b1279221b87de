//! Helpers for Slipway's tests: real backends, real clients and real processes on
//! loopback. Nothing here mocks I/O: a backend is a hyper server on a free port, a client
//! speaks HTTP over a TCP socket, a process is the real binary.
//!
//! End-to-end tests that start several Slipway programs live in `tests/tests/`.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc, unreachable_pub, missing_debug_implementations)]

pub mod backend;
pub mod binaries;
pub mod client;
pub mod clients;
pub mod platform;
pub mod process;
pub mod raw;
pub mod relay;
pub mod servers;
pub mod stream;
pub mod tls;

pub use backend::Backend;
pub use client::{Reply, get, send};

/// Polls `check` every 20 ms until it gives a value, and returns it; panics after `limit`
/// naming `what`. Only for what no event can tell (a route change reaching a router over
/// a stream, a process's state seen from outside).
pub async fn eventually<T>(what: &str, limit: std::time::Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The value of a Prometheus sample in a `/metrics` text, e.g.
/// `slipway_router_retries_total{app="a"}`; 0 if absent.
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}
