//! The durable state: jobs (one per accepted delivery), their plans,
//! outcomes and what each action unit came to, the ledger of actions, and
//! the watches that follow what was started. One code path for SQLite and
//! Postgres through sqlx's `Any` driver; the few statements that differ are
//! chosen by [`Backend`].

mod auto_reruns;
mod budget;
mod busy;
mod hold;
mod intake;
mod jobs;
mod ledger;
mod migrate;
mod purge;
mod units;
mod waits;
mod watches;

pub use auto_reruns::{AutoGroup, AutoRefusal, AutoRerunRow, Head, HEAD_EVENT};
pub use hold::LeaseHold;
pub use jobs::{Claim, EnqueueResult, Job, JobState, NewJob};
pub use ledger::{PlanSaved, PlannedAction, PlannedJob, Recorded};
pub use waits::{NewWait, StoredWait, WaitEnd};
pub use watches::{DueReply, NewWatch, Watch, WatchBatch};

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the deliveries' own writer (see `intake`).
    intake: Option<intake::Intake>,
}

/// A database error, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A write guarded by the job's lease found the lease gone: another
    /// worker owns the job now, and this one must stop.
    #[error("the job's lease was taken over by another worker")]
    LeaseLost,
    /// Other writers kept winning; retrying later will do.
    #[error("database busy: {0}")]
    Busy(&'static str),
}

pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { context, source })
    }
}

impl Store {
    /// Connects and runs the migrations for the URL's backend.
    /// `sqlite://PATH` creates the file if needed and uses WAL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else {
            (Backend::Postgres, url.to_owned())
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            // One writer at a time is SQLite's model; a small pool avoids
            // piling up on the write lock while still letting reads overlap.
            Backend::Sqlite => options
                .max_connections(4)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .context("connect")?,
            Backend::Postgres => options
                .max_connections(16)
                .connect(&url)
                .await
                .context("connect")?,
        };
        let mut store = Store {
            pool,
            backend,
            intake: None,
        };
        migrate::run(&store).await?;
        if backend == Backend::Sqlite {
            store.intake = Some(intake::Intake::start(&url).await?);
            intake::checkpoint(store.pool.clone());
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database's clock in Unix milliseconds, as SQL. Leases and retry
    /// times are read and written on this one clock, so replicas whose own
    /// clocks disagree still agree on when a lease expires.
    pub(crate) fn db_now(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => SQLITE_NOW,
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite's clock in Unix milliseconds, as SQL (see [`Store::db_now`]).
const SQLITE_NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// Milliseconds since the Unix epoch: the one time format in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
