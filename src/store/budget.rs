//! The GitHub content-creation budget, shared by every process on the
//! database: a log of grants per installation, on the database's clock.
//! Taking a slot is one short transaction under the installation's row
//! lock (a row of `content_budgets`: a row lock on Postgres, the write lock
//! on SQLite); a caller that finds the window full learns how long to wait
//! and waits with no lock held, so other installations and other jobs'
//! reads and writes go on meanwhile.

use super::{Context, Store, StoreError};
use std::time::Duration;

impl Store {
    /// Takes one slot of `installation`'s budget of `max` per `window` when
    /// one is free (`None`), else says how long until the oldest grant in
    /// the window expires (`Some(wait)`; nothing was taken).
    pub async fn take_content_slot(
        &self,
        installation: u64,
        max: u32,
        window: Duration,
    ) -> Result<Option<Duration>, StoreError> {
        let installation = i64::try_from(installation).unwrap_or(i64::MAX);
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool().begin().await.context("begin")?;
        sqlx::query(
            "INSERT INTO content_budgets (installation, asked) VALUES ($1, 1) \
             ON CONFLICT (installation) DO UPDATE SET asked = content_budgets.asked + 1",
        )
        .bind(installation)
        .execute(&mut *tx)
        .await
        .context("lock the content budget")?;
        let now: i64 = sqlx::query_scalar(&format!("SELECT {}", self.db_now()))
            .fetch_one(&mut *tx)
            .await
            .context("read the database clock")?;
        sqlx::query("DELETE FROM content_grants WHERE installation = $1 AND granted_at <= $2")
            .bind(installation)
            .bind(now.saturating_sub(window_ms))
            .execute(&mut *tx)
            .await
            .context("prune content grants")?;
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(granted_at) FROM content_grants WHERE installation = $1",
        )
        .bind(installation)
        .fetch_one(&mut *tx)
        .await
        .context("count content grants")?;
        let wait = if count < i64::from(max.max(1)) {
            sqlx::query("INSERT INTO content_grants (installation, granted_at) VALUES ($1, $2)")
                .bind(installation)
                .bind(now)
                .execute(&mut *tx)
                .await
                .context("grant a content slot")?;
            None
        } else {
            let until = oldest.unwrap_or(now).saturating_add(window_ms);
            let ms = u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1);
            Some(Duration::from_millis(ms))
        };
        tx.commit().await.context("commit content budget")?;
        Ok(wait)
    }
}
