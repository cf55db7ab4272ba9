//! The audit ledger: every action the app dispatched, by repository and
//! commit, so limits such as `max_reruns_per_task` count across comments.
//! Actions are recorded with the plan, before dispatch, idempotently per
//! (job, task, kind): a retried job records once.

use super::{now_ms, Context, Store, StoreError};
use std::collections::BTreeMap;

/// One dispatched action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry<'a> {
    pub job_id: i64,
    pub repo: &'a str,
    pub head_sha: &'a str,
    pub label: &'a str,
    pub task_id: &'a str,
    /// `rerun`, `cancel-rerun` or `retrigger`.
    pub kind: &'a str,
}

const INSERT_ACTION: &str =
    "INSERT INTO actions (job_id, repo, head_sha, label, task_id, kind, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id, task_id, kind) DO NOTHING";

impl Store {
    /// Stores a job's plan and the actions it will dispatch, in one
    /// transaction, before anything is sent: the next command on the same
    /// commit counts these actions even while they are being dispatched.
    pub async fn save_plan_with_actions(
        &self,
        claim: &crate::store::Claim,
        plan: &str,
        actions: &[LedgerEntry<'_>],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.context("begin")?;
        let saved = sqlx::query(
            "UPDATE jobs SET plan = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(plan)
        .bind(now_ms())
        .bind(claim.job.id)
        .bind(&claim.lease)
        .execute(&mut *tx)
        .await
        .context("save plan")?;
        if saved.rows_affected() != 1 {
            return Err(StoreError::LeaseLost);
        }
        for entry in actions {
            bind_action(sqlx::query(INSERT_ACTION), entry)
                .execute(&mut *tx)
                .await
                .context("record action")?;
        }
        tx.commit().await.context("commit plan")
    }

    /// Reruns (including cancel-then-rerun) by label for one commit.
    /// Counts planned ones too: they are recorded with the plan.
    pub async fn reruns_by_label(
        &self,
        repo: &str,
        head_sha: &str,
    ) -> Result<BTreeMap<String, u32>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT label, COUNT(*) FROM actions WHERE repo = $1 AND head_sha = $2 \
             AND kind IN ('rerun', 'cancel-rerun') GROUP BY label",
        )
        .bind(repo)
        .bind(head_sha)
        .fetch_all(self.pool())
        .await
        .context("read ledger")?;
        Ok(rows
            .into_iter()
            .map(|(label, n)| (label, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }
}

fn bind_action<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    entry: &LedgerEntry<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(entry.job_id)
        .bind(entry.repo)
        .bind(entry.head_sha)
        .bind(entry.label)
        .bind(entry.task_id)
        .bind(entry.kind)
        .bind(now_ms())
}
