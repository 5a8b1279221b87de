//! Custom domains.

use super::{Store, StoreError};

impl Store {
    /// The app's domains with their creation times, by name.
    pub async fn domains(&self, app_id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT hostname, created_at FROM domains WHERE app_id = ? ORDER BY hostname")
            .bind(app_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Adds a domain; a host name another app has is a conflict, the same app's is a no-op.
    pub async fn add_domain(&self, app_id: i64, hostname: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let owner: Option<(i64, String)> =
            sqlx::query_as("SELECT a.id, a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.hostname = ?")
                .bind(hostname)
                .fetch_optional(&mut *tx)
                .await?;
        match owner {
            Some((id, _)) if id == app_id => return Ok(()),
            Some((_, name)) => {
                return Err(StoreError::Conflict(format!("{hostname:?} is already a domain of app {name:?}")));
            }
            None => {}
        }
        sqlx::query("INSERT INTO domains (hostname, app_id, created_at) VALUES (?, ?, ?)")
            .bind(hostname)
            .bind(app_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a domain of the app; false if it had no such domain.
    pub async fn remove_domain(&self, app_id: i64, hostname: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM domains WHERE app_id = ? AND hostname = ?")
            .bind(app_id)
            .bind(hostname)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
