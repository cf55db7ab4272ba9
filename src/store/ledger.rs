//! The audit ledger: every action the app planned, by repository and commit,
//! so limits such as `max_reruns_per_task` count across comments. Actions
//! are recorded with the plan, before dispatch, idempotently per (job, task,
//! kind): a retried job records once. Plans for one commit are stored one at
//! a time, each only if the ledger it was made on still holds (see
//! [`Store::save_plan_on`]), so two comments arriving together cannot both
//! pass a limit. A rerun that waited and was dropped stays recorded,
//! marked `dropped`, and is not counted: it never ran
//! ([`Store::end_wait`]).

use super::{now_ms, Claim, Context, Store, StoreError};
use std::collections::BTreeMap;

/// One action a plan will dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedAction {
    pub label: String,
    /// The task rerun, or the copy created (one row per copy).
    pub task_id: String,
    /// `rerun`, `cancel-rerun` or `retrigger`.
    pub kind: &'static str,
}

/// What the ledger holds for one commit when a plan is made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Reruns (and cancel-then-reruns) by taskId.
    pub reruns_by_task: BTreeMap<String, u32>,
    /// Retrigger copies.
    pub copies: u32,
}

/// A plan as stored with its job, and the actions it records.
#[derive(Debug)]
pub struct PlannedJob {
    pub plan_json: String,
    pub actions: Vec<PlannedAction>,
}

/// Whether [`Store::save_plan_on`] stored the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanSaved {
    Saved,
    /// Another plan for the commit was recorded since the ledger was read:
    /// nothing was stored; plan again on what the ledger holds now.
    LedgerMoved,
}

impl Store {
    /// What the ledger holds for a commit. Read without a lock: a plan made
    /// on it is stored only if it still holds ([`Store::save_plan_on`]).
    pub async fn recorded(&self, repo: &str, head_sha: &str) -> Result<Recorded, StoreError> {
        read_recorded(self.pool(), repo, head_sha).await
    }

    /// Stores a job's plan, made (outside any transaction) on `seen`, if the
    /// commit's ledger still holds exactly `seen`: in one short transaction
    /// it takes the commit's planning lock (a row of `plan_locks`: a row
    /// lock on Postgres, the write lock on SQLite), reads the ledger again,
    /// and only when nothing was recorded since stores the plan (guarded by
    /// the job's lease) and its actions. So two comments planned at once
    /// cannot both pass a limit, and no planning work (selection over tens
    /// of thousands of tasks) ever holds the write lock.
    pub async fn save_plan_on(
        &self,
        claim: &Claim,
        repo: &str,
        head_sha: &str,
        seen: &Recorded,
        planned: &PlannedJob,
    ) -> Result<PlanSaved, StoreError> {
        let mut tx = self.pool().begin().await.context("begin")?;
        sqlx::query(
            "INSERT INTO plan_locks (repo, head_sha, plans) VALUES ($1, $2, 1) \
             ON CONFLICT (repo, head_sha) DO UPDATE SET plans = plan_locks.plans + 1",
        )
        .bind(repo)
        .bind(head_sha)
        .execute(&mut *tx)
        .await
        .context("take the planning lock")?;
        if read_recorded(&mut *tx, repo, head_sha).await? != *seen {
            tx.rollback().await.context("roll back")?;
            return Ok(PlanSaved::LedgerMoved);
        }
        let saved = sqlx::query(
            "UPDATE jobs SET plan = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(&planned.plan_json)
        .bind(now_ms())
        .bind(claim.job.id)
        .bind(&claim.lease)
        .execute(&mut *tx)
        .await
        .context("save plan")?;
        if saved.rows_affected() != 1 {
            return Err(StoreError::LeaseLost);
        }
        for action in &planned.actions {
            sqlx::query(
                "INSERT INTO actions (job_id, repo, head_sha, label, task_id, kind, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id, task_id, kind) DO NOTHING",
            )
            .bind(claim.job.id)
            .bind(repo)
            .bind(head_sha)
            .bind(&action.label)
            .bind(&action.task_id)
            .bind(action.kind)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .context("record action")?;
        }
        tx.commit().await.context("commit plan")?;
        Ok(PlanSaved::Saved)
    }
}

async fn read_recorded<'e, E>(
    executor: E,
    repo: &str,
    head_sha: &str,
) -> Result<Recorded, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, task_id, COUNT(*) FROM actions WHERE repo = $1 AND head_sha = $2 \
         AND dropped = 0 GROUP BY kind, task_id",
    )
    .bind(repo)
    .bind(head_sha)
    .fetch_all(executor)
    .await
    .context("read ledger")?;
    let mut recorded = Recorded::default();
    for (kind, task_id, n) in rows {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if kind == "retrigger" {
            recorded.copies = recorded.copies.saturating_add(n);
        } else {
            let entry = recorded.reruns_by_task.entry(task_id).or_default();
            *entry = entry.saturating_add(n);
        }
    }
    Ok(recorded)
}
