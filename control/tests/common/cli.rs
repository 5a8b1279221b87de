//! Runs the real `slipway` binary as a user would: a private HOME, nothing inherited from
//! the test's environment that changes what it does, stdin written alongside (a command
//! that does not read it must not block the test), bounded in time.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{TOKEN, TestServer};

/// Variables of the test's own environment that would change what `slipway` or the
/// clients it starts do.
const CLEARED: [&str; 9] = [
    "SLIPWAY_API_URL",
    "SLIPWAY_TOKEN",
    "SLIPWAY_APP",
    "XDG_CONFIG_HOME",
    "BROWSER",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "PGPASSWORD",
    "REDISCLI_AUTH",
];

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `slipway args` with HOME = `home`, `env` set and `stdin` as its standard input.
pub async fn run(home: &Path, env: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"));
    command.args(args).env("HOME", home);
    for var in CLEARED {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&stdin).await;
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    writer.abort();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Run { code: output.status.code().unwrap_or(-1), stdout: text(&output.stdout), stderr: text(&output.stderr) }
}

/// The HOME of the test server's CLI user (created on first use).
pub fn home(s: &TestServer) -> std::path::PathBuf {
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    home
}

/// Runs `slipway args` against `s` as its admin, with `extra` variables and `stdin`.
pub async fn against(s: &TestServer, extra: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Run {
    let url = format!("http://{}", s.api);
    let mut env = vec![("SLIPWAY_API_URL", url.as_str()), ("SLIPWAY_TOKEN", TOKEN)];
    env.extend_from_slice(extra);
    run(&home(s), &env, args, stdin).await
}
