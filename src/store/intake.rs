//! The deliveries' own way into SQLite. SQLite has one writer at a time,
//! and a connection that finds the write lock taken sleeps in SQLite's
//! busy handler (1, 2, 5, 10 … ms) rather than being woken: deliveries
//! written through the shared pool queued behind the workers' writes and
//! behind each other, which is what put the stored path's p99 at 50–200 ms.
//!
//! Here one task owns one connection that only inserts jobs. Deliveries
//! that arrive while it writes wait in a channel and are then committed
//! together in one transaction (group commit), so concurrent deliveries
//! never contend for the lock among themselves, and the connection retries
//! the lock every [`LOCK_RETRY`] instead of sleeping SQLite's schedule when
//! a worker holds it. Each delivery is answered only after its commit
//! (DESIGN.md §10: stored before acknowledged); a GUID seen before, in an
//! earlier commit or earlier in the same batch, is a duplicate. Postgres
//! needs none of this: its writers do not exclude each other.

use super::{EnqueueResult, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Deliveries committed in one transaction at most.
const MAX_BATCH: usize = 256;
/// Deliveries waiting for the writer at most; more wait to be queued.
const BACKLOG: usize = 4096;
/// How often the writer asks again for a write lock another connection holds.
pub(super) const LOCK_RETRY: Duration = Duration::from_micros(100);
/// How long the writer waits for the write lock in all (the pool's too).
pub(super) const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A delivery to store, and where to say how it went.
struct Request {
    delivery_id: String,
    event: String,
    payload: String,
    answer: oneshot::Sender<Result<EnqueueResult, StoreError>>,
}

/// The sending side of the writer; cheap to clone. The writer stops when
/// every clone is dropped.
#[derive(Clone, Debug)]
pub(super) struct Intake {
    requests: mpsc::Sender<Request>,
}

impl Intake {
    /// Opens the writer's connection on `url` (a `sqlite:` URL whose
    /// schema is already migrated) and starts the writer task.
    pub(super) async fn start(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Database {
                context: "delivery writer options",
                source,
            })?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(LOCK_TIMEOUT)
            .foreign_keys(true)
            // Checkpoints (copying the WAL back, with an fsync) are made by
            // the store's checkpointer off this path (see `checkpoint`):
            // here one would hold up every delivery of the batch behind it.
            .pragma("wal_autocheckpoint", "0");
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|source| StoreError::Database {
                context: "delivery writer connect",
                source,
            })?;
        super::busy::retry_often(&mut conn)
            .await
            .map_err(|source| StoreError::Database {
                context: "delivery writer busy handler",
                source,
            })?;
        let (requests, queue) = mpsc::channel(BACKLOG);
        tokio::spawn(write(conn, queue));
        Ok(Self { requests })
    }

    /// Stores one delivery; returns once it is committed (or refused).
    pub(super) async fn enqueue(
        &self,
        job: &super::NewJob<'_>,
    ) -> Result<EnqueueResult, StoreError> {
        let (answer, answered) = oneshot::channel();
        let request = Request {
            delivery_id: job.delivery_id.to_owned(),
            event: job.event.to_owned(),
            payload: job.payload.to_owned(),
            answer,
        };
        if self.requests.send(request).await.is_err() {
            return Err(stopped());
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Database {
        context: "enqueue: the delivery writer stopped",
        source: sqlx::Error::PoolClosed,
    }
}

/// The insert, on the database's clock.
fn insert() -> String {
    let now = super::SQLITE_NOW;
    format!(
        "INSERT INTO jobs \
         (delivery_id, event, payload, state, attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', 0, {now}, {now}, {now}) \
         ON CONFLICT (delivery_id) DO NOTHING RETURNING id"
    )
}

/// The writer: takes what is waiting (at least one delivery), commits it
/// as one transaction, answers each, and goes on until every sender is gone.
async fn write(mut conn: SqliteConnection, mut queue: mpsc::Receiver<Request>) {
    let insert = insert();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit(&mut conn, &insert, &batch).await {
            Ok(results) => {
                for (request, result) in batch.drain(..).zip(results) {
                    let _ = request.answer.send(Ok(result));
                }
            }
            // One delivery's failure must not refuse the others: each is
            // tried alone; what fails again is answered with its error.
            Err(_) => {
                for request in batch.drain(..) {
                    let result = commit(&mut conn, &insert, std::slice::from_ref(&request))
                        .await
                        .map(|mut results| results.pop().unwrap_or(EnqueueResult::Duplicate));
                    let _ = request.answer.send(result);
                }
            }
        }
    }
    let _ = conn.close().await;
}

/// Inserts `batch` in one transaction; one result per delivery, in order.
/// A GUID already stored, or earlier in the batch, is a duplicate.
async fn commit(
    conn: &mut SqliteConnection,
    insert: &str,
    batch: &[Request],
) -> Result<Vec<EnqueueResult>, StoreError> {
    let database = |context| move |source| StoreError::Database { context, source };
    if let [one] = batch {
        // Alone: the insert commits itself, one call instead of three.
        return Ok(vec![insert_one(conn, insert, one).await?]);
    }
    let mut tx = conn.begin().await.map_err(database("enqueue: begin"))?;
    let mut results = Vec::with_capacity(batch.len());
    for request in batch {
        results.push(insert_one(&mut tx, insert, request).await?);
    }
    tx.commit().await.map_err(database("enqueue: commit"))?;
    Ok(results)
}

/// One delivery's insert on `conn` (or in its open transaction).
async fn insert_one(
    conn: &mut SqliteConnection,
    insert: &str,
    request: &Request,
) -> Result<EnqueueResult, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(insert)
        .bind(&request.delivery_id)
        .bind(&request.event)
        .bind(&request.payload)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|source| StoreError::Database {
            context: "enqueue",
            source,
        })?;
    Ok(id.map_or(EnqueueResult::Duplicate, EnqueueResult::Inserted))
}

/// How often the WAL is checkpointed off the delivery path.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on a pool connection
/// (`PASSIVE`: it copies what no reader still needs and never waits for
/// the write lock), so the delivery writer, which makes none itself, never
/// pays a checkpoint's fsync inside a commit and the WAL stays short. Stops
/// when the pool is closed.
pub(super) fn checkpoint(pool: sqlx::AnyPool) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            every.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    break;
                }
                tracing::debug!(error = %e, "WAL checkpoint failed; trying again");
            }
        }
    });
}
