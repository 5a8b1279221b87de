//! A command run once to completion with a release's code and config: the release phase
//! (`release_phase.rs`) and one-off dynos (`one_off.rs`) both start theirs here, so they
//! get the same environment as the formation's processes (the inherited variables, the
//! config vars, `DYNO`, `SLIPWAY_APP`, `SLIPWAY_RELEASE`), their own process group,
//! recorded in the ledger, and leave nothing running behind them.

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Child;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::ledger::Ledger;
use super::process;
use crate::runtime::ReleasePlan;

/// Where the command's stdout and stderr go.
#[derive(Debug, Clone, Copy)]
pub(super) enum Io {
    /// Line by line to the logs, with this source; stdin is empty.
    Logged(&'static str),
    /// Piped, stdin included, for the caller to read and write.
    Piped,
}

/// A command started once; dropping it kills what is left of its process group and
/// forgets the group in the ledger.
#[derive(Debug)]
pub(super) struct Once {
    pub(super) child: Child,
    group: Option<u32>,
    ledger: Ledger,
}

/// How a command ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// It exited by itself.
    Exited(ExitStatus),
    /// It ran past its time limit and was stopped (how it then exited, if it could be
    /// waited for).
    TimedOut(Option<ExitStatus>),
    /// It was asked to stop and was stopped.
    Stopped(Option<ExitStatus>),
    /// It could not be waited for.
    Failed(std::io::Error),
}

impl Inner {
    /// Starts `command` for `release` of `app` as dyno `dyno` in the release's slug, with
    /// `extra` variables on top of the config vars.
    pub(super) fn start_once(
        &self,
        app: &str,
        release: &ReleasePlan,
        dyno: &str,
        command: &str,
        extra: &BTreeMap<String, String>,
        io: Io,
    ) -> std::io::Result<Once> {
        let mut env = self.inherited.clone();
        env.extend(release.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.insert("DYNO".into(), dyno.to_owned());
        env.insert("SLIPWAY_APP".into(), app.to_owned());
        env.insert("SLIPWAY_RELEASE".into(), format!("v{}", release.version));
        let (shell, cwd) = (&self.config.shell, &release.slug_dir);
        let child = match io {
            Io::Logged(source) => process::spawn(shell, command, cwd, &env, &self.logs, (app, dyno, source))?,
            Io::Piped => process::start(shell, command, cwd, &env, true)?,
        };
        let group = child.id();
        if let Some(group) = group {
            self.ledger.record(group);
        }
        Ok(Once { child, group, ledger: self.ledger.clone() })
    }
}

impl Once {
    /// Waits for the command to exit, for at most `limit` or until `stop` is cancelled;
    /// then stops it (SIGTERM to its group, SIGKILL after `grace`). Whatever it left
    /// running in its group is killed once it has ended, so its pipes close.
    pub(super) async fn wait(&mut self, limit: Duration, stop: &CancellationToken, grace: Duration) -> Ended {
        let ended = tokio::select! {
            status = self.child.wait() => match status {
                Ok(status) => Ended::Exited(status),
                Err(e) => Ended::Failed(e),
            },
            () = tokio::time::sleep(limit) => Ended::TimedOut(process::terminate(&mut self.child, grace).await.ok()),
            () = stop.cancelled() => Ended::Stopped(process::terminate(&mut self.child, grace).await.ok()),
        };
        if let Some(group) = self.group {
            process::kill_group(group);
        }
        ended
    }
}

impl Drop for Once {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            process::kill_group(group);
            self.ledger.forget(group);
        }
    }
}
