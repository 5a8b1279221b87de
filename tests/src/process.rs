//! Running a real binary and following its output.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A child process whose stdout and stderr lines are collected.
pub struct Process {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    pub output: Vec<String>,
}

impl Process {
    /// Starts `program` with `args` and extra environment variables.
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
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
        Process { child, lines, output: Vec::new() }
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
}

/// Sends signal number `signal` to process `pid` (no `kill` program needed).
pub fn send_signal(pid: u32, signal: i32) -> std::io::Result<()> {
    use rustix::process::{Pid, Signal, kill_process};
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "no such pid or signal");
    let pid = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or_else(invalid)?;
    let signal = Signal::from_named_raw(signal).ok_or_else(invalid)?;
    kill_process(pid, signal).map_err(std::io::Error::from)
}
