//! Add-ons, and the control plane's instance id (in `meta`).

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{Store, StoreError, json, to_json};

/// Where an add-on stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonState {
    /// Being made on its server.
    Provisioning,
    /// Made; its vars are in the app's releases.
    Ready,
    /// Could not be made; nothing of it is left on the server.
    Failed,
    /// Being removed.
    Deprovisioning,
}

impl AddonState {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            AddonState::Provisioning => "provisioning",
            AddonState::Ready => "ready",
            AddonState::Failed => "failed",
            AddonState::Deprovisioning => "deprovisioning",
        }
    }

    fn parse(s: &str) -> AddonState {
        match s {
            "ready" => AddonState::Ready,
            "failed" => AddonState::Failed,
            "deprovisioning" => AddonState::Deprovisioning,
            _ => AddonState::Provisioning,
        }
    }
}

/// An add-on row, with its app's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonRow {
    /// Row id.
    pub id: i64,
    /// The app's row id.
    pub app_id: i64,
    /// The app's name.
    pub app: String,
    /// The add-on's name.
    pub name: String,
    /// `postgres` or `redis`.
    pub kind: String,
    /// The plan.
    pub plan: String,
    /// Where it stands.
    pub state: AddonState,
    /// The server's `host:port`.
    pub server: String,
    /// The stem of its config vars.
    pub attachment: String,
    /// The config vars it injects (empty until ready).
    pub config: BTreeMap<String, String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// A new add-on.
#[derive(Debug, Clone, Copy)]
pub struct NewAddon<'a> {
    /// The app.
    pub app_id: i64,
    /// The name.
    pub name: &'a str,
    /// The kind.
    pub kind: &'a str,
    /// The plan.
    pub plan: &'a str,
    /// The server.
    pub server: &'a str,
    /// The attachment of the app's first add-on of the kind (`DATABASE`)...
    pub first_attachment: &'a str,
    /// ...and of further ones (the name in upper case).
    pub other_attachment: &'a str,
}

const COLUMNS: &str = "d.id, d.app_id, a.name AS app, d.name, d.kind, d.plan, d.state, d.server, d.attachment, d.config, d.error, d.created_at";

fn addon_row(row: &SqliteRow) -> Result<AddonRow, StoreError> {
    let app_id: i64 = row.try_get("app_id")?;
    let config: String = row.try_get("config")?;
    Ok(AddonRow {
        id: row.try_get("id")?,
        app_id,
        app: row.try_get("app")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        plan: row.try_get("plan")?,
        state: AddonState::parse(&row.try_get::<String, _>("state")?),
        server: row.try_get("server")?,
        attachment: row.try_get("attachment")?,
        config: json("add-on config", app_id, &config)?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Records a new add-on as provisioning; a taken name is a conflict. The app's first
    /// add-on of a kind gets `first_attachment`, later ones `other_attachment`.
    pub async fn create_addon(&self, new: NewAddon<'_>, now: i64) -> Result<AddonRow, StoreError> {
        let mut tx = self.write().await?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM addons WHERE name = ?").bind(new.name).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("an add-on named {:?} already exists", new.name)));
        }
        let first_taken: Option<i64> = sqlx::query_scalar("SELECT id FROM addons WHERE app_id = ? AND attachment = ?")
            .bind(new.app_id)
            .bind(new.first_attachment)
            .fetch_optional(&mut *tx)
            .await?;
        let attachment = if first_taken.is_some() { new.other_attachment } else { new.first_attachment };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO addons (app_id, name, kind, plan, state, server, attachment, config, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', NULL, ?) RETURNING id",
        )
        .bind(new.app_id)
        .bind(new.name)
        .bind(new.kind)
        .bind(new.plan)
        .bind(AddonState::Provisioning.as_str())
        .bind(new.server)
        .bind(attachment)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.addon_by_id(id).await?.ok_or_else(|| StoreError::Conflict(format!("add-on {:?} vanished", new.name)))
    }

    async fn addon_by_id(&self, id: i64) -> Result<Option<AddonRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id WHERE d.id = ?"
        ));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(addon_row).transpose()
    }

    /// The add-on named `name`.
    pub async fn addon(&self, name: &str) -> Result<Option<AddonRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id WHERE d.name = ?"
        ));
        let row = sqlx::query(sql).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(addon_row).transpose()
    }

    /// The app's add-ons, oldest first.
    pub async fn addons_of(&self, app_id: i64) -> Result<Vec<AddonRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id WHERE d.app_id = ? ORDER BY d.id"
        ));
        let rows = sqlx::query(sql).bind(app_id).fetch_all(&self.pool).await?;
        rows.iter().map(addon_row).collect()
    }

    /// Every add-on, oldest first.
    pub async fn all_addons(&self) -> Result<Vec<AddonRow>, StoreError> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM addons d JOIN apps a ON a.id = d.app_id ORDER BY d.id"));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(addon_row).collect()
    }

    /// How many add-ons of `kind` each server holds (servers with none are absent).
    pub async fn addons_per_server(&self, kind: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT server, count(*) FROM addons WHERE kind = ? GROUP BY server")
                .bind(kind)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Marks the add-on ready with its config vars.
    pub async fn addon_ready(&self, id: i64, config: &BTreeMap<String, String>) -> Result<(), StoreError> {
        sqlx::query("UPDATE addons SET state = ?, config = ?, error = NULL WHERE id = ?")
            .bind(AddonState::Ready.as_str())
            .bind(to_json(config))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves the add-on to `state`, with why (for `failed`) or not.
    pub async fn set_addon_state(&self, id: i64, state: AddonState, error: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE addons SET state = ?, error = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the add-on's record.
    pub async fn delete_addon(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM addons WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// This control plane's instance id, made by `make` on first use.
    pub async fn instance_id(&self, make: impl FnOnce() -> String) -> Result<String, StoreError> {
        let mut tx = self.write().await?;
        let found: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'instance'").fetch_optional(&mut *tx).await?;
        if let Some(id) = found {
            return Ok(id);
        }
        let id = make();
        sqlx::query("INSERT INTO meta (key, value) VALUES ('instance', ?)").bind(&id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(id)
    }
}
