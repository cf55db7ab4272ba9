//! The HTTP surface: `/webhook`, `/healthz`, `/readyz`, `/metrics`.

use crate::config::WebhookSecrets;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tokio::sync::Notify;

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub secrets: WebhookSecrets,
    pub metrics: Arc<Metrics>,
    /// Woken when a job is queued, so an idle worker starts at once.
    pub job_ready: Arc<Notify>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhook",
            post(crate::webhook::handle)
                .layer(DefaultBodyLimit::max(crate::webhook::MAX_BODY_BYTES)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
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
    let counts = state.store.job_counts().await.unwrap_or_default();
    (
        StatusCode::OK,
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(counts),
    )
}
