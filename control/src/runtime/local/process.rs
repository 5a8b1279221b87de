//! One OS process of a dyno: started as `<shell> -c <command>` in its own process group
//! (so a signal reaches the app and everything it started; bash, the default shell, execs
//! the command's program so the app itself is the leader), with a clean environment;
//! its stdout and stderr pumped line by line to the log sink; stopped with SIGTERM to the
//! group, then SIGKILL after the grace period.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::Signal;
use slipway_config::process_group::{self, processes};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

use crate::logs::LogSink;

/// Longest line sent as one record; longer lines are split.
const MAX_LINE: usize = 16 * 1024;

/// Starts `command` and the pumps of its output, logged as (app, dyno, source).
pub(crate) fn spawn(
    shell: &Path,
    command: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    logs: &LogSink,
    (app, dyno, source): (&str, &str, &'static str),
) -> std::io::Result<Child> {
    let mut child = start(shell, command, cwd, env, false)?;
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(pump(stdout, logs.clone(), (app.to_owned(), dyno.to_owned(), source), "stdout"));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(pump(stderr, logs.clone(), (app.to_owned(), dyno.to_owned(), source), "stderr"));
    }
    Ok(child)
}

/// Starts `command` with its stdout and stderr piped (and its stdin when `stdin`), for the
/// caller to read: [`spawn`] pumps them to the logs, an attached one-off dyno also to its
/// client.
pub(crate) fn start(
    shell: &Path,
    command: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    stdin: bool,
) -> std::io::Result<Child> {
    Command::new(shell)
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .process_group(0)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // If control dies without stopping it, the leader at least goes with the handle.
        .kill_on_drop(true)
        .spawn()
}

/// Sends `signal` to the child's process group; false if it is already gone.
pub(crate) fn signal_group(child: &Child, signal: Signal) -> bool {
    child.id().is_some_and(|pgid| process_group::signal_group(pgid, signal))
}

/// Kills what is left of a process group whose leader has exited.
pub(crate) fn kill_group(pgid: u32) {
    process_group::signal_group(pgid, Signal::KILL);
}

/// SIGTERM to the group, SIGKILL after `grace`; returns how the leader exited.
///
/// The leader may be a launcher that does not exec the app (a version manager's shim,
/// `npm start`, a shell script): it may exit at once while the app, which got the SIGTERM
/// too, is still finishing its requests. So the whole group gets the grace period, as on
/// Heroku, not just the leader.
pub(crate) async fn terminate(child: &mut Child, grace: Duration) -> std::io::Result<ExitStatus> {
    let pgid = child.id();
    let deadline = tokio::time::Instant::now() + grace;
    signal_group(child, Signal::TERM);
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            signal_group(child, Signal::KILL);
            child.wait().await?
        }
    };
    if let Some(pgid) = pgid {
        wait_until(deadline, || !processes().iter().any(|p| p.group == pgid && !p.zombie)).await;
        // Whatever is left goes now.
        kill_group(pgid);
    }
    Ok(status)
}

/// Polls `done` until it holds or `deadline` passes: no event says that a process group
/// is empty (only used while stopping). Returns whether it holds.
pub(crate) async fn wait_until(deadline: tokio::time::Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `exited with status 1` or `was killed by SIGKILL`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by {}", signal_name(signal)),
        (None, None) => "exited".to_owned(),
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// Reads `reader` to the end, sending each line (split at `MAX_LINE`) to the logs.
/// `tag` is the records' (app, dyno, source).
async fn pump(
    mut reader: impl AsyncRead + Unpin,
    logs: LogSink,
    tag: (String, String, &'static str),
    stream: &'static str,
) {
    let mut lines = Lines::new(logs, tag, stream);
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        lines.feed(&buf[..n]);
    }
}

/// Cuts a stream of output into log records: one per line (without its `\n` or `\r\n`),
/// lines longer than `MAX_LINE` split; what is left without a newline at the end is sent
/// when it is dropped.
pub(crate) struct Lines {
    logs: LogSink,
    /// The records' (app, dyno, source).
    tag: (String, String, &'static str),
    stream: &'static str,
    pending: Vec<u8>,
}

impl Lines {
    /// Lines of `stream` (`stdout`, `stderr`) logged as `tag`, (app, dyno, source).
    pub(crate) fn new(logs: LogSink, tag: (String, String, &'static str), stream: &'static str) -> Lines {
        Lines { logs, tag, stream, pending: Vec::with_capacity(1024) }
    }

    /// Sends the lines `bytes` completes. O(bytes).
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.emit();
            } else {
                self.pending.push(byte);
                if self.pending.len() >= MAX_LINE {
                    self.emit();
                }
            }
        }
    }

    fn emit(&mut self) {
        let line = &mut self.pending;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let (app, dyno, source) = &self.tag;
        self.logs.line(app, dyno, source, self.stream, String::from_utf8_lossy(line).into_owned());
        line.clear();
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}
