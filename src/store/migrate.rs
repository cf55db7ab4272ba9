//! Schema migrations, one list per backend, applied in order at startup and
//! recorded in `schema_migrations`. Postgres replicas starting together
//! serialise on an advisory lock.

use super::{Backend, Context, Store, StoreError};
use sqlx::Executor;

const SQLITE: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT    NOT NULL UNIQUE,
    event            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    plan             TEXT,
    outcome          TEXT,
    reply_comment_id INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, run_after);
CREATE TABLE IF NOT EXISTS actions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL,
    repo       TEXT    NOT NULL,
    head_sha   TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    task_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (job_id, task_id, kind)
);
CREATE INDEX IF NOT EXISTS actions_by_head ON actions (repo, head_sha);
"#,
    r#"
CREATE TABLE IF NOT EXISTS plan_locks (
    repo     TEXT    NOT NULL,
    head_sha TEXT    NOT NULL,
    plans    INTEGER NOT NULL,
    PRIMARY KEY (repo, head_sha)
);
"#,
    // The error a job gave up with while its report to the pull request is
    // still owed (GitHub was down): the job is only re-run to report it.
    "ALTER TABLE jobs ADD COLUMN gave_up TEXT;",
    // What each action unit of a job came to (see `units`).
    r#"
CREATE TABLE IF NOT EXISTS job_units (
    job_id     INTEGER NOT NULL,
    unit       TEXT    NOT NULL,
    result     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, unit)
);
"#,
    r#"
CREATE TABLE IF NOT EXISTS watches (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        INTEGER NOT NULL,
    task_id       TEXT    NOT NULL,
    run_id        INTEGER NOT NULL,
    task_group_id TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    result        TEXT,
    reason        TEXT,
    next_check    INTEGER NOT NULL,
    lease_owner   TEXT,
    lease_until   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (job_id, task_id, run_id)
);
CREATE INDEX IF NOT EXISTS watches_due ON watches (state, next_check);
CREATE INDEX IF NOT EXISTS watches_by_task ON watches (task_id, run_id);
CREATE INDEX IF NOT EXISTS watches_by_group ON watches (task_group_id, state);
CREATE TABLE IF NOT EXISTS followed_replies (
    job_id         INTEGER PRIMARY KEY,
    version        INTEGER NOT NULL DEFAULT 0,
    edited_version INTEGER NOT NULL DEFAULT 0,
    edit_after     INTEGER NOT NULL DEFAULT 0,
    reacted        INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_until    INTEGER
);
"#,
    // GitHub's content-creation budget, shared by every process (see `budget`).
    r#"
CREATE TABLE IF NOT EXISTS content_budgets (
    installation INTEGER PRIMARY KEY,
    asked        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS content_grants (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    installation INTEGER NOT NULL,
    granted_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS content_grants_window ON content_grants (installation, granted_at);
"#,
    // Actions that wait for other runs (see `waits`).
    r#"
CREATE TABLE IF NOT EXISTS waits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL,
    plan_index  INTEGER NOT NULL,
    row_index   INTEGER NOT NULL,
    task_id     TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    outcome     TEXT,
    next_check  INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (job_id, plan_index, row_index)
);
CREATE INDEX IF NOT EXISTS waits_due ON waits (state, next_check);
CREATE INDEX IF NOT EXISTS waits_by_job ON waits (job_id);
"#,
    // Automatic reruns (see `auto_reruns`).
    r#"
CREATE TABLE IF NOT EXISTS auto_reruns (
    repo        TEXT    NOT NULL,
    head_sha    TEXT    NOT NULL,
    task_id     TEXT    NOT NULL,
    runs_seen   INTEGER NOT NULL,
    label       TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    job_id      INTEGER NOT NULL,
    head_job_id INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (repo, head_sha, task_id, runs_seen)
);
CREATE INDEX IF NOT EXISTS auto_reruns_by_head ON auto_reruns (head_job_id);
CREATE TABLE IF NOT EXISTS auto_rerun_refusals (
    head_job_id   INTEGER NOT NULL,
    task_group_id TEXT    NOT NULL,
    failed        INTEGER NOT NULL,
    total         INTEGER NOT NULL,
    max_percent   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (head_job_id, task_group_id)
);
CREATE TABLE IF NOT EXISTS auto_rerun_groups (
    task_group_id TEXT    PRIMARY KEY,
    repo          TEXT    NOT NULL,
    installation  INTEGER NOT NULL,
    pr            INTEGER NOT NULL,
    head_sha      TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL
);
"#,
    // What an in-tree action task is expected to make (`expect`, cleared
    // once its copies or rerun are watched), and for those watches the
    // action task that made them and the label they were made for.
    r#"
ALTER TABLE watches ADD COLUMN expect TEXT;
ALTER TABLE watches ADD COLUMN made_by TEXT;
ALTER TABLE watches ADD COLUMN label TEXT;
"#,
    // A planned rerun that waited and was dropped stays in the audit
    // ledger, marked, and no longer counts toward the limits.
    "ALTER TABLE actions ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;",
];

const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS jobs (
    id               BIGSERIAL PRIMARY KEY,
    delivery_id      TEXT    NOT NULL UNIQUE,
    event            TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    run_after        BIGINT  NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    plan             TEXT,
    outcome          TEXT,
    reply_comment_id BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (state, run_after);
CREATE TABLE IF NOT EXISTS actions (
    id         BIGSERIAL PRIMARY KEY,
    job_id     BIGINT NOT NULL,
    repo       TEXT   NOT NULL,
    head_sha   TEXT   NOT NULL,
    label      TEXT   NOT NULL,
    task_id    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (job_id, task_id, kind)
);
CREATE INDEX IF NOT EXISTS actions_by_head ON actions (repo, head_sha);
"#,
    r#"
CREATE TABLE IF NOT EXISTS plan_locks (
    repo     TEXT   NOT NULL,
    head_sha TEXT   NOT NULL,
    plans    BIGINT NOT NULL,
    PRIMARY KEY (repo, head_sha)
);
"#,
    "ALTER TABLE jobs ADD COLUMN gave_up TEXT;",
    r#"
CREATE TABLE IF NOT EXISTS job_units (
    job_id     BIGINT NOT NULL,
    unit       TEXT   NOT NULL,
    result     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, unit)
);
"#,
    r#"
CREATE TABLE IF NOT EXISTS watches (
    id            BIGSERIAL PRIMARY KEY,
    job_id        BIGINT NOT NULL,
    task_id       TEXT   NOT NULL,
    run_id        BIGINT NOT NULL,
    task_group_id TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    result        TEXT,
    reason        TEXT,
    next_check    BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (job_id, task_id, run_id)
);
CREATE INDEX IF NOT EXISTS watches_due ON watches (state, next_check);
CREATE INDEX IF NOT EXISTS watches_by_task ON watches (task_id, run_id);
CREATE INDEX IF NOT EXISTS watches_by_group ON watches (task_group_id, state);
CREATE TABLE IF NOT EXISTS followed_replies (
    job_id         BIGINT PRIMARY KEY,
    version        BIGINT NOT NULL DEFAULT 0,
    edited_version BIGINT NOT NULL DEFAULT 0,
    edit_after     BIGINT NOT NULL DEFAULT 0,
    reacted        BIGINT NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_until    BIGINT
);
"#,
    r#"
CREATE TABLE IF NOT EXISTS content_budgets (
    installation BIGINT PRIMARY KEY,
    asked        BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS content_grants (
    id           BIGSERIAL PRIMARY KEY,
    installation BIGINT NOT NULL,
    granted_at   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS content_grants_window ON content_grants (installation, granted_at);
"#,
    r#"
CREATE TABLE IF NOT EXISTS waits (
    id          BIGSERIAL PRIMARY KEY,
    job_id      BIGINT  NOT NULL,
    plan_index  BIGINT  NOT NULL,
    row_index   BIGINT  NOT NULL,
    task_id     TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    outcome     TEXT,
    next_check  BIGINT  NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (job_id, plan_index, row_index)
);
CREATE INDEX IF NOT EXISTS waits_due ON waits (state, next_check);
CREATE INDEX IF NOT EXISTS waits_by_job ON waits (job_id);
"#,
    r#"
CREATE TABLE IF NOT EXISTS auto_reruns (
    repo        TEXT    NOT NULL,
    head_sha    TEXT    NOT NULL,
    task_id     TEXT    NOT NULL,
    runs_seen   BIGINT NOT NULL,
    label       TEXT    NOT NULL,
    attempt     BIGINT NOT NULL,
    job_id      BIGINT NOT NULL,
    head_job_id BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (repo, head_sha, task_id, runs_seen)
);
CREATE INDEX IF NOT EXISTS auto_reruns_by_head ON auto_reruns (head_job_id);
CREATE TABLE IF NOT EXISTS auto_rerun_refusals (
    head_job_id   BIGINT NOT NULL,
    task_group_id TEXT    NOT NULL,
    failed        BIGINT NOT NULL,
    total         BIGINT NOT NULL,
    max_percent   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (head_job_id, task_group_id)
);
CREATE TABLE IF NOT EXISTS auto_rerun_groups (
    task_group_id TEXT    PRIMARY KEY,
    repo          TEXT    NOT NULL,
    installation  BIGINT NOT NULL,
    pr            BIGINT NOT NULL,
    head_sha      TEXT    NOT NULL,
    expires_at    BIGINT NOT NULL
);
"#,
    // What an in-tree action task is expected to make (`expect`, cleared
    // once its copies or rerun are watched), and for those watches the
    // action task that made them and the label they were made for.
    r#"
ALTER TABLE watches ADD COLUMN expect TEXT;
ALTER TABLE watches ADD COLUMN made_by TEXT;
ALTER TABLE watches ADD COLUMN label TEXT;
"#,
    // A planned rerun that waited and was dropped stays in the audit
    // ledger, marked, and no longer counts toward the limits.
    "ALTER TABLE actions ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;",
];

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let (steps, lock) = match store.backend {
        Backend::Sqlite => (SQLITE, None),
        Backend::Postgres => (POSTGRES, Some("SELECT pg_advisory_xact_lock(7262011)")),
    };
    let mut tx = store.pool.begin().await.context("migrate: begin")?;
    if let Some(lock) = lock {
        tx.execute(lock).await.context("migrate: lock")?;
    }
    tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
        .await
        .context("migrate: schema_migrations")?;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await
        .context("migrate: read version")?;
    for (version, sql) in steps.iter().enumerate().skip(applied.max(0) as usize) {
        tx.execute(*sql).await.context("migrate: apply")?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(version as i64 + 1)
            .execute(&mut *tx)
            .await
            .context("migrate: record")?;
    }
    tx.commit().await.context("migrate: commit")
}
