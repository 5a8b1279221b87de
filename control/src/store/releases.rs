//! Releases and slugs.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{ReleaseRow, ReleaseStatus, SlugRow, Store, StoreError, json, to_i64, to_json, to_u64};

const SELECT: &str = "SELECT r.version, r.created_at, r.description, r.config, r.status, \
     s.id AS slug_id, s.created_at AS slug_created_at, s.source, s.process_types \
     FROM releases r LEFT JOIN slugs s ON s.app_id = r.app_id AND s.id = r.slug_id";

fn release_row(app_id: i64, row: &SqliteRow) -> Result<ReleaseRow, StoreError> {
    let slug_id: Option<String> = row.try_get("slug_id")?;
    let slug = match slug_id {
        None => None,
        Some(id) => {
            let source: String = row.try_get("source")?;
            let types: String = row.try_get("process_types")?;
            Some(SlugRow {
                id,
                created_at: row.try_get("slug_created_at")?,
                source: json("slugs.source", app_id, &source)?,
                process_types: json("slugs.process_types", app_id, &types)?,
            })
        }
    };
    let config: String = row.try_get("config")?;
    let status: String = row.try_get("status")?;
    Ok(ReleaseRow {
        version: to_u64(row.try_get("version")?),
        created_at: row.try_get("created_at")?,
        description: row.try_get("description")?,
        slug,
        config: json("releases.config", app_id, &config)?,
        status: ReleaseStatus::parse(&status),
    })
}

/// What a new release is made of.
#[derive(Debug, Clone)]
pub struct NewRelease<'a> {
    /// What made it.
    pub description: &'a str,
    /// The code (an existing slug of the app), if any.
    pub slug_id: Option<&'a str>,
    /// The config vars.
    pub config: &'a BTreeMap<String, String>,
}

impl Store {
    /// Every release of the app, newest first.
    pub async fn releases(&self, app_id: i64) -> Result<Vec<ReleaseRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.app_id = ? ORDER BY r.version DESC"));
        let rows = sqlx::query(sql).bind(app_id).fetch_all(&self.pool).await?;
        rows.iter().map(|r| release_row(app_id, r)).collect()
    }

    /// One release.
    pub async fn release(&self, app_id: i64, version: u64) -> Result<Option<ReleaseRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.app_id = ? AND r.version = ?"));
        let row = sqlx::query(sql).bind(app_id).bind(to_i64(version)).fetch_optional(&self.pool).await?;
        row.as_ref().map(|r| release_row(app_id, r)).transpose()
    }

    /// Records a slug (a no-op if the app already has one with this id: same content).
    pub async fn insert_slug(&self, app_id: i64, slug: &SlugRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO slugs (app_id, id, created_at, source, process_types) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (app_id, id) DO NOTHING",
        )
        .bind(app_id)
        .bind(&slug.id)
        .bind(slug.created_at)
        .bind(to_json(&slug.source))
        .bind(to_json(&slug.process_types))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates the next release of the app, `pending`.
    pub async fn create_release(&self, app_id: i64, new: NewRelease<'_>, now: i64) -> Result<ReleaseRow, StoreError> {
        let mut tx = self.write().await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM releases WHERE app_id = ?")
            .bind(app_id)
            .fetch_one(&mut *tx)
            .await?;
        let version = last.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO releases (app_id, version, created_at, description, slug_id, config, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(app_id)
        .bind(version)
        .bind(now)
        .bind(new.description)
        .bind(new.slug_id)
        .bind(to_json(new.config))
        .bind(ReleaseStatus::Pending.as_str())
        .execute(&mut *tx)
        .await?;
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.app_id = ? AND r.version = ?"));
        let row = sqlx::query(sql).bind(app_id).bind(version).fetch_one(&mut *tx).await?;
        let release = release_row(app_id, &row)?;
        tx.commit().await?;
        Ok(release)
    }

    /// Settles a pending release; a succeeded one becomes the app's live release.
    pub async fn finish_release(&self, app_id: i64, version: u64, status: ReleaseStatus) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let settled =
            sqlx::query("UPDATE releases SET status = ? WHERE app_id = ? AND version = ? AND status = 'pending'")
                .bind(status.as_str())
                .bind(app_id)
                .bind(to_i64(version))
                .execute(&mut *tx)
                .await?;
        if status == ReleaseStatus::Succeeded && settled.rows_affected() == 1 {
            sqlx::query("UPDATE apps SET current_release = ? WHERE id = ?")
                .bind(to_i64(version))
                .bind(app_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks releases left pending by a previous run (it stopped mid-switch) as failed.
    pub async fn fail_pending_releases(&self) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE releases SET status = 'failed' WHERE status = 'pending'").execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
