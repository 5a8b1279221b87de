//! Watching files for changes: the one mechanism the routes file (`sources/file.rs`) and
//! the certificate files (`tls/files.rs`) reload through.
//!
//! The watch is on each file's directory, not the file: editors and Kubernetes
//! ConfigMap/Secret mounts replace files by rename or symlink swap, which a watch on the old
//! inode misses. Any event in a watched directory wakes one task, which waits for a burst of
//! writes to settle and then calls the owner's `check`; the owner reads its files and
//! compares them with what it last handled, so unrelated events cost one read.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::Notify;

/// How long to wait for an editor's burst of writes to settle before reading.
const SETTLE: Duration = Duration::from_millis(50);

/// Keeps a file watch alive; dropping it stops the watch.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// Watches the directories of `files` and runs `check` after each settled burst of events,
/// and once when the watch is in place (for a change made before it was). `what` names the
/// files in errors ("routes file x.toml"). Must be called inside a tokio runtime (the control
/// runtime): the checks run on it, one at a time.
pub(crate) fn watch<F, Fut>(what: &str, files: &[PathBuf], mut check: F) -> Result<Watcher, String>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let changed = Arc::new(Notify::new());
    let notify_changed = changed.clone();
    let mut inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            notify_changed.notify_one();
        }
    })
    .map_err(|e| format!("{what}: cannot watch: {e}"))?;
    let mut dirs: Vec<&Path> =
        files.iter().map(|f| f.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        inner
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("{what}: cannot watch {}: {e}", dir.display()))?;
    }
    tokio::spawn(async move {
        // The watch is in place: whatever the files hold from now on raises an event, and
        // whatever they held before is checked here once.
        changed.notify_one();
        loop {
            changed.notified().await;
            tokio::time::sleep(SETTLE).await;
            check().await;
        }
    });
    Ok(Watcher { _inner: inner })
}
