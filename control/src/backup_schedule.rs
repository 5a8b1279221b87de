//! The backup scheduler: every `addons.backup_check_interval`, the add-ons whose plan has
//! a `backup_every` and whose last scheduled backup (as recorded, else their creation) is
//! that old are backed up, and their old backups pruned past the plan's `backup_keep`
//! ([`crate::platform::Platform::run_scheduled_backups`], which takes the time, so tests
//! drive it with any clock).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::clock;
use crate::platform::Platform;

/// Runs until `shutdown` (a backup running then is left to the next start, which marks
/// it failed).
pub async fn run(platform: Arc<Platform>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(platform.config.addons.backup_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let made = tokio::select! {
            () = shutdown.cancelled() => return,
            made = platform.run_scheduled_backups(clock::now_ms()) => made,
        };
        for failed in made.iter().filter_map(|m| m.as_ref().err()) {
            tracing::error!(error = %failed, "scheduled backup failed");
        }
    }
}
