//! Apps.

use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{AppRow, ReleaseStatus, Store, StoreError, to_i64, to_u64};

const COLUMNS: &str = "id, name, created_at, sleep_after, sleeping, current_release";

fn app_row(row: &SqliteRow) -> Result<AppRow, StoreError> {
    let sleep_after: Option<i64> = row.try_get("sleep_after")?;
    let current: Option<i64> = row.try_get("current_release")?;
    Ok(AppRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        sleep_after: sleep_after.map(|s| Duration::from_secs(to_u64(s))),
        sleeping: row.try_get::<i64, _>("sleeping")? != 0,
        current_release: current.map(to_u64),
    })
}

impl Store {
    /// Creates an app with its first release (v1, no code, no config), live at once.
    pub async fn create_app(&self, name: &str, sleep_after: Option<Duration>, now: i64) -> Result<AppRow, StoreError> {
        self.insert_app(name, sleep_after, now, false).await
    }

    /// Creates an app as [`Store::create_app`] does, marked as being set up until
    /// [`Store::finish_setup`].
    pub async fn create_app_setting_up(&self, name: &str, now: i64) -> Result<AppRow, StoreError> {
        self.insert_app(name, None, now, true).await
    }

    /// The app's setup is done: it is an app like any other.
    pub async fn finish_setup(&self, app_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE apps SET setting_up = 0 WHERE id = ?").bind(app_id).execute(&self.pool).await?;
        Ok(())
    }

    /// The apps still marked as being set up (at start: setups a previous run left halfway).
    pub async fn unfinished_setups(&self) -> Result<Vec<AppRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM apps WHERE setting_up = 1 ORDER BY name"));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(app_row).collect()
    }

    async fn insert_app(
        &self,
        name: &str,
        sleep_after: Option<Duration>,
        now: i64,
        setting_up: bool,
    ) -> Result<AppRow, StoreError> {
        let mut tx = self.write().await?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM apps WHERE name = ?").bind(name).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("an app named {name:?} already exists")));
        }
        let sleep_after = sleep_after.map(|d| to_i64(d.as_secs()));
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO apps (name, created_at, sleep_after, sleeping, current_release, setting_up) VALUES (?, ?, ?, 0, 1, ?) RETURNING id",
        )
        .bind(name)
        .bind(now)
        .bind(sleep_after)
        .bind(i64::from(setting_up))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO releases (app_id, version, created_at, description, slug_id, config, status) VALUES (?, 1, ?, 'Initial release', NULL, '{}', ?)",
        )
        .bind(id)
        .bind(now)
        .bind(ReleaseStatus::Succeeded.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AppRow {
            id,
            name: name.to_owned(),
            created_at: now,
            sleep_after: sleep_after.map(|s| Duration::from_secs(to_u64(s))),
            sleeping: false,
            current_release: Some(1),
        })
    }

    /// The app named `name`.
    pub async fn app(&self, name: &str) -> Result<Option<AppRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM apps WHERE name = ?"));
        let row = sqlx::query(sql).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(app_row).transpose()
    }

    /// Every app, by name.
    pub async fn apps(&self) -> Result<Vec<AppRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM apps ORDER BY name"));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(app_row).collect()
    }

    /// Sets (or clears) the idle time after which the app sleeps.
    pub async fn set_sleep_after(&self, app_id: i64, sleep_after: Option<Duration>) -> Result<(), StoreError> {
        sqlx::query("UPDATE apps SET sleep_after = ? WHERE id = ?")
            .bind(sleep_after.map(|d| to_i64(d.as_secs())))
            .bind(app_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the app asleep (scaled to zero) or awake.
    pub async fn set_sleeping(&self, app_id: i64, sleeping: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE apps SET sleeping = ? WHERE id = ?")
            .bind(i64::from(sleeping))
            .bind(app_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the app and everything it owns: its releases, slugs, formation and domains
    /// go with it (`ON DELETE CASCADE`, with foreign keys on in [`Store::open`]).
    pub async fn delete_app(&self, app_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM apps WHERE id = ?").bind(app_id).execute(&self.pool).await?;
        Ok(())
    }
}
