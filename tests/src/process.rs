//! Running a real binary and following its output.
//!
//! A [`Process`] leads its own process group, and dropping it (a test that ends, or one
//! that panics) stops everything it caused: SIGTERM to the group, SIGKILL to what is left
//! after a grace period, and then, for a control plane (`slipway server`, `slipway up`)
//! whose data directory was named with [`Process::reap_ledger`], every group its process
//! ledger still records (the apps' dynos, each in its own group, that a control plane
//! killed without stopping them would leave running).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use slipway_config::process_group::{self, group_is_ours, processes};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long a dropped process gets between SIGTERM and SIGKILL: a control plane stops
/// its apps' processes in that time (their own grace is 5 s in the tests' configs).
const DROP_GRACE: Duration = Duration::from_secs(15);

/// A child process whose stdout and stderr lines are collected.
pub struct Process {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    pub output: Vec<String>,
    /// Its process group (its pid) and the leader's start time, while it may have members.
    group: Option<(u32, u64)>,
    /// Process ledgers (`<data_dir>/processes`) whose groups are stopped with it.
    ledgers: Vec<PathBuf>,
}

impl Process {
    /// Starts `program` with `args` and extra environment variables, in a process group
    /// of its own.
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let group = child.id().and_then(|pid| Some((pid, process_group::proc_stat(pid)?.started)));
        let (tx, lines) = mpsc::unbounded_channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Process { child, lines, output: Vec::new(), group, ledgers: Vec::new() }
    }

    /// Also stops, when this process is stopped or dropped, the process groups that the
    /// control plane's ledger in `data_dir` records (`<data_dir>/processes/<group>`,
    /// holding the leader's start time).
    pub fn reap_ledger(&mut self, data_dir: &Path) {
        self.ledgers.push(data_dir.join("processes"));
    }

    /// Hands the ledgers over: this process no longer stops what they record (a control
    /// plane started again on the same data directory takes them over).
    pub fn release_ledgers(&mut self) {
        self.ledgers.clear();
    }

    /// Waits for an output line containing `needle` and returns it; panics after `limit`
    /// or if the output ends first, showing what was printed.
    pub async fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let found = tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.recv().await {
                self.output.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no line containing {needle:?}; output so far:\n{}", self.output.join("\n")),
        }
    }

    /// Waits for an output line containing `needle`; None after `limit` or if the output
    /// ends first (the lines seen are in `output`).
    pub async fn try_wait_for_line(&mut self, needle: &str, limit: Duration) -> Option<String> {
        tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.recv().await {
                self.output.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// Sends a signal by number (15 = SIGTERM, 9 = SIGKILL, 2 = SIGINT) to the process.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("process is running");
        send_signal(pid, signal).unwrap_or_else(|e| panic!("kill -{signal} {pid} failed: {e}"));
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("process still running after {limit:?}; output:\n{}", self.output.join("\n")))
            .unwrap();
        // Collect what is left of the output: the pipes close when the process is gone.
        let rest = async {
            while let Some(line) = self.lines.recv().await {
                self.output.push(line);
            }
        };
        let _ = tokio::time::timeout(limit, rest).await;
        status.code()
    }

    /// Stops everything this process caused (see the module docs): its group with
    /// SIGTERM, then SIGKILL after `grace`; then the groups its ledgers still record, with
    /// SIGKILL. Blocking (it runs in `Drop`, also while a test panics); idempotent.
    pub fn stop_all(&mut self, grace: Duration) {
        if let Some((group, started)) = self.group {
            let deadline = Instant::now() + grace;
            let alive = || group_is_ours(group, started, &processes());
            if alive() {
                process_group::signal_group(group, Signal::TERM);
                while alive() && Instant::now() < deadline {
                    // Reaps the leader once it exits, so it is not counted as a member.
                    let _ = self.child.try_wait();
                    std::thread::sleep(Duration::from_millis(20));
                }
                if alive() {
                    process_group::signal_group(group, Signal::KILL);
                }
                let _ = self.child.try_wait();
            }
            self.group = None;
        }
        for ledger in std::mem::take(&mut self.ledgers) {
            let procs = processes();
            for (group, started) in recorded(&ledger) {
                if group_is_ours(group, started, &procs) {
                    process_group::signal_group(group, Signal::KILL);
                }
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop_all(DROP_GRACE);
    }
}

/// The groups a control plane's process ledger records: `(group, leader's start time)`.
pub fn recorded(ledger: &Path) -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir(ledger) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let group = entry.file_name().to_str()?.parse().ok()?;
            let started = std::fs::read_to_string(entry.path()).ok()?.trim().parse().ok()?;
            Some((group, started))
        })
        .collect()
}

/// Sends signal number `signal` to process `pid` (no `kill` program needed).
pub fn send_signal(pid: u32, signal: i32) -> std::io::Result<()> {
    use rustix::process::{Pid, kill_process};
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "no such pid or signal");
    let pid = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or_else(invalid)?;
    let signal = Signal::from_named_raw(signal).ok_or_else(invalid)?;
    kill_process(pid, signal).map_err(std::io::Error::from)
}
