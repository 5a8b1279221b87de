//! The routes file: TOML or JSON (by extension), loaded at start and reloaded on change.
//!
//! ```toml
//! [[apps]]
//! name = "shop"
//! hosts = ["shop.example.com"]
//! endpoints = ["127.0.0.1:3000", "127.0.0.1:3001"]
//! options = { balance = "round_robin", max_concurrent_requests = 200 }
//! ```
//!
//! The file owns the apps it lists: a reload replaces them as a set (apps removed from the
//! file leave the table), leaving apps that other sources own alone. A file that does not
//! parse or validate at start is a start-up error; later, it keeps the current routes,
//! logs why and counts `slipway_router_routes_file_reloads_total{result="error"}`.
//!
//! The watch is `watch.rs`'s (on the file's directory, so renames and ConfigMap symlink
//! swaps are seen); any event triggers a read, and unchanged contents are ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::metrics::Metrics;
use crate::spec::AppRoutes;
use crate::table::Source;
use crate::table::update::{Change, RouteWriter};
pub use crate::watch::Watcher;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFile {
    #[serde(default)]
    apps: Vec<AppRoutes>,
}

/// Parses a routes file's contents (`.json` as JSON, anything else as TOML).
pub fn parse(path: &Path, text: &str) -> Result<Vec<AppRoutes>, String> {
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed: Result<RoutesFile, String> = if is_json {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            format!("{at}: {}", e.into_inner())
        })
    } else {
        toml::from_str(text).map_err(|e| e.to_string())
    };
    parsed.map(|f| f.apps)
}

/// The routes file as the initial load applied it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The table version that serves it.
    pub(crate) version: u64,
    /// The file's bytes, as read and applied: what the watcher compares later reads with.
    pub(crate) bytes: Vec<u8>,
}

/// Reads, parses and applies the file. Errors name the file and the problem.
pub(crate) async fn load(path: &Path, writer: &RouteWriter, metrics: &Metrics) -> Result<Loaded, String> {
    let result = match read(path).await {
        Ok(bytes) => apply(path, &bytes, writer).await.map(|(version, _)| Loaded { version, bytes }),
        Err(e) => Err(e),
    };
    let label = if result.is_ok() { "ok" } else { "error" };
    metrics.routes_file_reloads.with_label_values(&[label]).inc();
    result
}

async fn read(path: &Path) -> Result<Vec<u8>, String> {
    tokio::fs::read(path).await.map_err(|e| format!("routes file {}: cannot read: {e}", path.display()))
}

/// Parses and applies `bytes`, the file's contents; returns the table version and the
/// number of apps.
async fn apply(path: &Path, bytes: &[u8], writer: &RouteWriter) -> Result<(u64, usize), String> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("routes file {}: not UTF-8 text: {e}", path.display()))?;
    let apps = parse(path, text).map_err(|e| format!("routes file {}: {}", path.display(), e.trim_end()))?;
    let count = apps.len();
    let version = writer
        .apply(Source::File, Change::Replace { version: None, apps })
        .await
        .map_err(|e| format!("routes file {}: {e}", path.display()))?;
    Ok((version, count))
}

/// Watches the file and re-applies it when it changes. `applied` is what [`load`] applied:
/// every later read is compared with the bytes last handled (applied, or refused and
/// reported once), never with a fresh read, so an edit made at any moment after the load
/// is applied. The watch starts with one such check, for an edit made before the watch
/// was in place. Must be called inside the control runtime.
pub(crate) fn watch(
    path: PathBuf,
    applied: Vec<u8>,
    writer: RouteWriter,
    metrics: Arc<Metrics>,
) -> Result<Watcher, String> {
    let what = format!("routes file {}", path.display());
    let files = [path.clone()];
    // The checks run one at a time (watch.rs), so the lock is never contended.
    let handled = Arc::new(tokio::sync::Mutex::new(applied));
    crate::watch::watch(&what, &files, move || {
        let (path, writer, metrics, handled) = (path.clone(), writer.clone(), metrics.clone(), handled.clone());
        async move {
            let mut handled = handled.lock().await;
            // A file missing for a moment (replaced by rename) is read at the next event.
            let Ok(current) = tokio::fs::read(&path).await else { return };
            if current == *handled {
                return;
            }
            let result = apply(&path, &current, &writer).await;
            *handled = current;
            match &result {
                Ok((version, apps)) => tracing::info!(file = %path.display(), version, apps, "routes file reloaded"),
                Err(e) => tracing::warn!(error = %e, "routes file not applied; keeping the current routes"),
            }
            let label = if result.is_ok() { "ok" } else { "error" };
            metrics.routes_file_reloads.with_label_values(&[label]).inc();
        }
    })
}

#[cfg(test)]
mod tests;
