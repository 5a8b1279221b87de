//! The release phase: the Procfile's `release` command, run once for a new release
//! before any of its processes start, with the release's code and config (add-ons' URLs
//! included). Its output goes to the app's log with source `release` (dyno `release`);
//! a non-zero exit, or running past `runtime.release_timeout`, fails the release, and
//! the previous one keeps serving.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::Inner;
use super::command::{Ended, Io};
use super::process;
use crate::logs::SOURCE_RELEASE;
use crate::runtime::{ReleasePlan, RuntimeError};

impl Inner {
    /// Runs `command` for `release` of `app` and waits for it.
    pub(super) async fn release_phase(
        &self,
        app: &str,
        release: &ReleasePlan,
        command: &str,
    ) -> Result<(), RuntimeError> {
        let failed = |reason: String| RuntimeError::ReleasePhaseFailed { version: release.version, reason };
        self.logs.event(app, "release", format!("Running release command `{command}` for v{}", release.version));
        let mut once = self
            .start_once(app, release, "release", command, &BTreeMap::new(), Io::Logged(SOURCE_RELEASE))
            .map_err(|e| failed(format!("the release command did not start: {e}")))?;
        let never = CancellationToken::new();
        let outcome = match once.wait(self.config.release_timeout, &never, self.config.stop_grace).await {
            Ended::Exited(status) if status.success() => Ok(()),
            Ended::Exited(status) => Err(failed(format!("the release command {}", process::describe(status)))),
            Ended::Failed(e) => Err(failed(format!("waiting for the release command: {e}"))),
            Ended::TimedOut(_) | Ended::Stopped(_) => Err(failed(format!(
                "the release command ran longer than {} (runtime.release_timeout)",
                crate::clock::human(self.config.release_timeout)
            ))),
        };
        // Whatever it left running in its group went with it; the group is forgotten.
        drop(once);
        match &outcome {
            Ok(()) => self.logs.event(app, "release", format!("Release command for v{} succeeded", release.version)),
            Err(e) => self.logs.event(app, "release", e.to_string()),
        }
        outcome
    }
}
