//! Finding the workspace's binaries from a test: they are built next to the test
//! executable's directory (`target/<profile>/`, the test being in `target/<profile>/deps/`)
//! by `cargo nextest run --workspace` / `cargo test --workspace`.

use std::path::PathBuf;

/// The path of the workspace binary `name` (`slipway`, `slipway-router`, `slipway-logd`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("tests run from target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the tests with `tests/run` or `cargo nextest run --workspace` (they build every binary)",
        path.display()
    );
    path
}
