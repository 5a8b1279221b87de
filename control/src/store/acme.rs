//! The ACME store routers share: the account key, certificates by host and the per-host
//! order claims (which expire, so a replica that died mid-order does not hold a host).

use super::{Store, StoreError};

impl Store {
    /// The ACME account key (PKCS#8 DER), if one is stored.
    pub async fn acme_account_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT key FROM acme_account WHERE id = 1").fetch_optional(&self.pool).await?;
        Ok(row.map(|(key,)| key))
    }

    /// Stores `key` as the account key unless one is stored; returns the stored one.
    pub async fn put_acme_account_key(&self, key: &[u8], now: i64) -> Result<Vec<u8>, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO acme_account (id, key, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let (stored,): (Vec<u8>,) =
            sqlx::query_as("SELECT key FROM acme_account WHERE id = 1").fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// `host`'s certificate (PEM), if one is stored.
    pub async fn acme_certificate(&self, host: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT pem FROM acme_certificates WHERE host = ?")
            .bind(host)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(pem,)| pem))
    }

    /// Stores `host`'s certificate, replacing any earlier one.
    pub async fn put_acme_certificate(&self, host: &str, pem: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO acme_certificates (host, pem, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (host) DO UPDATE SET pem = excluded.pem, updated_at = excluded.updated_at",
        )
        .bind(host)
        .bind(pem)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims `host` for `owner` until `expires_at` (Unix ms): true unless another owner
    /// holds a claim that has not expired at `now` (an owner's own claim is renewed).
    pub async fn claim_acme_host(
        &self,
        host: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let held: Option<(String, i64)> = sqlx::query_as("SELECT owner, expires_at FROM acme_claims WHERE host = ?")
            .bind(host)
            .fetch_optional(&mut *tx)
            .await?;
        if held.is_some_and(|(holder, until)| holder != owner && until > now) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO acme_claims (host, owner, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (host) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
        )
        .bind(host)
        .bind(owner)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Gives up `owner`'s claim on `host` (nothing if another owner holds it).
    pub async fn release_acme_host(&self, host: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM acme_claims WHERE host = ? AND owner = ?")
            .bind(host)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
