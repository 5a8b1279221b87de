//! Process groups on Linux, seen from `/proc` and signalled as a whole: the local runtime
//! runs each dyno in its own group and stops it so, its process ledger finds groups a
//! killed control plane left, and the test helpers stop every group they caused.
//!
//! `kill(-pgid, 0)` cannot tell a live group from one of zombies nobody reaps, and a bare
//! pgid may be reused; [`ProcStat`] gives each process's group, start time and state, and
//! [`group_is_ours`] says whether the group started at a known time still has members.

use rustix::process::{Pid, Signal, kill_process_group};

/// A process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Its pid.
    pub pid: u32,
    /// Its process group.
    pub group: u32,
    /// Clock ticks since boot when it started.
    pub started: u64,
    /// Exited, not yet reaped.
    pub zombie: bool,
}

/// Every process on the machine. O(processes).
pub fn processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok().and_then(proc_stat)).collect()
}

/// `/proc/<pid>/stat`: `pid (comm) state ppid pgrp session tty_nr tpgid flags minflt
/// cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
/// starttime ...`; comm may hold spaces and parentheses. None if there is no such process.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        zombie: *fields.first()? == "Z",
        group: fields.get(2)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

/// Whether `pid` runs (exists and is not a zombie).
pub fn running(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|p| !p.zombie)
}

/// Whether live members of the group whose leader `group` started at `started` remain:
/// members that started no earlier than the leader, unless the leader's pid now belongs
/// to a process that started at another time (the group id was reused: a group id cannot
/// be reused while its group has members). A leader that exited (or is a zombie) while
/// members it started run still counts as ours.
pub fn group_is_ours(group: u32, started: u64, procs: &[ProcStat]) -> bool {
    if procs.iter().any(|p| p.pid == group && p.started != started) {
        return false;
    }
    procs.iter().any(|p| p.group == group && p.started >= started && !p.zombie)
}

/// Sends `signal` to process group `pgid` (the pid of its leader, even after the leader
/// exited); false if the group is gone.
pub fn signal_group(pgid: u32, signal: Signal) -> bool {
    i32::try_from(pgid).ok().and_then(Pid::from_raw).is_some_and(|pid| kill_process_group(pid, signal).is_ok())
}

#[cfg(test)]
mod tests;
