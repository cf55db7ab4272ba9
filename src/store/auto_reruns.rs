//! Automatic reruns (DESIGN.md §13): what was rerun for a pull request's
//! head, the one comment per head that lists it, the groups whose
//! resolution Pulse announces, and the refusals already said.
//!
//! - `auto_reruns`: one row per automatic rerun, keyed by (repo, head SHA,
//!   task, the run count it started from). The rows for a head are read and
//!   the new ones written in one transaction under the commit's planning
//!   lock (the `plan_locks` row comments use), so two events about the same
//!   resolution (a redelivery, or Pulse and GitHub both) cannot both rerun a
//!   task: the second finds the first's row.
//! - The head: a job row (`event` = [`HEAD_EVENT`], state `done`, one per
//!   repository, pull request and SHA) that owns the comment and the
//!   watches of the reruns, so live edits reuse the follow-through's
//!   leased, coalesced reply edits.
//! - `auto_rerun_groups`: task groups of pull requests in repositories with
//!   `auto_rerun` on, bound on Pulse's `task-group-resolved` until they
//!   expire.

use super::{now_ms, Claim, Context, Store, StoreError};
use std::collections::BTreeMap;

/// The `event` of a head's job row.
pub const HEAD_EVENT: &str = "auto_rerun_head";

/// A pull request's head, as the head job's payload stores it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// `owner/name`.
    pub repo: String,
    pub installation: u64,
    pub pr: u64,
    pub sha: String,
}

impl Head {
    fn delivery_id(&self) -> String {
        format!("auto-rerun:{}#{}@{}", self.repo, self.pr, self.sha)
    }
}

/// One automatic rerun as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoRerunRow {
    pub task_id: String,
    pub label: String,
    pub runs_seen: u32,
    pub attempt: u32,
}

/// A group where too many tasks failed for automatic reruns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoRefusal {
    pub task_group_id: String,
    pub failed: u32,
    pub total: u32,
    /// `max_failure_percent` when it was refused.
    pub limit: u32,
}

/// A group followed on Pulse's `task-group-resolved`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoGroup {
    pub task_group_id: String,
    pub head: Head,
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Per task, the run counts the head's automatic reruns started from.
async fn read_made<'e, E>(
    executor: E,
    head: &Head,
) -> Result<BTreeMap<String, Vec<u32>>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT task_id, runs_seen FROM auto_reruns WHERE repo = $1 AND head_sha = $2 \
         ORDER BY created_at, runs_seen",
    )
    .bind(&head.repo)
    .bind(&head.sha)
    .fetch_all(executor)
    .await
    .context("read automatic reruns")?;
    let mut made: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (task, runs_seen) in rows {
        made.entry(task).or_default().push(to_u32(runs_seen));
    }
    Ok(made)
}

impl Store {
    /// The head's job row: made once, found after.
    pub async fn auto_head(&self, head: &Head) -> Result<i64, StoreError> {
        let now = self.db_now();
        let payload = serde_json::to_string(head).unwrap_or_default();
        let delivery = head.delivery_id();
        let sql = format!(
            "INSERT INTO jobs (delivery_id, event, payload, state, attempts, run_after, created_at, updated_at) \
             VALUES ($1, $2, $3, 'done', 0, {now}, {now}, {now}) ON CONFLICT (delivery_id) DO NOTHING"
        );
        sqlx::query(&sql)
            .bind(&delivery)
            .bind(HEAD_EVENT)
            .bind(&payload)
            .execute(self.pool())
            .await
            .context("make the head")?;
        sqlx::query_scalar("SELECT id FROM jobs WHERE delivery_id = $1")
            .bind(&delivery)
            .fetch_one(self.pool())
            .await
            .context("read the head")
    }

    /// What was rerun already for a head (per task, the run counts the
    /// reruns started from), read outside any planning lock: a preliminary
    /// answer (another job may add rows before this one plans), which
    /// [`Store::plan_auto_reruns`] reads again under the lock.
    pub async fn auto_reruns_made(
        &self,
        head: &Head,
    ) -> Result<BTreeMap<String, Vec<u32>>, StoreError> {
        read_made(self.pool(), head).await
    }

    /// Decides a job's automatic reruns for a head while no other job plans
    /// for the same commit: reads what was rerun already (per task, the run
    /// counts the reruns started from), runs `decide` on it, stores the
    /// plan text with the job (guarded by its lease) and records every rerun
    /// it chose for `head_job`. Returns what `decide` returned.
    pub async fn plan_auto_reruns<T>(
        &self,
        claim: &Claim,
        head: &Head,
        head_job: i64,
        decide: impl FnOnce(BTreeMap<String, Vec<u32>>) -> (T, String, Vec<AutoRerunRow>),
    ) -> Result<T, StoreError> {
        let mut tx = self.pool().begin().await.context("begin")?;
        sqlx::query(
            "INSERT INTO plan_locks (repo, head_sha, plans) VALUES ($1, $2, 1) \
             ON CONFLICT (repo, head_sha) DO UPDATE SET plans = plan_locks.plans + 1",
        )
        .bind(&head.repo)
        .bind(&head.sha)
        .execute(&mut *tx)
        .await
        .context("take the planning lock")?;
        let made = read_made(&mut *tx, head).await?;
        let (value, plan, reruns) = decide(made);
        let saved = sqlx::query(
            "UPDATE jobs SET plan = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(&plan)
        .bind(now_ms())
        .bind(claim.job.id)
        .bind(&claim.lease)
        .execute(&mut *tx)
        .await
        .context("save plan")?;
        if saved.rows_affected() != 1 {
            return Err(StoreError::LeaseLost);
        }
        for r in &reruns {
            sqlx::query(
                "INSERT INTO auto_reruns (repo, head_sha, task_id, runs_seen, label, attempt, job_id, head_job_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (repo, head_sha, task_id, runs_seen) DO NOTHING",
            )
            .bind(&head.repo)
            .bind(&head.sha)
            .bind(&r.task_id)
            .bind(i64::from(r.runs_seen))
            .bind(&r.label)
            .bind(i64::from(r.attempt))
            .bind(claim.job.id)
            .bind(head_job)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .context("record automatic rerun")?;
        }
        tx.commit().await.context("commit automatic reruns")?;
        Ok(value)
    }

    /// The automatic reruns of a head, oldest first.
    pub async fn auto_reruns_of_head(
        &self,
        head_job: i64,
    ) -> Result<Vec<AutoRerunRow>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT task_id, label, runs_seen, attempt FROM auto_reruns WHERE head_job_id = $1 \
             ORDER BY label, runs_seen",
        )
        .bind(head_job)
        .fetch_all(self.pool())
        .await
        .context("read automatic reruns")?;
        Ok(rows
            .into_iter()
            .map(|(task_id, label, runs_seen, attempt)| AutoRerunRow {
                task_id,
                label,
                runs_seen: to_u32(runs_seen),
                attempt: to_u32(attempt),
            })
            .collect())
    }

    /// Records that a group was refused (once per head and group); true
    /// when it is new, and then the head's comment becomes due.
    pub async fn refuse_auto_group(
        &self,
        head_job: i64,
        refusal: &AutoRefusal,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO auto_rerun_refusals (head_job_id, task_group_id, failed, total, max_percent, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (head_job_id, task_group_id) DO NOTHING",
        )
        .bind(head_job)
        .bind(&refusal.task_group_id)
        .bind(i64::from(refusal.failed))
        .bind(i64::from(refusal.total))
        .bind(i64::from(refusal.limit))
        .bind(now_ms())
        .execute(self.pool())
        .await
        .context("record refusal")?
        .rows_affected()
            == 1;
        if inserted {
            self.head_due(head_job).await?;
        }
        Ok(inserted)
    }

    /// The refusals of a head, oldest first.
    pub async fn auto_refusals_of_head(
        &self,
        head_job: i64,
    ) -> Result<Vec<AutoRefusal>, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT task_group_id, failed, total, max_percent FROM auto_rerun_refusals WHERE head_job_id = $1 \
             ORDER BY created_at, task_group_id",
        )
        .bind(head_job)
        .fetch_all(self.pool())
        .await
        .context("read refusals")?;
        Ok(rows
            .into_iter()
            .map(|(task_group_id, failed, total, limit)| AutoRefusal {
                task_group_id,
                failed: to_u32(failed),
                total: to_u32(total),
                limit: to_u32(limit),
            })
            .collect())
    }

    /// The head's comment shows less than the store knows: edit (or post) it.
    pub async fn head_due(&self, head_job: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO followed_replies (job_id, version) VALUES ($1, 1) \
             ON CONFLICT (job_id) DO UPDATE SET version = followed_replies.version + 1",
        )
        .bind(head_job)
        .execute(self.pool())
        .await
        .context("mark the head due")?;
        Ok(())
    }

    /// Records the head's comment id (the head's job row is not leased).
    pub async fn set_head_comment(&self, head_job: i64, comment: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET reply_comment_id = $1, updated_at = $2 WHERE id = $3")
            .bind(comment)
            .bind(now_ms())
            .bind(head_job)
            .execute(self.pool())
            .await
            .context("save the head's comment")?;
        Ok(())
    }

    /// Follows `group` on Pulse until `until_ms` (kept for the latest head).
    pub async fn follow_auto_group(
        &self,
        task_group_id: &str,
        head: &Head,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auto_rerun_groups (task_group_id, repo, installation, pr, head_sha, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (task_group_id) DO UPDATE SET \
             repo = $2, installation = $3, pr = $4, head_sha = $5, expires_at = $6",
        )
        .bind(task_group_id)
        .bind(&head.repo)
        .bind(i64::try_from(head.installation).unwrap_or(i64::MAX))
        .bind(i64::try_from(head.pr).unwrap_or(i64::MAX))
        .bind(&head.sha)
        .bind(until_ms)
        .execute(self.pool())
        .await
        .context("follow group")?;
        Ok(())
    }

    /// The groups followed on `task-group-resolved` now.
    pub async fn auto_groups(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT task_group_id FROM auto_rerun_groups WHERE expires_at > $1 \
             ORDER BY task_group_id",
        )
        .bind(now_ms())
        .fetch_all(self.pool())
        .await
        .context("followed groups")
    }

    /// A followed group and its head.
    pub async fn auto_group(&self, task_group_id: &str) -> Result<Option<AutoGroup>, StoreError> {
        let row: Option<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT repo, installation, pr, head_sha FROM auto_rerun_groups \
             WHERE task_group_id = $1 AND expires_at > $2",
        )
        .bind(task_group_id)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await
        .context("read group")?;
        Ok(row.map(|(repo, installation, pr, sha)| AutoGroup {
            task_group_id: task_group_id.to_owned(),
            head: Head {
                repo,
                installation: u64::try_from(installation).unwrap_or_default(),
                pr: u64::try_from(pr).unwrap_or_default(),
                sha,
            },
        }))
    }
}

impl Store {
    /// Drops an automatic rerun the queue refused for good (past its
    /// deadline, out of runs): it did not happen, so it is neither shown
    /// nor counted.
    pub async fn forget_auto_rerun(
        &self,
        head: &Head,
        task_id: &str,
        runs_seen: u32,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM auto_reruns WHERE repo = $1 AND head_sha = $2 AND task_id = $3 \
             AND runs_seen = $4",
        )
        .bind(&head.repo)
        .bind(&head.sha)
        .bind(task_id)
        .bind(i64::from(runs_seen))
        .execute(self.pool())
        .await
        .context("forget automatic rerun")?;
        Ok(())
    }
}
