//! The control plane's state, in SQLite (through sqlx, async), with the migrations of
//! `control/migrations/` embedded in the binary and applied at start.
//!
//! The store knows rows, not rules: validation happens in the API, orchestration in
//! [`crate::platform`]. Each method is one statement or one short transaction. Writers
//! take SQLite's write lock up front (`BEGIN IMMEDIATE`) so two concurrent transactions
//! never deadlock upgrading a read lock; WAL lets readers go on meanwhile.

mod acme;
mod addons;
mod apps;
mod backups;
mod domains;
mod formation;
mod releases;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::model::SourceRef;

pub use addons::{AddonRow, AddonState, NewAddon};
pub use backups::{BackupRow, BackupState, label as backup_label, parse_label as parse_backup_label};
pub use releases::NewRelease;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique name is taken.
    #[error("{0}")]
    Conflict(String),
    /// A stored JSON column does not parse (a bug or a hand-edited database).
    #[error("database: {what} of app {app_id}: {problem}")]
    Corrupt {
        /// The column.
        what: &'static str,
        /// The app.
        app_id: i64,
        /// The parse error.
        problem: String,
    },
}

/// An app row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Idle time before sleeping; none: never.
    pub sleep_after: Option<Duration>,
    /// Scaled to zero by the sleeper.
    pub sleeping: bool,
    /// The live release.
    pub current_release: Option<u64>,
}

/// A slug row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlugRow {
    /// Content-derived id, unique per app.
    pub id: String,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Where it came from.
    pub source: SourceRef,
    /// Process type → command.
    pub process_types: BTreeMap<String, String>,
}

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStatus {
    /// Being started.
    Pending,
    /// Went live.
    Succeeded,
    /// Did not start; the previous release kept serving.
    Failed,
}

impl ReleaseStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Succeeded => "succeeded",
            ReleaseStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> ReleaseStatus {
        match s {
            "succeeded" => ReleaseStatus::Succeeded,
            "failed" => ReleaseStatus::Failed,
            _ => ReleaseStatus::Pending,
        }
    }
}

/// A release row, with its slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    /// Version, from 1.
    pub version: u64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// What made it.
    pub description: String,
    /// The code, if any.
    pub slug: Option<SlugRow>,
    /// The config snapshot.
    pub config: BTreeMap<String, String>,
    /// Where it stands.
    pub status: ReleaseStatus,
}

/// The store: a pool of SQLite connections.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction holding SQLite's write lock from the start.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn json<T: serde::de::DeserializeOwned>(what: &'static str, app_id: i64, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { what, app_id, problem: e.to_string() })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Maps of strings and tagged enums of strings always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
