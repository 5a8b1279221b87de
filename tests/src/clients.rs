//! The real protocol clients in `tests/clients` (Node and Python packages and scripts),
//! installed by `tests/run`.

use std::path::PathBuf;

use crate::process::Process;

/// `tests/clients`, checked to be installed.
pub fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients");
    assert!(
        dir.join("node_modules").is_dir() && dir.join(".venv/bin/python").exists(),
        "the test clients are not installed in {}: run tests/run (it installs them)",
        dir.display()
    );
    dir
}

/// Runs `node <script> <args>` from `tests/clients`.
pub fn node(script: &str, args: &[&str]) -> Process {
    let dir = dir();
    let script = dir.join(script);
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    Process::spawn(std::path::Path::new("node"), &all, &[("NODE_PATH", dir.join("node_modules").to_str().unwrap())])
}

/// Runs `python <script> <args>` with the virtualenv of `tests/clients`.
pub fn python(script: &str, args: &[&str]) -> Process {
    let dir = dir();
    let script = dir.join(script);
    let mut all = vec![script.to_str().unwrap()];
    all.extend_from_slice(args);
    Process::spawn(&dir.join(".venv/bin/python"), &all, &[])
}
