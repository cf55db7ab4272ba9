//! The audit ledger: every action the app planned, by repository and commit,
//! so limits such as `max_reruns_per_task` count across comments. Actions
//! are recorded with the plan, before dispatch, idempotently per (job, task,
//! kind): a retried job records once. Plans for one commit are made one at a
//! time (see [`Store::plan_exclusively`]), so two comments arriving together
//! cannot both pass a limit.

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

/// What a planning function hands back to be stored.
#[derive(Debug)]
pub struct PlannedJob<T> {
    pub value: T,
    /// The plan as stored with the job.
    pub plan_json: String,
    pub actions: Vec<PlannedAction>,
}

impl Store {
    /// Makes and stores a job's plan while no other job plans for the same
    /// commit: in one transaction, takes the commit's planning lock (a row
    /// of `plan_locks`: a row lock on Postgres, the write lock on SQLite),
    /// reads the reruns already recorded for the commit, runs `plan` on them
    /// (pure and quick: all I/O happened before), then stores the plan
    /// (guarded by the job's lease) and its actions.
    pub async fn plan_exclusively<T, E>(
        &self,
        claim: &Claim,
        repo: &str,
        head_sha: &str,
        plan: impl FnOnce(Recorded) -> Result<PlannedJob<T>, E>,
    ) -> Result<Result<T, E>, StoreError> {
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
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, task_id, COUNT(*) FROM actions WHERE repo = $1 AND head_sha = $2 \
             GROUP BY kind, task_id",
        )
        .bind(repo)
        .bind(head_sha)
        .fetch_all(&mut *tx)
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
        let planned = match plan(recorded) {
            Ok(planned) => planned,
            Err(e) => return Ok(Err(e)),
        };
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
        Ok(Ok(planned.value))
    }
}
