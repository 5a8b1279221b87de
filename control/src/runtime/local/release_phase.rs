//! The release phase: the Procfile's `release` command, run once for a new release
//! before any of its processes start, with the release's code and config (add-ons' URLs
//! included). Its output goes to the app's log with source `release` (dyno `release`);
//! a non-zero exit, or running past `runtime.release_timeout`, fails the release, and
//! the previous one keeps serving.
//!
//! An app setup's `scripts.postdeploy` (from `app.json`) runs the same way, labelled
//! `postdeploy` ([`OneShot::POSTDEPLOY`]).

use super::Inner;
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
        let mut env = self.inherited.clone();
        env.extend(release.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.insert("DYNO".into(), dyno.into());
        env.insert("SLIPWAY_APP".into(), app.to_owned());
        env.insert("SLIPWAY_RELEASE".into(), format!("v{}", release.version));
        self.logs.event(app, dyno, format!("Running {what} `{command}` for v{}", release.version));
        let mut child =
            process::spawn(&self.config.shell, command, &release.slug_dir, &env, &self.logs, (app, dyno, source))
                .map_err(|e| failed(format!("the {what} did not start: {e}")))?;
        let group = child.id();
        if let Some(group) = group {
            self.ledger.record(group);
        }
        let outcome = match tokio::time::timeout(self.config.release_timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(failed(format!("the {what} {}", process::describe(status)))),
            Ok(Err(e)) => Err(failed(format!("waiting for the {what}: {e}"))),
            Err(_) => {
                let _ = process::terminate(&mut child, self.config.stop_grace).await;
                Err(failed(format!(
                    "the {what} ran longer than {} (runtime.release_timeout)",
                    crate::clock::human(self.config.release_timeout)
                )))
            }
        };
        if let Some(group) = group {
            // Whatever it left running in its group goes with it.
            process::kill_group(group);
            self.ledger.forget(group);
        }
        match &outcome {
            Ok(()) => self.logs.event(app, dyno, format!("The {what} for v{} succeeded", release.version)),
            Err(e) => self.logs.event(app, dyno, e.to_string()),
        }
        outcome
    }
}
