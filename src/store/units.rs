//! What each action unit of a job came to, as far as it is known: one row
//! per unit (a copy's createTask, a rerun, a hook trigger, ...) written the
//! moment the unit is confirmed or definitively refused. A resumed job reads
//! them back and neither re-sends nor re-checks those units, so a later
//! outage cannot turn a confirmed success into a reported failure.

use super::{Claim, Context, Store, StoreError};

impl Store {
    /// Every recorded unit result of a job, as `(unit key, result JSON)`.
    pub async fn unit_results(&self, job_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT unit, result FROM job_units WHERE job_id = $1 ORDER BY unit")
            .bind(job_id)
            .fetch_all(self.pool())
            .await
            .context("read unit results")
    }

    /// Records one unit's result (see [`Store::save_unit_results`]).
    pub async fn save_unit_result(
        &self,
        claim: &Claim,
        unit: &str,
        result: &str,
    ) -> Result<(), StoreError> {
        self.save_unit_results(claim, &[(unit, result)]).await
    }

    /// Records the results of units that became known together, in one
    /// transaction: 100 copies answered at once cost one commit, not 100
    /// one after the other. Nothing is recorded if the lease is gone (a
    /// worker whose job was taken over records nothing); recording a unit
    /// again replaces its result.
    pub async fn save_unit_results(
        &self,
        claim: &Claim,
        results: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "INSERT INTO job_units (job_id, unit, result, created_at) \
             SELECT $1, $2, $3, {now} WHERE EXISTS \
                 (SELECT 1 FROM jobs WHERE id = $1 AND lease_owner = $4 AND state = 'running') \
             ON CONFLICT (job_id, unit) DO UPDATE SET result = excluded.result"
        );
        let mut tx = self.pool().begin().await.context("begin")?;
        for (unit, result) in results {
            let written = sqlx::query(&sql)
                .bind(claim.job.id)
                .bind(*unit)
                .bind(*result)
                .bind(&claim.lease)
                .execute(&mut *tx)
                .await
                .context("save unit result")?;
            if written.rows_affected() != 1 {
                // Dropped without a commit: rolled back.
                return Err(StoreError::LeaseLost);
            }
        }
        tx.commit().await.context("commit unit results")?;
        Ok(())
    }
}
