//! Dedicated plans: a server process for one add-on alone (`postgres` after `initdb`, or
//! `redis-server` with the plan's `maxmemory`), on a free loopback port, with its data in
//! `<data_dir>/addons/<name>/`, supervised by [`supervisor`]. Its load and memory reach
//! no other add-on's server. The port, the admin's password and the app's password are
//! kept in that directory (mode 0600) so the server starts again, on the same URL, when
//! the control plane restarts; destroying the add-on stops the server and removes the
//! directory.

pub mod postgres;
pub mod redis;
pub(crate) mod supervisor;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Kind;
use super::provider::{AddonError, Resource};
use supervisor::Supervisor;

/// The `server` of dedicated add-ons' records.
pub const LOCAL: &str = "local";

/// The directory of add-on `name`'s server.
pub(crate) fn dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

fn io_error(kind: Kind, what: &str, e: impl std::fmt::Display) -> AddonError {
    AddonError::Server { kind, server: LOCAL.to_owned(), what: what.to_owned(), problem: e.to_string() }
}

/// Reads `dir/file`, or makes it with `make` (written 0600).
fn kept(
    kind: Kind,
    dir: &Path,
    file: &str,
    make: impl FnOnce() -> Result<String, String>,
) -> Result<String, AddonError> {
    let path = dir.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_owned());
    }
    let value = make().map_err(|e| io_error(kind, &format!("making {file}"), e))?;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_error(kind, &format!("writing {}", path.display()), e))?;
    out.write_all(value.as_bytes()).map_err(|e| io_error(kind, &format!("writing {}", path.display()), e))?;
    Ok(value)
}

/// The add-on's port: kept, or a free loopback port now.
fn port(kind: Kind, dir: &Path) -> Result<u16, AddonError> {
    let text = kept(kind, dir, "port", || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port().to_string())
            .map_err(|e| e.to_string())
    })?;
    text.parse().map_err(|_| io_error(kind, "reading the port", format!("{text:?} is not a port")))
}

/// Waits until `ready` says yes, polling every 50 ms, for at most `limit`.
async fn wait_ready<F: std::future::Future<Output = bool>>(
    kind: Kind,
    limit: Duration,
    mut ready: impl FnMut() -> F,
) -> Result<(), AddonError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if ready().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(io_error(
                kind,
                "starting the dedicated server",
                format!("not accepting connections after {}", crate::clock::human(limit)),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Removes add-on `name`'s directory (its server stopped); gone already is fine.
fn remove_dir(kind: Kind, root: &Path, name: &str) -> Result<(), AddonError> {
    match std::fs::remove_dir_all(dir(root, name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(kind, "removing the data directory", e)),
    }
}

/// The add-ons that have a directory under `root`.
fn made(root: &Path) -> Vec<Resource> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| super::naming::check(n).is_ok())
        .map(|name| Resource { name, server: LOCAL.to_owned() })
        .collect()
}

/// Stops add-on `name`'s server and removes its directory (both providers' deprovision).
async fn stop_and_remove(kind: Kind, supervisor: &Supervisor, root: &Path, name: &str) -> Result<(), AddonError> {
    supervisor.stop(name).await;
    remove_dir(kind, root, name)
}

/// What `info` says of a dedicated server: its port and whether it runs.
fn info(supervisor: &Supervisor, root: &Path, name: &str) -> BTreeMap<String, String> {
    let port = std::fs::read_to_string(dir(root, name).join("port")).unwrap_or_default();
    BTreeMap::from([
        ("port".to_owned(), port.trim().to_owned()),
        ("running".to_owned(), supervisor.is_running(name).to_string()),
    ])
}
