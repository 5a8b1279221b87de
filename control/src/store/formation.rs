//! The formation: how many processes of each type an app runs.

use std::collections::BTreeMap;

use super::{Store, StoreError};

impl Store {
    /// Process type → quantity.
    pub async fn formation(&self, app_id: i64) -> Result<BTreeMap<String, u32>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT process_type, quantity FROM formation WHERE app_id = ? ORDER BY process_type")
                .bind(app_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(t, q)| (t, u32::try_from(q).unwrap_or(0))).collect())
    }

    /// Sets the quantities given; other types keep theirs.
    pub async fn set_formation(&self, app_id: i64, quantities: &BTreeMap<String, u32>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for (process_type, quantity) in quantities {
            sqlx::query(
                "INSERT INTO formation (app_id, process_type, quantity) VALUES (?, ?, ?) \
                 ON CONFLICT (app_id, process_type) DO UPDATE SET quantity = excluded.quantity",
            )
            .bind(app_id)
            .bind(process_type)
            .bind(i64::from(*quantity))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds the types the app has never had, with their default quantity: one `web`,
    /// zero of anything else (as Heroku does). Known types keep their quantity.
    pub async fn add_process_types<'a>(
        &self,
        app_id: i64,
        types: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for process_type in types {
            let quantity = i64::from(process_type == "web");
            sqlx::query(
                "INSERT INTO formation (app_id, process_type, quantity) VALUES (?, ?, ?) \
                 ON CONFLICT (app_id, process_type) DO NOTHING",
            )
            .bind(app_id)
            .bind(process_type)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
