//! Housekeeping: finished jobs (and with them the comment bodies in their
//! payloads) are deleted once older than the retention period, with the
//! rows that only served them. A job whose watches moved within the period
//! is kept; queued and running jobs are never touched.

use super::{Context, Store, StoreError};
use std::time::Duration;

impl Store {
    /// Deletes what is older than `retention`; returns the jobs deleted.
    pub async fn purge(&self, retention: Duration) -> Result<u64, StoreError> {
        let now = self.db_now();
        let cutoff = format!(
            "({now} - {})",
            i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)
        );
        let jobs = sqlx::query(&format!(
            "DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_at < {cutoff} \
             AND id NOT IN (SELECT job_id FROM watches WHERE updated_at >= {cutoff})"
        ))
        .execute(self.pool())
        .await
        .context("purge jobs")?
        .rows_affected();
        let orphans = [
            format!(
                "DELETE FROM watches WHERE updated_at < {cutoff} \
                 AND job_id NOT IN (SELECT id FROM jobs)"
            ),
            "DELETE FROM job_units WHERE job_id NOT IN (SELECT id FROM jobs)".to_owned(),
            "DELETE FROM followed_replies WHERE job_id NOT IN (SELECT id FROM jobs)".to_owned(),
            "DELETE FROM waits WHERE job_id NOT IN (SELECT id FROM jobs)".to_owned(),
            format!("DELETE FROM actions WHERE created_at < {cutoff}"),
        ];
        for sql in orphans {
            sqlx::query(&sql)
                .execute(self.pool())
                .await
                .context("purge")?;
        }
        Ok(jobs)
    }
}
