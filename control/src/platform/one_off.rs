//! One-off dynos (`slipway run`): a command run once with the app's live release (its
//! slug and config vars, add-on URLs included), next to the formation. The runtime runs
//! it (see `Runtime::run_one_off`); this checks the request and picks the release. It
//! takes no app lock: a release switch of minutes must not hold up a `run`, and the
//! one-off keeps the release it started with.

use super::config_vars::check_var;
use super::{Platform, PlatformError, invalid};
use crate::model::NewDyno;
use crate::runtime::{OneOff, RuntimeError, StartedOneOff};

/// Longest command accepted.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

impl Platform {
    /// Starts a one-off dyno of `name` running `new.command`.
    pub async fn run_one_off(&self, name: &str, new: NewDyno) -> Result<StartedOneOff, PlatformError> {
        let command = new.command.trim();
        if command.is_empty() {
            return Err(invalid("command", "must not be empty"));
        }
        if command.len() > MAX_COMMAND_BYTES || command.contains('\0') {
            return Err(invalid("command", format!("must be at most {MAX_COMMAND_BYTES} bytes, without NUL")));
        }
        for (key, value) in &new.env {
            check_var(key, Some(value)).map_err(|e| match e {
                PlatformError::Invalid { field, problem } => invalid(format!("env.{field}"), problem),
                other => other,
            })?;
        }
        let app = self.app_row(name).await?;
        let release = self.current_release(&app).await?;
        if release.slug.is_none() {
            return Err(PlatformError::NothingToRun(format!(
                "app {name:?} has no code to run yet (release v{} has no slug)",
                release.version
            )));
        }
        let plan = self.plan(&app, &release, std::collections::BTreeMap::new());
        let one_off = OneOff { command: command.to_owned(), env: new.env, attach: new.attach };
        self.runtime.run_one_off(&app.name, &plan.release, one_off).await.map_err(|e| match e {
            RuntimeError::OneOffLimit { .. } => PlatformError::Limit(e.to_string()),
            other => PlatformError::StartFailed(other.to_string()),
        })
    }
}
