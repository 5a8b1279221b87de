//! Backups of add-ons: one row per backup, numbered per add-on (`b001`), deleted with
//! the add-on's row (`ON DELETE CASCADE`).

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{Store, StoreError};

/// Where a backup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupState {
    /// `pg_dump` is writing it.
    Running,
    /// Its file is complete.
    Completed,
    /// It failed (or a restart interrupted it); it has no file.
    Failed,
}

impl BackupState {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupState::Running => "running",
            BackupState::Completed => "completed",
            BackupState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> BackupState {
        match s {
            "completed" => BackupState::Completed,
            "failed" => BackupState::Failed,
            _ => BackupState::Running,
        }
    }
}

/// A backup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRow {
    /// Row id.
    pub id: i64,
    /// The add-on's row id.
    pub addon_id: i64,
    /// Per add-on, from 1.
    pub number: i64,
    /// Where it stands.
    pub state: BackupState,
    /// Made by the plan's schedule (else asked for).
    pub scheduled: bool,
    /// Start time, Unix ms.
    pub created_at: i64,
    /// End time, Unix ms.
    pub finished_at: Option<i64>,
    /// The file's size in bytes, once completed.
    pub size: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

impl BackupRow {
    /// Its name: `b001`, `b002`... (more digits past 999).
    pub fn label(&self) -> String {
        label(self.number)
    }
}

/// The name of backup `number`.
pub fn label(number: i64) -> String {
    format!("b{number:03}")
}

/// The number in a backup's name (`b001` or `1`); None if it is not one.
pub fn parse_label(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('b').unwrap_or(text);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

const COLUMNS: &str = "id, addon_id, number, state, scheduled, created_at, finished_at, size, error";

fn backup_row(row: &SqliteRow) -> Result<BackupRow, StoreError> {
    Ok(BackupRow {
        id: row.try_get("id")?,
        addon_id: row.try_get("addon_id")?,
        number: row.try_get("number")?,
        state: BackupState::parse(&row.try_get::<String, _>("state")?),
        scheduled: row.try_get::<i64, _>("scheduled")? != 0,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        size: row.try_get("size")?,
        error: row.try_get("error")?,
    })
}

impl Store {
    /// Records a new backup of the add-on as running, numbered after its last one; a
    /// conflict if one is running already.
    pub async fn create_backup(&self, addon_id: i64, scheduled: bool, now: i64) -> Result<BackupRow, StoreError> {
        let mut tx = self.write().await?;
        let running: Option<i64> = sqlx::query_scalar("SELECT number FROM backups WHERE addon_id = ? AND state = ?")
            .bind(addon_id)
            .bind(BackupState::Running.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(number) = running {
            return Err(StoreError::Conflict(format!("backup {} is still running", label(number))));
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO backups (addon_id, number, state, scheduled, created_at) \
             VALUES (?, (SELECT coalesce(max(number), 0) + 1 FROM backups WHERE addon_id = ?), ?, ?, ?) RETURNING {COLUMNS}"
        ));
        let row = sqlx::query(sql)
            .bind(addon_id)
            .bind(addon_id)
            .bind(BackupState::Running.as_str())
            .bind(i64::from(scheduled))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let row = backup_row(&row)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Marks the backup completed (`size`: Some) or failed (`error`: Some).
    pub async fn finish_backup(
        &self,
        id: i64,
        size: Option<i64>,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let state = if error.is_some() { BackupState::Failed } else { BackupState::Completed };
        sqlx::query("UPDATE backups SET state = ?, size = ?, error = ?, finished_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(size)
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The add-on's backups, oldest first.
    pub async fn backups_of(&self, addon_id: i64) -> Result<Vec<BackupRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM backups WHERE addon_id = ? ORDER BY number"));
        let rows = sqlx::query(sql).bind(addon_id).fetch_all(&self.pool).await?;
        rows.iter().map(backup_row).collect()
    }

    /// The add-on's backup `number`.
    pub async fn backup(&self, addon_id: i64, number: i64) -> Result<Option<BackupRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM backups WHERE addon_id = ? AND number = ?"));
        let row = sqlx::query(sql).bind(addon_id).bind(number).fetch_optional(&self.pool).await?;
        row.as_ref().map(backup_row).transpose()
    }

    /// When the add-on's schedule last made (or tried) a backup, Unix ms.
    pub async fn last_scheduled_backup(&self, addon_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT max(created_at) FROM backups WHERE addon_id = ? AND scheduled = 1")
            .bind(addon_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Deletes a backup's record.
    pub async fn delete_backup(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM backups WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Marks every running backup failed with `why` (at start: a previous run was
    /// stopped while making them); the ones marked.
    pub async fn fail_running_backups(&self, why: &str, now: i64) -> Result<Vec<BackupRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE backups SET state = ?, error = ?, finished_at = ? WHERE state = ? RETURNING {COLUMNS}"
        ));
        let rows = sqlx::query(sql)
            .bind(BackupState::Failed.as_str())
            .bind(why)
            .bind(now)
            .bind(BackupState::Running.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(backup_row).collect()
    }
}
