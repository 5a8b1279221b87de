//! The release phase: the Procfile's `release` command, run once for a new release
//! before any of its processes start, with the release's code and config (add-ons' URLs
//! included). Its output goes to the app's log with source `release` (dyno `release`);
//! a non-zero exit, or running past `runtime.release_timeout`, fails the release, and
//! the previous one keeps serving.

use super::Inner;
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
        let mut env = self.inherited.clone();
        env.extend(release.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.insert("DYNO".into(), "release".into());
        env.insert("SLIPWAY_APP".into(), app.to_owned());
        env.insert("SLIPWAY_RELEASE".into(), format!("v{}", release.version));
        self.logs.event(app, "release", format!("Running release command `{command}` for v{}", release.version));
        let mut child = process::spawn(
            &self.config.shell,
            command,
            &release.slug_dir,
            &env,
            &self.logs,
            (app, "release", SOURCE_RELEASE),
        )
        .map_err(|e| failed(format!("the release command did not start: {e}")))?;
        let group = child.id();
        if let Some(group) = group {
            self.ledger.record(group);
        }
        let outcome = match tokio::time::timeout(self.config.release_timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(failed(format!("the release command {}", process::describe(status)))),
            Ok(Err(e)) => Err(failed(format!("waiting for the release command: {e}"))),
            Err(_) => {
                let _ = process::terminate(&mut child, self.config.stop_grace).await;
                Err(failed(format!(
                    "the release command ran longer than {} (runtime.release_timeout)",
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
            Ok(()) => self.logs.event(app, "release", format!("Release command for v{} succeeded", release.version)),
            Err(e) => self.logs.event(app, "release", e.to_string()),
        }
        outcome
    }
}
