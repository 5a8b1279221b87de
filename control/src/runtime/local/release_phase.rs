//! The release phase: the Procfile's `release` command, run once for a new release
//! before any of its processes start, with the release's code and config (add-ons' URLs
//! included). Its output goes to the app's log with source `release` (dyno `release`);
//! a non-zero exit, or running past `runtime.release_timeout`, fails the release, and
//! the previous one keeps serving.
//!
//! An app setup's `scripts.postdeploy` (from `app.json`) runs the same way, labelled
//! `postdeploy` ([`OneShot::POSTDEPLOY`]).

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::Inner;
use super::command::{Ended, Io};
use super::process;
use crate::logs::{SOURCE_POSTDEPLOY, SOURCE_RELEASE};
use crate::runtime::{ReleasePlan, RuntimeError};

/// What a one-shot command of a release is called in its environment (`DYNO`), its log
/// lines and its errors.
#[derive(Debug)]
pub(super) struct OneShot {
    /// `DYNO` and the log lines' dyno.
    dyno: &'static str,
    /// The log lines' source.
    source: &'static str,
    /// `release command`, in messages.
    what: &'static str,
    /// The error for release `version` failing with `reason`.
    failed: fn(u64, String) -> RuntimeError,
}

impl OneShot {
    /// The Procfile's `release` command.
    pub(super) const RELEASE: OneShot = OneShot {
        dyno: "release",
        source: SOURCE_RELEASE,
        what: "release command",
        failed: |version, reason| RuntimeError::ReleasePhaseFailed { version, reason },
    };
    /// An app setup's `scripts.postdeploy`.
    pub(super) const POSTDEPLOY: OneShot = OneShot {
        dyno: "postdeploy",
        source: SOURCE_POSTDEPLOY,
        what: "postdeploy script",
        failed: |version, reason| RuntimeError::PostdeployFailed { version, reason },
    };
}

impl Inner {
    /// Runs `command` for `release` of `app` as `job` and waits for it.
    pub(super) async fn release_phase(
        &self,
        app: &str,
        release: &ReleasePlan,
        command: &str,
        job: &OneShot,
    ) -> Result<(), RuntimeError> {
        let OneShot { dyno, source, what, failed } = *job;
        let failed = |reason: String| failed(release.version, reason);
        self.logs.event(app, dyno, format!("Running {what} `{command}` for v{}", release.version));
        let mut once = self
            .start_once(app, release, dyno, command, &BTreeMap::new(), Io::Logged(source))
            .map_err(|e| failed(format!("the {what} did not start: {e}")))?;
        let never = CancellationToken::new();
        let outcome = match once.wait(self.config.release_timeout, &never, self.config.stop_grace).await {
            Ended::Exited(status) if status.success() => Ok(()),
            Ended::Exited(status) => Err(failed(format!("the {what} {}", process::describe(status)))),
            Ended::Failed(e) => Err(failed(format!("waiting for the {what}: {e}"))),
            Ended::TimedOut(_) | Ended::Stopped(_) => Err(failed(format!(
                "the {what} ran longer than {} (runtime.release_timeout)",
                crate::clock::human(self.config.release_timeout)
            ))),
        };
        // Whatever it left running in its group went with it; the group is forgotten.
        drop(once);
        match &outcome {
            Ok(()) => self.logs.event(app, dyno, format!("The {what} for v{} succeeded", release.version)),
            Err(e) => self.logs.event(app, dyno, e.to_string()),
        }
        outcome
    }
}
