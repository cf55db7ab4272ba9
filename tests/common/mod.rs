//! Test harness shared by the integration tests: a real service on loopback
//! with a temporary SQLite file (or a fresh Postgres database), and signed
//! webhook deliveries.
#![allow(dead_code)]

pub mod commands;
pub mod follow_events;
pub mod poll;
pub mod pulse;
pub mod sandbox_queue;
pub mod world;

use rerunbot::config::WebhookSecrets;
use rerunbot::service::Service;
use rerunbot::store::Store;
use rerunbot::webhook::signature::sign;
use rerunbot::worker::{JobEvent, JobEventKind, JobHandler, WorkerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

pub const SECRET: &str = "test-webhook-secret";

/// A follow loop fast enough for tests: a look every 20 ms, watched runs
/// polled every 50 ms, every edit sent at once.
pub fn fast_follow() -> rerunbot::follow::FollowConfig {
    rerunbot::follow::FollowConfig {
        poll_interval: Duration::from_millis(50),
        edit_every: Duration::ZERO,
        wake_every: Duration::from_millis(20),
        ..rerunbot::follow::FollowConfig::default()
    }
}

/// A temporary SQLite store; the directory lives as long as the value.
pub struct TempSqlite {
    pub store: Store,
    pub url: String,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> TempSqlite {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::connect(&url).await.expect("sqlite store");
    TempSqlite {
        store,
        url,
        _dir: dir,
    }
}

/// A fresh Postgres database for one test, or `None` (with a printed reason)
/// when `RERUNBOT_TEST_POSTGRES_URL` is unset. In CI the variable is set and
/// `RERUNBOT_REQUIRE_POSTGRES=1` turns a missing one into a failure.
pub async fn postgres_url() -> Option<String> {
    let Ok(admin) = std::env::var("RERUNBOT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("RERUNBOT_REQUIRE_POSTGRES").is_err(),
            "RERUNBOT_REQUIRE_POSTGRES is set but RERUNBOT_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipping: RERUNBOT_TEST_POSTGRES_URL is not set (no Postgres here)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("rerunbot_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("connect to Postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A store on a fresh Postgres database, or `None` as [`postgres_url`].
pub async fn postgres_store() -> Option<Store> {
    let url = postgres_url().await?;
    Some(Store::connect(&url).await.expect("postgres"))
}

pub fn fast_workers(workers: usize) -> WorkerConfig {
    WorkerConfig {
        workers,
        lease: Duration::from_secs(30),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        poll_interval: Duration::from_millis(20),
        ..WorkerConfig::default()
    }
}

pub async fn start(store: Store, handler: Arc<dyn JobHandler>, workers: WorkerConfig) -> Service {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    Service::start(
        listener,
        store,
        WebhookSecrets::parse(SECRET).expect("secret"),
        handler,
        workers,
    )
    .await
    .expect("service")
}

/// Posts a delivery signed with `secret`.
pub async fn post(
    url: &str,
    event: Option<&str>,
    delivery: Option<&str>,
    secret: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(event) = event {
        request = request.header("x-github-event", event);
    }
    if let Some(delivery) = delivery {
        request = request.header("x-github-delivery", delivery);
    }
    if let Some(secret) = secret {
        request = request.header("x-hub-signature-256", sign(secret, body));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// An `issue_comment` delivery on pull request #7 of mozilla/gecko-dev,
/// built from GitHub's published example (`fixtures/github/webhooks`).
pub fn comment_payload(action: &str, body: &str, login: &str) -> Vec<u8> {
    rerunbot::sandbox::github::payloads::issue_comment(
        &rerunbot::sandbox::github::payloads::CommentDelivery {
            action,
            repo: "mozilla/gecko-dev",
            installation: 55,
            pr: 7,
            pr_author: "alice",
            comment_id: 1001,
            login,
            body,
            before: None,
        },
    )
}

/// Waits (bounded) for `count` events matching `kind`.
pub async fn wait_for(
    events: &mut broadcast::Receiver<JobEvent>,
    count: usize,
    kind: fn(&JobEventKind) -> bool,
) -> Vec<JobEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while seen.len() < count {
            match events.recv().await {
                Ok(event) if kind(&event.outcome) => seen.push(event),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
    .await
    .expect("timed out waiting for job events");
    seen
}

/// Captures every log line (TRACE and up) of the current thread while the
/// guard lives; `#[tokio::test]` runs the service on that thread.
pub struct CapturedLogs {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    pub fn start(json: bool) -> Self {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        let builder = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone());
        let guard = if json {
            tracing::subscriber::set_default(builder.json().finish())
        } else {
            tracing::subscriber::set_default(builder.finish())
        };
        Self {
            buffer,
            _guard: guard,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("lock")).into_owned()
    }
}

#[derive(Clone)]
struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (at most 30 s) for the first event `pick` accepts.
pub async fn next<T>(
    events: &mut broadcast::Receiver<rerunbot::follow::FollowEvent>,
    mut pick: impl FnMut(&rerunbot::follow::FollowEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("follow loop stopped"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("follow event in time")
}

/// Waits (at most 30 s) until every open watch has had its first look at
/// the queue (they are checked at once when added). A test that then
/// resolves a run knows polling saw it still open, so with polling an hour
/// away only Pulse can report the resolution.
#[allow(dead_code)]
pub async fn first_checks_done(store: &Store) {
    let wait = async {
        loop {
            if store.due_watch_count().await.expect("count due watches") == 0 {
                return;
            }
            // The count is the state being waited on; read it again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("first checks of the watches in time");
}
