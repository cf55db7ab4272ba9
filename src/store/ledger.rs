//! The audit ledger: every action the app dispatched, by repository and
//! commit, so limits such as `max_reruns_per_task` count across comments.
//! Recording is idempotent per (job, task, kind): a retried job records once.

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

impl Store {
    pub async fn record_action(&self, entry: &LedgerEntry<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO actions (job_id, repo, head_sha, label, task_id, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id, task_id, kind) DO NOTHING",
        )
        .bind(entry.job_id)
        .bind(entry.repo)
        .bind(entry.head_sha)
        .bind(entry.label)
        .bind(entry.task_id)
        .bind(entry.kind)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .context("record action")?;
        Ok(())
    }

    /// Reruns (including cancel-then-rerun) by label for one commit.
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
