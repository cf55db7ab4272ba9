//! Watches (DESIGN.md §13): one row per run rerunbot started (a rerun, or a
//! retrigger copy's first run) and follows until it resolves, and one row
//! per followed reply, which is edited as those runs resolve.
//!
//! Both are leased like jobs, on the database's clock: a poller claims due
//! watches for a while, and a process that dies leaves them to another once
//! the lease expires. A resolution is a fact about a run, so recording it
//! needs no lease and is idempotent: only an open watch changes, and a
//! redelivered event changes nothing. Every resolution bumps the reply's
//! `version`; an edit records the version it showed, so an edit that raced
//! with a newer resolution leaves the reply due again.

use super::{Backend, Context, Store, StoreError};
use std::time::Duration;

/// A run to follow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewWatch {
    pub task_id: String,
    pub run_id: u32,
    pub task_group_id: String,
    /// For an in-tree action task: what it is expected to make (JSON, read
    /// by `follow::made`), looked for once it completed.
    pub expect: Option<String>,
    /// For a run an action task made: that action task.
    pub made_by: Option<String>,
    /// For a run an action task made: the label it was made for.
    pub label: Option<String>,
}

/// A watch as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub id: i64,
    pub job_id: i64,
    pub task_id: String,
    pub run_id: u32,
    pub task_group_id: String,
    /// `None` while open; the run's resolved state (`completed`, `failed`,
    /// `exception`) after.
    pub result: Option<String>,
    pub reason: Option<String>,
    /// An action task's expectation, until what it made is watched.
    pub expect: Option<String>,
    /// The action task that made this run.
    pub made_by: Option<String>,
    /// The label this run was made for (runs an action task made).
    pub label: Option<String>,
}

/// Due watches claimed for one look at the queue.
#[derive(Clone, Debug)]
pub struct WatchBatch {
    pub watches: Vec<Watch>,
    pub lease: String,
}

/// A reply that is due for an edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueReply {
    pub job_id: i64,
    /// The version this edit will show.
    pub version: i64,
    /// The final reaction was added already.
    pub reacted: bool,
    pub lease: String,
}

type WatchRow = (
    i64,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
const WATCH_COLUMNS: &str =
    "id, job_id, task_id, run_id, task_group_id, result, reason, expect, made_by, label";

fn watch_from_row(row: WatchRow) -> Watch {
    let (id, job_id, task_id, run_id, task_group_id, result, reason, expect, made_by, label) = row;
    Watch {
        id,
        job_id,
        task_id,
        run_id: u32::try_from(run_id).unwrap_or(u32::MAX),
        task_group_id,
        result,
        reason,
        expect,
        made_by,
        label,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    fn skip_locked(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Starts following `watches` for a job (idempotent: a retried job adds
    /// nothing twice), first checked after `first_check`.
    pub async fn add_watches(
        &self,
        job_id: i64,
        watches: &[NewWatch],
        first_check: Duration,
    ) -> Result<(), StoreError> {
        if watches.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await.context("begin")?;
        self.insert_watches(&mut tx, job_id, watches, first_check)
            .await?;
        sqlx::query(
            "INSERT INTO followed_replies (job_id) VALUES ($1) ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(job_id)
        .execute(&mut *tx)
        .await
        .context("add followed reply")?;
        tx.commit().await.context("commit watches")
    }

    pub(super) async fn insert_watches(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        job_id: i64,
        watches: &[NewWatch],
        first_check: Duration,
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "INSERT INTO watches (job_id, task_id, run_id, task_group_id, state, next_check, \
                 created_at, updated_at, expect, made_by, label) \
             VALUES ($1, $2, $3, $4, 'open', {now} + $5, {now}, {now}, $6, $7, $8) \
             ON CONFLICT (job_id, task_id, run_id) DO NOTHING"
        );
        for w in watches {
            sqlx::query(&sql)
                .bind(job_id)
                .bind(&w.task_id)
                .bind(i64::from(w.run_id))
                .bind(&w.task_group_id)
                .bind(ms(first_check))
                .bind(&w.expect)
                .bind(&w.made_by)
                .bind(&w.label)
                .execute(&mut **tx)
                .await
                .context("add watch")?;
        }
        Ok(())
    }

    /// Completed action tasks whose expectation is due to be looked at
    /// (what they made is not watched yet), oldest first.
    pub async fn due_expectations(&self, limit: usize) -> Result<Vec<Watch>, StoreError> {
        let now = self.db_now();
        let sql = format!(
            "SELECT {WATCH_COLUMNS} FROM watches WHERE expect IS NOT NULL \
             AND result = 'completed' AND next_check <= {now} ORDER BY next_check, id LIMIT $1"
        );
        let rows: Vec<WatchRow> = sqlx::query_as(&sql)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .context("read expectations")?;
        Ok(rows.into_iter().map(watch_from_row).collect())
    }

    /// An action task's expectation met: what it `made` is watched from
    /// now on (idempotent, like [`Self::add_watches`]), the expectation
    /// cleared and the reply made due for an edit that shows it — in one
    /// transaction, so a process killed half-way leaves it due.
    pub async fn expectation_met(
        &self,
        action: &Watch,
        made: &[NewWatch],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.context("begin")?;
        self.insert_watches(&mut tx, action.job_id, made, Duration::ZERO)
            .await?;
        sqlx::query("UPDATE watches SET expect = NULL WHERE id = $1")
            .bind(action.id)
            .execute(&mut *tx)
            .await
            .context("clear expectation")?;
        sqlx::query("UPDATE followed_replies SET version = version + 1 WHERE job_id = $1")
            .bind(action.job_id)
            .execute(&mut *tx)
            .await
            .context("mark reply due")?;
        tx.commit().await.context("commit expectation")
    }

    /// An expectation that could not be looked at now: again after `next_in`.
    pub async fn postpone_expectation(&self, id: i64, next_in: Duration) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!("UPDATE watches SET next_check = {now} + $1 WHERE id = $2");
        sqlx::query(&sql)
            .bind(ms(next_in))
            .bind(id)
            .execute(self.pool())
            .await
            .context("postpone expectation")?;
        Ok(())
    }

    /// Open watches whose next check is due, claimed or not: zero once
    /// every watch has been looked at since it was added or last woken (a
    /// backlog figure for operators, and what a caller awaits before it
    /// counts on the first look having happened).
    pub async fn due_watch_count(&self) -> Result<i64, StoreError> {
        let now = self.db_now();
        let sql =
            format!("SELECT COUNT(*) FROM watches WHERE state = 'open' AND next_check <= {now}");
        let (count,): (i64,) = sqlx::query_as(&sql)
            .fetch_one(self.pool())
            .await
            .context("count due watches")?;
        Ok(count)
    }

    /// Claims up to `limit` open watches whose next check is due, for
    /// `lease_for`.
    pub async fn claim_due_watches(
        &self,
        lease_for: Duration,
        limit: usize,
    ) -> Result<WatchBatch, StoreError> {
        let now = self.db_now();
        let lease = uuid::Uuid::new_v4().simple().to_string();
        let sql = format!(
            "UPDATE watches SET lease_owner = $1, lease_until = {now} + $2, updated_at = {now} \
             WHERE id IN (SELECT id FROM watches WHERE state = 'open' AND next_check <= {now} \
                 AND (lease_until IS NULL OR lease_until < {now}) \
                 ORDER BY next_check, id LIMIT $3{lock}) \
             RETURNING {WATCH_COLUMNS}",
            lock = self.skip_locked()
        );
        let rows: Vec<WatchRow> = sqlx::query_as(&sql)
            .bind(&lease)
            .bind(ms(lease_for))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .context("claim watches")?;
        Ok(WatchBatch {
            watches: rows.into_iter().map(watch_from_row).collect(),
            lease,
        })
    }

    /// Gives claimed watches that are still open back, to be checked again
    /// after `next_in`.
    pub async fn postpone_watches(
        &self,
        batch: &WatchBatch,
        ids: &[i64],
        next_in: Duration,
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE watches SET lease_owner = NULL, lease_until = NULL, next_check = {now} + $1, \
             updated_at = {now} WHERE id = $2 AND lease_owner = $3 AND state = 'open'"
        );
        for id in ids {
            sqlx::query(&sql)
                .bind(ms(next_in))
                .bind(id)
                .bind(&batch.lease)
                .execute(self.pool())
                .await
                .context("postpone watch")?;
        }
        Ok(())
    }

    /// Records that run `run_id` of `task_id` resolved as `result`. Every
    /// open watch of that run is closed (an action task's expectation due
    /// at once) and its reply becomes due for an edit. Returns the jobs whose watches changed (empty for an event
    /// seen before).
    pub async fn resolve_run(
        &self,
        task_id: &str,
        run_id: u32,
        result: &str,
        reason: Option<&str>,
    ) -> Result<Vec<i64>, StoreError> {
        let now = self.db_now();
        let mut tx = self.pool().begin().await.context("begin")?;
        let sql = format!(
            "UPDATE watches SET state = 'resolved', result = $1, reason = $2, lease_owner = NULL, \
             lease_until = NULL, next_check = {now}, updated_at = {now} \
             WHERE task_id = $3 AND run_id = $4 AND state = 'open' RETURNING job_id"
        );
        let mut jobs: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(result)
            .bind(reason)
            .bind(task_id)
            .bind(i64::from(run_id))
            .fetch_all(&mut *tx)
            .await
            .context("resolve watch")?;
        jobs.sort_unstable();
        jobs.dedup();
        for job in &jobs {
            sqlx::query("UPDATE followed_replies SET version = version + 1 WHERE job_id = $1")
                .bind(job)
                .execute(&mut *tx)
                .await
                .context("mark reply due")?;
        }
        tx.commit().await.context("commit resolution")?;
        Ok(jobs)
    }

    /// Fills in a watch's task group, learned at its first check.
    pub async fn set_watch_group(&self, id: i64, task_group_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE watches SET task_group_id = $1 WHERE id = $2")
            .bind(task_group_id)
            .bind(id)
            .execute(self.pool())
            .await
            .context("set watch group")?;
        Ok(())
    }

    /// After a job posted its reply: if a watched run resolved before the
    /// reply existed, the reply is made due for an edit that shows it.
    pub async fn reply_posted(&self, job_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE followed_replies SET version = version + 1 WHERE job_id = $1 \
             AND EXISTS (SELECT 1 FROM watches WHERE job_id = $1 AND state <> 'open')",
        )
        .bind(job_id)
        .execute(self.pool())
        .await
        .context("mark reply due")?;
        Ok(())
    }

    /// Every watch of a job, oldest first.
    pub async fn watches_of_job(&self, job_id: i64) -> Result<Vec<Watch>, StoreError> {
        let sql = format!("SELECT {WATCH_COLUMNS} FROM watches WHERE job_id = $1 ORDER BY id");
        let rows: Vec<WatchRow> = sqlx::query_as(&sql)
            .bind(job_id)
            .fetch_all(self.pool())
            .await
            .context("read watches")?;
        Ok(rows.into_iter().map(watch_from_row).collect())
    }

    /// Task groups with at least one open watch (Pulse binds one routing
    /// key per group).
    pub async fn watched_groups(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT DISTINCT task_group_id FROM watches \
             WHERE state = 'open' AND task_group_id <> '' ORDER BY task_group_id",
        )
        .fetch_all(self.pool())
        .await
        .context("watched groups")
    }

    /// How many watches are open.
    pub async fn open_watches(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM watches WHERE state = 'open'")
            .fetch_one(self.pool())
            .await
            .context("count watches")
    }

    /// Claims up to `limit` replies with a resolution they do not show yet
    /// and whose coalescing window has passed.
    pub async fn claim_due_replies(
        &self,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<DueReply>, StoreError> {
        let now = self.db_now();
        let lease = uuid::Uuid::new_v4().simple().to_string();
        let sql = format!(
            "UPDATE followed_replies SET lease_owner = $1, lease_until = {now} + $2 \
             WHERE job_id IN (SELECT job_id FROM followed_replies WHERE version > edited_version \
                 AND edit_after <= {now} AND (lease_until IS NULL OR lease_until < {now}) \
                 ORDER BY edit_after, job_id LIMIT $3{lock}) \
             RETURNING job_id, version, reacted",
            lock = self.skip_locked()
        );
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&sql)
            .bind(&lease)
            .bind(ms(lease_for))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .context("claim replies")?;
        Ok(rows
            .into_iter()
            .map(|(job_id, version, reacted)| DueReply {
                job_id,
                version,
                reacted: reacted != 0,
                lease: lease.clone(),
            })
            .collect())
    }

    /// Records an edit showing `reply.version`; the next one waits
    /// `coalesce`. `reacted`: the final reaction was added.
    pub async fn reply_edited(
        &self,
        reply: &DueReply,
        coalesce: Duration,
        reacted: bool,
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE followed_replies SET edited_version = $1, edit_after = {now} + $2, \
             reacted = $3, lease_owner = NULL, lease_until = NULL \
             WHERE job_id = $4 AND lease_owner = $5"
        );
        sqlx::query(&sql)
            .bind(reply.version)
            .bind(ms(coalesce))
            .bind(i64::from(reacted || reply.reacted))
            .bind(reply.job_id)
            .bind(&reply.lease)
            .execute(self.pool())
            .await
            .context("record edit")?;
        Ok(())
    }

    /// Gives a claimed reply back unedited (the edit failed), to be tried
    /// again after `retry_in`.
    pub async fn reply_not_edited(
        &self,
        reply: &DueReply,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE followed_replies SET edit_after = {now} + $1, lease_owner = NULL, lease_until = NULL \
             WHERE job_id = $2 AND lease_owner = $3"
        );
        sqlx::query(&sql)
            .bind(ms(retry_in))
            .bind(reply.job_id)
            .bind(&reply.lease)
            .execute(self.pool())
            .await
            .context("release reply")?;
        Ok(())
    }
}
