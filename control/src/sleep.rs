//! The sleeper: every `sleep.check_interval`, apps with a `sleep_after` setting that have
//! served no request for that long (as the routers' activity reports tell) are scaled to
//! zero. Their routes then carry `sleeping: true` and no endpoints, so a router holds the
//! next request and asks to wake the app ([`crate::platform::Platform::wake`]).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::platform::Platform;

/// Runs until `shutdown`.
pub async fn run(platform: Arc<Platform>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(platform.config.sleep.check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = platform.sleep_idle_apps().await {
            tracing::error!(error = %e, "checking for idle apps failed");
        }
    }
}
