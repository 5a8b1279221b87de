//! The per-app locks that put one app's operations in order (see the platform's module
//! docs). An app's entry lives only while an operation holds or waits for its lock: the
//! last guard to go removes it, so apps that are destroyed (or were never there, or are
//! simply idle) leave nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// The per-app locks; see the module docs.
#[derive(Debug, Default)]
pub(super) struct AppLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds an app's lock; dropping it releases the lock (and the entry, if nobody waits).
#[derive(Debug)]
pub(super) struct AppLock<'a> {
    locks: &'a AppLocks,
    app: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl AppLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Plain map edits: a poisoned lock holds consistent data.
        self.locks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `app`'s lock. O(1).
    pub(super) async fn lock(&self, app: &str) -> AppLock<'_> {
        let lock = self.map().entry(app.to_owned()).or_default().clone();
        let guard = lock.lock_owned().await;
        AppLock { locks: self, app: app.to_owned(), guard: Some(guard) }
    }

    /// How many apps have an entry (operations holding or waiting for their lock).
    pub(super) fn len(&self) -> usize {
        self.map().len()
    }
}

impl Drop for AppLock<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.map();
        // Released under the map's lock: an operation about to wait takes its clone under
        // the same lock, so a count of one (the map's own) means nobody holds or waits.
        drop(self.guard.take());
        if map.get(&self.app).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            map.remove(&self.app);
        }
    }
}

#[cfg(test)]
mod tests;
