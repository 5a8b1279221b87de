//! The shipper: one task that takes every worker's batch each `lines.flush_interval` (or
//! sooner, when a batch is half full) and sends each as one Fluent forward message to
//! logd, waiting for its ack, with logd's own client (`slipway_logd::forward::client`).
//!
//! While logd cannot be reached the batches are left where they are: they fill up to
//! `lines.queue` and later lines are dropped and counted (`queue_full`), so what is sent
//! once logd is back is the oldest lines, in order. A batch logd does not acknowledge is
//! dropped and counted (`send_failed`), and the shipper reconnects with backoff
//! (`slipway_logd::forward::client::Reconnect`, shared with control's log shipper).

use slipway_logd::forward::client::{Entries, Reconnect};
use std::sync::Arc;

use super::Lines;

/// The tag of the router's forward messages (the records name their app).
const TAG: &str = "slipway";
/// The name the router gives in logd's handshake.
const HOSTNAME: &str = "slipway-router";

pub(super) async fn run(lines: Arc<Lines>) {
    let config = &lines.config;
    let metrics = &lines.metrics;
    let mut spare = Entries::default();
    let mut logd = Reconnect::new(config.logd, config.shared_key.clone(), HOSTNAME.to_owned(), "router lines");
    loop {
        let mut conn = logd.connect().await;
        logd.reset();
        'connected: loop {
            tokio::select! {
                () = lines.notify.notified() => {}
                () = tokio::time::sleep(config.flush_interval) => {}
            }
            for worker in lines.workers.iter() {
                worker.take(&mut spare);
                if spare.is_empty() {
                    continue;
                }
                let count = spare.len() as u64;
                let sent = conn.send_forward(TAG, &spare).await;
                spare.clear();
                match sent {
                    Ok(()) => metrics.lines_sent.inc_by(count),
                    Err(e) => {
                        metrics.lines_dropped.send_failed.inc_by(count);
                        tracing::warn!(logd = %config.logd, error = %e, lines = count, "router lines: logd did not take a batch; reconnecting");
                        break 'connected;
                    }
                }
            }
        }
        logd.pause().await;
    }
}
