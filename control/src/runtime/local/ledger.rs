//! The processes the local runtime started and has not seen stop, recorded on disk so
//! that a control plane killed without a chance to stop them (SIGKILL, the OOM killer, a
//! power cut of the supervisor only) stops them on its next start instead of leaving them
//! running, holding ports and memory, next to the new ones.
//!
//! One file per process group in `<data_dir>/processes/`, named by the group id and
//! holding the leader's start time (clock ticks since boot, field 22 of
//! `/proc/<pid>/stat`). The start time guards against pid reuse: a leftover group is
//! signalled only if its leader is still the process we started, or, when the leader has
//! exited (a launcher that did not exec the app), if members of the group that started no
//! earlier than it are still alive (a group id cannot be reused while its group has
//! members). Linux only, like the rest of the local runtime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;

use slipway_config::process_group::{group_is_ours, proc_stat, processes, signal_group};

use super::process::wait_until;

/// The record of live process groups; see the module docs.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
}

impl Ledger {
    /// The ledger in `dir` (created if missing).
    pub fn open(dir: &Path) -> std::io::Result<Ledger> {
        std::fs::create_dir_all(dir)?;
        Ok(Ledger { dir: dir.to_owned() })
    }

    /// Records process group `group` (its leader just started). A failure to write is
    /// logged, not fatal: the process runs, it would only not be found after a crash.
    pub(crate) fn record(&self, group: u32) {
        let Some(started) = proc_stat(group).map(|s| s.started) else { return };
        if let Err(e) = std::fs::write(self.dir.join(group.to_string()), started.to_string()) {
            tracing::warn!(error = %e, dir = %self.dir.display(), "cannot record a process group");
        }
    }

    /// Forgets `group` (it was stopped and nothing of it is left).
    pub(crate) fn forget(&self, group: u32) {
        let _ = std::fs::remove_file(self.dir.join(group.to_string()));
    }

    /// Finds the groups a previous run left and stops them: SIGTERM to each group, then
    /// SIGKILL to what is left after `grace`. Returns how many groups were still running.
    /// O(entries × processes on the machine) for the scan, done once at start.
    pub async fn stop_leftovers(&self, grace: Duration) -> usize {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, dir = %self.dir.display(), "cannot read the process ledger");
                return 0;
            }
        };
        let recorded: Vec<(u32, u64)> = entries
            .flatten()
            .filter_map(|entry| {
                let group = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let started = std::fs::read_to_string(entry.path()).ok()?.trim().parse::<u64>().ok();
                let _ = std::fs::remove_file(entry.path());
                Some((group, started?))
            })
            .collect();
        if recorded.is_empty() {
            return 0;
        }
        let procs = processes();
        let alive: Vec<(u32, u64)> = recorded.into_iter().filter(|&(g, s)| group_is_ours(g, s, &procs)).collect();
        for &(group, _) in &alive {
            signal_group(group, Signal::TERM);
        }
        let deadline = tokio::time::Instant::now() + grace;
        let gone = || {
            let procs = processes();
            !alive.iter().any(|&(g, s)| group_is_ours(g, s, &procs))
        };
        if !wait_until(deadline, gone).await {
            let procs = processes();
            for &(group, _) in alive.iter().filter(|&&(g, s)| group_is_ours(g, s, &procs)) {
                signal_group(group, Signal::KILL);
            }
        }
        alive.len()
    }
}

#[cfg(test)]
mod tests;
