//! The directory store: `account.key`, `certs/<host>.pem` and `claims/<host>`, in one
//! directory that several routers on one host may share.
//!
//! Writes are atomic (a temporary file in the same directory, then a rename), so a reader
//! never sees half a certificate. A claim is read and written under an exclusive `flock` on
//! its file, so two routers cannot both take it; the file says who holds it until when.
//! File I/O runs on tokio's blocking pool: it is off the request path (orders only).

use std::fs;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rustix::fs::{FlockOperation, flock};

use super::{Store, StoreError};

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: Arc<Path>,
}

impl DirStore {
    /// Opens (creating it with mode 0700 if missing) the store in `root`.
    pub fn open(root: &Path) -> Result<DirStore, StoreError> {
        for sub in ["", "certs", "claims"] {
            let dir = root.join(sub);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        Ok(DirStore { root: root.into() })
    }

    /// The file of `host` under `sub`. Hosts come from the route table (checked DNS names:
    /// letters, digits, `-` and `.`), so they cannot name another directory; the check here
    /// keeps it so whatever the caller.
    fn path(&self, sub: &str, host: &str, ext: &str) -> Result<PathBuf, StoreError> {
        let ok = !host.is_empty()
            && !host.starts_with('.')
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'*');
        if !ok {
            return Err(StoreError(format!("{host:?} is not a host name")));
        }
        Ok(self.root.join(sub).join(format!("{host}{ext}")))
    }

    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, StoreError>> {
        let root = self.root.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&root))
                .await
                .map_err(|e| StoreError(format!("store task failed: {e}")))?
        }
        .boxed()
    }
}

fn io_error(what: &Path, e: std::io::Error) -> StoreError {
    StoreError(format!("{}: {e}", what.display()))
}

/// Reads `path`, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Writes a temporary file beside `path` (mode 0600: key material), synced; returns its path.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let temp = path.with_extension(format!("tmp.{}.{:x}", std::process::id(), fastrand::u64(..)));
    let mut file =
        fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).map_err(|e| io_error(&temp, e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| {
        let _ = fs::remove_file(&temp);
        io_error(&temp, e)
    })?;
    Ok(temp)
}

/// Replaces `path` with `bytes` atomically.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = write_temp(path, bytes)?;
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        io_error(path, e)
    })
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs `f` on the claim file of `path` (created if missing) under an exclusive flock.
fn with_claim_file<T>(
    path: &Path,
    f: impl FnOnce(&mut fs::File, Option<(String, u64)>) -> std::io::Result<T>,
) -> Result<T, StoreError> {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    // Blocks this blocking-pool thread only while another router reads or writes the
    // claim (a few bytes); the lock is released when the file is closed.
    flock(&file, FlockOperation::LockExclusive).map_err(|e| io_error(path, e.into()))?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| io_error(path, e))?;
    let current = text.split_once(' ').and_then(|(owner, until)| Some((owner.to_owned(), until.trim().parse().ok()?)));
    f(&mut file, current).map_err(|e| io_error(path, e))
}

impl Store for DirStore {
    fn account_key(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        self.blocking(|root| read_optional(&root.join("account.key")))
    }

    fn put_account_key<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        let key = key.to_vec();
        self.blocking(move |root| {
            let path = root.join("account.key");
            let temp = write_temp(&path, &key)?;
            // A hard link fails if the key exists: the first replica's key wins.
            let linked = fs::hard_link(&temp, &path);
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => Ok(key),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    read_optional(&path)?.ok_or_else(|| StoreError(format!("{} vanished", path.display())))
                }
                Err(e) => Err(io_error(&path, e)),
            }
        })
    }

    fn certificate<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let path = self.path("certs", host, ".pem");
        self.blocking(move |_| {
            let path = path?;
            match read_optional(&path)? {
                None => Ok(None),
                Some(bytes) => String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| StoreError(format!("{} is not PEM text", path.display()))),
            }
        })
    }

    fn put_certificate<'a>(&'a self, host: &'a str, pem: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let path = self.path("certs", host, ".pem");
        let pem = pem.to_owned();
        self.blocking(move |_| write_atomic(&path?, pem.as_bytes()))
    }

    fn try_claim<'a>(
        &'a self,
        host: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let path = self.path("claims", host, "");
        let owner = owner.to_owned();
        self.blocking(move |_| {
            let now = now_secs();
            with_claim_file(&path?, |file, current| {
                if let Some((holder, until)) = current
                    && holder != owner
                    && until > now
                {
                    return Ok(false);
                }
                file.set_len(0)?;
                file.rewind()?;
                write!(file, "{owner} {}", now + ttl.as_secs().max(1))?;
                Ok(true)
            })
        })
    }

    fn release<'a>(&'a self, host: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let path = self.path("claims", host, "");
        let owner = owner.to_owned();
        self.blocking(move |_| {
            with_claim_file(&path?, |file, current| {
                if current.is_some_and(|(holder, _)| holder == owner) {
                    file.set_len(0)?;
                }
                Ok(())
            })
        })
    }
}

#[cfg(test)]
mod tests;
