//! The HTTP surface: `/webhook`, `/healthz`, `/readyz`, `/metrics`, and
//! the listener that serves it within limits: a budget of open connections
//! (a connection over it is answered 503 with `Retry-After` before anything
//! is read), a deadline for the request headers (hyper's timer), and the
//! body budget the webhook handler draws on (`webhook::body`).

use crate::config::WebhookSecrets;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub secrets: WebhookSecrets,
    pub metrics: Arc<Metrics>,
    /// Woken when a job is queued, so an idle worker starts at once.
    pub job_ready: Arc<Notify>,
    /// Request-body bytes that may be held in memory at once, one permit
    /// per byte: a delivery that does not fit is refused, not buffered.
    pub body_budget: Arc<Semaphore>,
    /// How long a request body may take to arrive.
    pub body_read_timeout: Duration,
    /// Slug of the Taskcluster GitHub App: only its `check_suite`s are
    /// queued (`RERUNBOT_TASKCLUSTER_APP`).
    pub taskcluster_app: Arc<str>,
    /// Done and failed job counts, as last read (see [`HISTORY_PERIOD`]).
    pub history_counts: Arc<std::sync::Mutex<Option<LastCount>>>,
}

/// Job counts by state and when they were read.
pub type LastCount = (std::time::Instant, [i64; 4]);

/// Done and failed jobs are counted at most once per this period: their
/// number grows with the history, so it is not read on every scrape.
pub const HISTORY_PERIOD: Duration = Duration::from_secs(300);

/// Limits on what the listener takes in.
#[derive(Clone, Copy, Debug)]
pub struct IngressLimits {
    /// Connections served at once; more are answered 503 at once.
    pub max_connections: usize,
    /// Request-body bytes in memory at once, across requests.
    pub body_budget: usize,
    /// From the connection's start (or the previous request) to the end of
    /// the request headers.
    pub header_read_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_read_timeout: Duration,
}

impl Default for IngressLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            // Two of GitHub's largest deliveries (25 MiB) at once, and a
            // great many ordinary ones (a few KB each).
            body_budget: 2 * crate::webhook::MAX_BODY_BYTES,
            // GitHub gives up after 10 s; a slower sender is not GitHub.
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(crate::webhook::handle))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then lets requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: IngressLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or the peer left: not fatal.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The answer to a connection over the budget, sent before reading anything.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-type: text/plain; charset=utf-8\r\ncontent-length: 22\r\nconnection: close\r\n\r\n\
too many connections\r\n";

/// Answers 503 and closes. What the client sent is read and dropped (for at
/// most a second), so closing does not reset the connection under the
/// answer; nothing of it is kept.
async fn refuse(mut stream: TcpStream) {
    if stream.write_all(BUSY).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.store.ping().await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

async fn metrics(
    State(state): State<AppState>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let mut counts = state.store.active_job_counts().await.unwrap_or_default();
    let cached = *state
        .history_counts
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let history = match cached {
        Some((at, history)) if at.elapsed() < HISTORY_PERIOD => Some(history),
        _ => match state.store.job_counts().await {
            Ok(all) => {
                *state
                    .history_counts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), all));
                Some(all)
            }
            Err(_) => cached.map(|(_, history)| history),
        },
    };
    if let Some(history) = history {
        counts[2] = history[2];
        counts[3] = history[3];
    }
    (
        StatusCode::OK,
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(counts),
    )
}
