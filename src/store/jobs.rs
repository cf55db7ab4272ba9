//! The job queue. A job is inserted with its delivery GUID (unique, so a
//! redelivery inserts nothing), claimed with a lease (a fresh token per
//! claim, so a worker whose lease was taken over cannot complete the job),
//! retried with a delay, and finally marked done or failed.

use super::{now_ms, Backend, Context, LeaseHold, Store, StoreError};
use std::time::Duration;

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A job to insert for an accepted delivery.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    pub delivery_id: &'a str,
    pub event: &'a str,
    /// JSON text of what the worker needs (not the whole webhook body).
    pub payload: &'a str,
}

/// Result of [`Store::enqueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnqueueResult {
    Inserted(i64),
    /// The delivery GUID was seen before; nothing was inserted.
    Duplicate,
}

/// A claimed job, with the lease that proves the claim.
#[derive(Clone, Debug)]
pub struct Claim {
    pub job: Job,
    pub lease: String,
    /// This process's view of the lease (see [`LeaseHold`]).
    pub hold: LeaseHold,
    /// Time since the job was queued, on the database's clock, at the claim:
    /// what the retry budget is measured against.
    pub age: Duration,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: i64,
    pub delivery_id: String,
    pub event: String,
    pub payload: String,
    pub state: JobState,
    /// Claims so far, including the current one.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub plan: Option<String>,
    pub outcome: Option<String>,
    pub reply_comment_id: Option<i64>,
    /// Set when the job gave up with this error but its report to the pull
    /// request is still owed: it is only re-run to deliver that report.
    pub gave_up: Option<String>,
}

type JobRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

const JOB_COLUMNS: &str = "id, delivery_id, event, payload, state, attempts, last_error, plan, \
     outcome, reply_comment_id, gave_up";

/// A job row and its age in milliseconds.
type ClaimRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
);

fn job_from_row(row: JobRow) -> Job {
    let (
        id,
        delivery_id,
        event,
        payload,
        state,
        attempts,
        last_error,
        plan,
        outcome,
        reply,
        gave_up,
    ) = row;
    Job {
        id,
        delivery_id,
        event,
        payload,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        attempts,
        last_error,
        plan,
        outcome,
        reply_comment_id: reply,
        gave_up,
    }
}

impl Store {
    /// Inserts a job for a delivery, once per delivery GUID. Committed when
    /// this returns, so the caller may acknowledge the delivery.
    ///
    /// On SQLite the delivery goes through the deliveries' own writer,
    /// committed with whatever other deliveries arrived meanwhile.
    pub async fn enqueue(&self, job: NewJob<'_>) -> Result<EnqueueResult, StoreError> {
        if let Some(intake) = &self.intake {
            return intake.enqueue(&job).await;
        }
        let now = self.db_now();
        let sql = format!(
            "INSERT INTO jobs (delivery_id, event, payload, state, attempts, run_after, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', 0, {now}, {now}, {now}) \
             ON CONFLICT (delivery_id) DO NOTHING RETURNING id"
        );
        let id: Option<i64> = sqlx::query_scalar(&sql)
            .bind(job.delivery_id)
            .bind(job.event)
            .bind(job.payload)
            .fetch_optional(self.pool())
            .await
            .context("enqueue")?;
        Ok(id.map_or(EnqueueResult::Duplicate, EnqueueResult::Inserted))
    }

    /// Claims the oldest ready job: queued and due, or running with an
    /// expired lease (its worker died). Increments `attempts`.
    pub async fn claim(&self, lease_for: Duration) -> Result<Option<Claim>, StoreError> {
        let now = self.db_now();
        let lease = uuid::Uuid::new_v4().simple().to_string();
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = {now} + $2, \
             attempts = attempts + 1, updated_at = {now} \
             WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND run_after <= {now}) \
                 OR (state = 'running' AND lease_until < {now}) ORDER BY run_after, id LIMIT 1{lock}) \
             RETURNING {JOB_COLUMNS}, {now} - created_at"
        );
        // Before the query: the lease counts from no later than this.
        let asked = tokio::time::Instant::now();
        let row: Option<ClaimRow> = sqlx::query_as(&sql)
            .bind(&lease)
            .bind(duration_ms(lease_for))
            .fetch_optional(self.pool())
            .await
            .context("claim")?;
        Ok(row.map(|row| {
            let (id, delivery_id, event, payload, state, attempts, last_error, plan) =
                (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
            let age_ms = u64::try_from(row.11).unwrap_or(0);
            Claim {
                job: job_from_row((
                    id,
                    delivery_id,
                    event,
                    payload,
                    state,
                    attempts,
                    last_error,
                    plan,
                    row.8,
                    row.9,
                    row.10,
                )),
                lease,
                hold: LeaseHold::new(asked, lease_for),
                age: Duration::from_millis(age_ms),
            }
        }))
    }

    /// Extends a lease while its job is still being worked on. False when
    /// the lease is no longer ours.
    pub async fn extend_lease(
        &self,
        claim: &Claim,
        lease_for: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE jobs SET lease_until = {now} + $1, updated_at = {now} \
             WHERE id = $2 AND lease_owner = $3 AND state = 'running'"
        );
        let result = sqlx::query(&sql)
            .bind(duration_ms(lease_for))
            .bind(claim.job.id)
            .bind(&claim.lease)
            .execute(self.pool())
            .await
            .context("extend lease")?;
        Ok(result.rows_affected() == 1)
    }

    /// Marks the job done.
    pub async fn complete(&self, claim: &Claim) -> Result<bool, StoreError> {
        self.finish(claim, JobState::Done, None, None).await
    }

    /// Puts the job back in the queue to run again after `delay`.
    pub async fn retry_later(
        &self,
        claim: &Claim,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError> {
        self.finish(claim, JobState::Queued, Some(error), Some(delay))
            .await
    }

    /// The job gave up with `error`, but its report could not be delivered:
    /// queue it again after `delay`, only to report.
    pub async fn report_later(
        &self,
        claim: &Claim,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE jobs SET state = 'queued', last_error = $1, gave_up = $1, run_after = {now} + $2, \
             lease_owner = NULL, lease_until = NULL, updated_at = {now} \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'"
        );
        let result = sqlx::query(&sql)
            .bind(error)
            .bind(duration_ms(delay))
            .bind(claim.job.id)
            .bind(&claim.lease)
            .execute(self.pool())
            .await
            .context("report later")?;
        Ok(result.rows_affected() == 1)
    }

    /// Marks the job failed for good, keeping the error.
    pub async fn fail(&self, claim: &Claim, error: &str) -> Result<bool, StoreError> {
        self.finish(claim, JobState::Failed, Some(error), None)
            .await
    }

    /// Gives a claimed job back untouched (shutdown): the attempt is not
    /// counted and another worker may take it at once.
    pub async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, \
             attempts = attempts - 1, updated_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now_ms())
        .bind(claim.job.id)
        .bind(&claim.lease)
        .execute(self.pool())
        .await
        .context("release")?;
        Ok(result.rows_affected() == 1)
    }

    async fn finish(
        &self,
        claim: &Claim,
        state: JobState,
        error: Option<&str>,
        delay: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE jobs SET state = $1, last_error = COALESCE($2, last_error), run_after = {now} + $3, \
             lease_owner = NULL, lease_until = NULL, updated_at = {now} \
             WHERE id = $4 AND lease_owner = $5 AND state = 'running'"
        );
        let result = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(error)
            .bind(delay.map_or(0, duration_ms))
            .bind(claim.job.id)
            .bind(&claim.lease)
            .execute(self.pool())
            .await
            .context("finish job")?;
        Ok(result.rows_affected() == 1)
    }

    /// Stores the job's plan (JSON), before anything is dispatched.
    pub async fn save_plan(&self, claim: &Claim, plan: &str) -> Result<(), StoreError> {
        self.set_job_text(claim, "plan", plan).await
    }

    /// Stores the job's dispatch outcome (JSON).
    pub async fn save_outcome(&self, claim: &Claim, outcome: &str) -> Result<(), StoreError> {
        self.set_job_text(claim, "outcome", outcome).await
    }

    async fn set_job_text(
        &self,
        claim: &Claim,
        column: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE jobs SET {column} = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'"
        );
        let result = sqlx::query(&sql)
            .bind(value)
            .bind(now_ms())
            .bind(claim.job.id)
            .bind(&claim.lease)
            .execute(self.pool())
            .await
            .context("save job state")?;
        held(result.rows_affected())
    }

    /// Remembers the reply comment, so a retried job edits it.
    pub async fn save_reply_comment(
        &self,
        claim: &Claim,
        comment_id: i64,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET reply_comment_id = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
        )
        .bind(comment_id)
        .bind(now_ms())
        .bind(claim.job.id)
        .bind(&claim.lease)
        .execute(self.pool())
        .await
        .context("save reply comment")?;
        held(result.rows_affected())
    }

    /// Reads one job.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .context("read job")?;
        Ok(row.map(job_from_row))
    }

    /// Reads the job of a delivery.
    pub async fn job_by_delivery(&self, delivery_id: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE delivery_id = $1");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await
            .context("read job")?;
        Ok(row.map(job_from_row))
    }

    /// Jobs in each state: (queued, running, done, failed). Reads every
    /// row of the history: not for every metrics scrape.
    pub async fn job_counts(&self) -> Result<[i64; 4], StoreError> {
        self.count_jobs("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .await
    }

    /// Queued and running jobs (done and failed left at 0): read through
    /// the `(state, run_after)` index, in proportion to the queue, not the
    /// history, so cheap enough for every scrape.
    pub async fn active_job_counts(&self) -> Result<[i64; 4], StoreError> {
        self.count_jobs(
            "SELECT state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running') GROUP BY state",
        )
        .await
    }

    async fn count_jobs(&self, sql: &str) -> Result<[i64; 4], StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sql)
            .fetch_all(self.pool())
            .await
            .context("count jobs")?;
        let mut counts = [0; 4];
        for (state, n) in rows {
            let slot = match JobState::parse(&state) {
                Some(JobState::Queued) => 0,
                Some(JobState::Running) => 1,
                Some(JobState::Done) => 2,
                Some(JobState::Failed) => 3,
                None => continue,
            };
            counts[slot] = n;
        }
        Ok(counts)
    }
}

/// A lease-guarded write changed its row, or the lease is gone.
fn held(rows: u64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost)
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
