//! Bringing ejected endpoints back.
//!
//! An endpoint is ejected by the request path after `upstream.eject_after_failures`
//! consecutive connect failures (`upstream/endpoint.rs`). Ejection starts one probe task,
//! on the control runtime: it waits `eject_backoff`, tries a TCP connect, and on success
//! puts the endpoint back into rotation; on failure it doubles the wait (up to
//! `eject_backoff_max`) and tries again. The probe holds only a weak reference, so it
//! ends by itself when the endpoint leaves the table.

use std::sync::Arc;

use crate::config::Config;
use crate::upstream::endpoint::Endpoint;

/// Starts probing an endpoint that was just ejected, on `runtime` (the control runtime's).
pub(crate) fn spawn_probe(runtime: &tokio::runtime::Handle, config: &Config, endpoint: &Arc<Endpoint>) {
    let weak = Arc::downgrade(endpoint);
    let upstream = &config.upstream;
    let (mut wait, max_wait) = (upstream.eject_backoff, upstream.eject_backoff_max);
    let connect_timeout = config.timeouts.connect;
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(wait).await;
            let Some(addr) = weak.upgrade().map(|e| e.addr.clone()) else { return };
            let reached = tokio::time::timeout(connect_timeout, crate::upstream::pool::tcp_connect(&addr)).await;
            if let Ok(Ok(_stream)) = reached {
                if let Some(endpoint) = weak.upgrade() {
                    endpoint.restore();
                    tracing::info!(endpoint = %addr, "endpoint answers again; back in rotation");
                }
                return;
            }
            tracing::debug!(endpoint = %addr, next_probe_in = ?wait.saturating_mul(2).min(max_wait), "endpoint still unreachable");
            wait = wait.saturating_mul(2).min(max_wait);
        }
    });
}
