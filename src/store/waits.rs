//! Waits (DESIGN.md §13): one row per action a plan held back until other
//! runs resolve. Leased like jobs and watches, on the database's clock: the
//! follow loop claims due waits, judges them and fires or drops them; a
//! process that dies leaves them to another once the lease expires.
//!
//! A wait goes `waiting` → `firing` (stored before its action is sent, so a
//! later claimer knows it may have been sent and checks the queue first) →
//! `fired` or `dropped`, with its outcome. The fired action's result is also
//! recorded as a unit result of the job (`job_units`), in the same
//! transaction, so it is known exactly once whatever happens around it.

use super::{Backend, Context, NewWatch, Store, StoreError};
use std::time::Duration;

/// A wait to store with a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWait {
    /// Its place in the job's plan: plan (command) and row.
    pub plan_index: usize,
    pub row_index: usize,
    /// The waiting task.
    pub task_id: String,
    /// What follow-through needs to judge and fire it (JSON).
    pub spec: String,
}

/// A wait as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredWait {
    pub id: i64,
    pub job_id: i64,
    pub plan_index: usize,
    pub row_index: usize,
    pub task_id: String,
    pub spec: String,
    /// `waiting`, `firing`, `fired` or `dropped`.
    pub state: String,
    /// The outcome shown in the reply once fired or dropped (JSON).
    pub outcome: Option<String>,
    /// The claim's lease (empty when not claimed).
    pub lease: String,
}

/// How a wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitEnd<'a> {
    /// `fired` or `dropped`.
    pub state: &'static str,
    /// The row's outcome (JSON).
    pub outcome: &'a str,
    /// For a fired wait: the job unit it records, `(unit key, result JSON)`.
    pub unit: Option<(&'a str, &'a str)>,
    /// The runs (or action tasks) it started, to follow.
    pub watches: Vec<NewWatch>,
}

type WaitRow = (i64, i64, i64, i64, String, String, String, Option<String>);
const WAIT_COLUMNS: &str = "id, job_id, plan_index, row_index, task_id, spec, state, outcome";

fn wait_from_row(row: WaitRow, lease: &str) -> StoredWait {
    let (id, job_id, plan_index, row_index, task_id, spec, state, outcome) = row;
    StoredWait {
        id,
        job_id,
        plan_index: usize::try_from(plan_index).unwrap_or(usize::MAX),
        row_index: usize::try_from(row_index).unwrap_or(usize::MAX),
        task_id,
        spec,
        state,
        outcome,
        lease: lease.to_owned(),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores a job's waits (idempotent: a retried job adds nothing twice),
    /// first judged at once.
    pub async fn add_waits(&self, job_id: i64, waits: &[NewWait]) -> Result<(), StoreError> {
        if waits.is_empty() {
            return Ok(());
        }
        let now = self.db_now();
        let mut tx = self.pool().begin().await.context("begin")?;
        let sql = format!(
            "INSERT INTO waits (job_id, plan_index, row_index, task_id, spec, state, next_check, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'waiting', {now}, {now}, {now}) \
             ON CONFLICT (job_id, plan_index, row_index) DO NOTHING"
        );
        for w in waits {
            sqlx::query(&sql)
                .bind(job_id)
                .bind(int(w.plan_index))
                .bind(int(w.row_index))
                .bind(&w.task_id)
                .bind(&w.spec)
                .execute(&mut *tx)
                .await
                .context("add wait")?;
        }
        tx.commit().await.context("commit waits")
    }

    /// Claims up to `limit` undecided waits that are due, for `lease_for`.
    pub async fn claim_due_waits(
        &self,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<StoredWait>, StoreError> {
        let now = self.db_now();
        let lease = uuid::Uuid::new_v4().simple().to_string();
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE waits SET lease_owner = $1, lease_until = {now} + $2, updated_at = {now} \
             WHERE id IN (SELECT id FROM waits WHERE state IN ('waiting', 'firing') \
                 AND next_check <= {now} AND (lease_until IS NULL OR lease_until < {now}) \
                 ORDER BY next_check, id LIMIT $3{lock}) \
             RETURNING {WAIT_COLUMNS}"
        );
        let rows: Vec<WaitRow> = sqlx::query_as(&sql)
            .bind(&lease)
            .bind(ms(lease_for))
            .bind(int(limit))
            .fetch_all(self.pool())
            .await
            .context("claim waits")?;
        Ok(rows.into_iter().map(|r| wait_from_row(r, &lease)).collect())
    }

    /// Marks a claimed wait `firing` before its action is sent. Fails with
    /// [`StoreError::LeaseLost`] when the claim is gone.
    pub async fn wait_firing(&self, wait: &StoredWait) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE waits SET state = 'firing', updated_at = {now} \
             WHERE id = $1 AND lease_owner = $2 AND state IN ('waiting', 'firing')"
        );
        let done = sqlx::query(&sql)
            .bind(wait.id)
            .bind(&wait.lease)
            .execute(self.pool())
            .await
            .context("mark wait firing")?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// Ends a claimed wait: its state and outcome, the job unit it
    /// recorded, a dropped wait's ledger row no longer counted, the run it
    /// started (followed), the reply made due for an
    /// edit and the job's other waits due for a look (one may wait on this
    /// one) — all or nothing. [`StoreError::LeaseLost`] when the claim is
    /// gone (another process ends it).
    pub async fn end_wait(&self, wait: &StoredWait, end: &WaitEnd<'_>) -> Result<(), StoreError> {
        let now = self.db_now();
        let mut tx = self.pool().begin().await.context("begin")?;
        let sql = format!(
            "UPDATE waits SET state = $1, outcome = $2, lease_owner = NULL, lease_until = NULL, \
             updated_at = {now} WHERE id = $3 AND lease_owner = $4 AND state IN ('waiting', 'firing')"
        );
        let done = sqlx::query(&sql)
            .bind(end.state)
            .bind(end.outcome)
            .bind(wait.id)
            .bind(&wait.lease)
            .execute(&mut *tx)
            .await
            .context("end wait")?;
        if done.rows_affected() != 1 {
            return Err(StoreError::LeaseLost);
        }
        if end.state == "dropped" {
            // It never ran: it no longer counts toward the commit's limits.
            sqlx::query(
                "UPDATE actions SET dropped = 1 WHERE job_id = $1 AND task_id = $2 \
                 AND kind IN ('rerun', 'cancel-rerun')",
            )
            .bind(wait.job_id)
            .bind(&wait.task_id)
            .execute(&mut *tx)
            .await
            .context("uncount dropped wait")?;
        }
        if let Some((unit, result)) = end.unit {
            let sql = format!(
                "INSERT INTO job_units (job_id, unit, result, created_at) VALUES ($1, $2, $3, {now}) \
                 ON CONFLICT (job_id, unit) DO NOTHING"
            );
            sqlx::query(&sql)
                .bind(wait.job_id)
                .bind(unit)
                .bind(result)
                .execute(&mut *tx)
                .await
                .context("record fired unit")?;
        }
        self.insert_watches(&mut tx, wait.job_id, &end.watches, Duration::ZERO)
            .await?;
        sqlx::query(
            "INSERT INTO followed_replies (job_id) VALUES ($1) ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(wait.job_id)
        .execute(&mut *tx)
        .await
        .context("add followed reply")?;
        sqlx::query("UPDATE followed_replies SET version = version + 1 WHERE job_id = $1")
            .bind(wait.job_id)
            .execute(&mut *tx)
            .await
            .context("mark reply due")?;
        let sql = format!(
            "UPDATE waits SET next_check = {now} WHERE job_id = $1 AND state IN ('waiting', 'firing')"
        );
        sqlx::query(&sql)
            .bind(wait.job_id)
            .execute(&mut *tx)
            .await
            .context("nudge waits")?;
        tx.commit().await.context("commit wait end")
    }

    /// Records a unit result of the wait's job (a hook trigger's intent or
    /// action task) while the wait is claimed by this lease; nothing is
    /// recorded once the claim is gone ([`StoreError::LeaseLost`]).
    pub async fn save_wait_unit_result(
        &self,
        wait: &StoredWait,
        unit: &str,
        result: &str,
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "INSERT INTO job_units (job_id, unit, result, created_at) \
             SELECT $1, $2, $3, {now} WHERE EXISTS (SELECT 1 FROM waits WHERE id = $4 \
                 AND lease_owner = $5 AND state IN ('waiting', 'firing')) \
             ON CONFLICT (job_id, unit) DO UPDATE SET result = excluded.result"
        );
        let written = sqlx::query(&sql)
            .bind(wait.job_id)
            .bind(unit)
            .bind(result)
            .bind(wait.id)
            .bind(&wait.lease)
            .execute(self.pool())
            .await
            .context("save wait unit result")?;
        if written.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// Gives a claimed wait back undecided, to be judged again after
    /// `next_in` (or as soon as a run of its job resolves).
    pub async fn postpone_wait(
        &self,
        wait: &StoredWait,
        next_in: Duration,
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE waits SET lease_owner = NULL, lease_until = NULL, next_check = {now} + $1, \
             updated_at = {now} WHERE id = $2 AND lease_owner = $3"
        );
        sqlx::query(&sql)
            .bind(ms(next_in))
            .bind(wait.id)
            .bind(&wait.lease)
            .execute(self.pool())
            .await
            .context("postpone wait")?;
        Ok(())
    }

    /// Makes the undecided waits of these jobs due now: a run they may wait
    /// on resolved.
    pub async fn nudge_waits(&self, jobs: &[i64]) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE waits SET next_check = {now} WHERE job_id = $1 AND state IN ('waiting', 'firing')"
        );
        for job in jobs {
            sqlx::query(&sql)
                .bind(job)
                .execute(self.pool())
                .await
                .context("nudge waits")?;
        }
        Ok(())
    }

    /// Every wait of a job, in plan order.
    pub async fn waits_of_job(&self, job_id: i64) -> Result<Vec<StoredWait>, StoreError> {
        let sql = format!(
            "SELECT {WAIT_COLUMNS} FROM waits WHERE job_id = $1 ORDER BY plan_index, row_index"
        );
        let rows: Vec<WaitRow> = sqlx::query_as(&sql)
            .bind(job_id)
            .fetch_all(self.pool())
            .await
            .context("read waits")?;
        Ok(rows.into_iter().map(|r| wait_from_row(r, "")).collect())
    }
}
