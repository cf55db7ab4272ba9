//! `POST /webhook`: signature first, then headers, event filter and the
//! durable insert. Nothing else happens in the request: the job is done by a
//! worker after the 202.

pub mod event;
pub mod signature;

use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use event::CommentJob;
use tracing::Instrument;

/// The largest body GitHub sends.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// How a delivery was answered (also the metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    Ping,
    Ignored(&'static str),
    BadSignature,
    BadRequest,
    StoreFailed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ping => "ping",
            Outcome::Ignored(why) => why,
            Outcome::BadSignature => "bad_signature",
            Outcome::BadRequest => "bad_request",
            Outcome::StoreFailed => "store_failed",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Outcome::Accepted => StatusCode::ACCEPTED,
            Outcome::Duplicate | Outcome::Ping | Outcome::Ignored(_) => StatusCode::OK,
            Outcome::BadSignature => StatusCode::UNAUTHORIZED,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
            Outcome::StoreFailed => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

pub async fn handle(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let event = header(&headers, "x-github-event").unwrap_or("");
    let delivery = header(&headers, "x-github-delivery").unwrap_or("");
    let span = tracing::info_span!("delivery", guid = %delivery, event = %event);
    let (outcome, message) = receive(&state, &headers, event, delivery, &body)
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::debug!(outcome = outcome.label(), "answered"));
    state
        .metrics
        .delivery(event, outcome.label(), started.elapsed().as_secs_f64());
    (outcome.status(), message).into_response()
}

async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> (Outcome, &'static str) {
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    if !signature::verify(&state.secrets, signature, body) {
        tracing::warn!("rejected: missing or invalid X-Hub-Signature-256");
        return (Outcome::BadSignature, "invalid signature\n");
    }
    if event.is_empty() || delivery.is_empty() {
        return (
            Outcome::BadRequest,
            "missing X-GitHub-Event or X-GitHub-Delivery\n",
        );
    }
    match event {
        "ping" => return (Outcome::Ping, "pong\n"),
        "issue_comment" => {}
        _ => return (Outcome::Ignored("ignored_event"), "event not handled\n"),
    }
    // Most comments hold no command: answer them without parsing the JSON.
    if !crate::command::might_contain_command(body) {
        return (
            Outcome::Ignored(event::Ignored::NoCommand.as_str()),
            "ignored\n",
        );
    }
    let job = match event::comment_job(body, crate::command::might_contain_command) {
        Err(e) => {
            tracing::info!(error = %e, "rejected payload");
            return (Outcome::BadRequest, "malformed issue_comment payload\n");
        }
        Ok(Err(ignored)) => return (Outcome::Ignored(ignored.as_str()), "ignored\n"),
        Ok(Ok(job)) => job,
    };
    enqueue(state, event, delivery, &job).await
}

async fn enqueue(
    state: &AppState,
    event: &str,
    delivery: &str,
    job: &CommentJob,
) -> (Outcome, &'static str) {
    let payload = match serde_json::to_string(job) {
        Ok(p) => p,
        Err(_) => return (Outcome::BadRequest, "unreadable payload\n"),
    };
    let new_job = crate::store::NewJob {
        delivery_id: delivery,
        event,
        payload: &payload,
    };
    match state.store.enqueue(new_job).await {
        Ok(crate::store::EnqueueResult::Inserted(id)) => {
            tracing::info!(job = id, pr = %job.pr, repo = %job.repo, "queued");
            state.job_ready.notify_one();
            (Outcome::Accepted, "queued\n")
        }
        Ok(crate::store::EnqueueResult::Duplicate) => {
            tracing::info!("duplicate delivery");
            (Outcome::Duplicate, "already received\n")
        }
        Err(e) => {
            // Not acknowledged, so GitHub (or an operator) can redeliver it.
            tracing::error!(error = %e, "could not store delivery");
            (Outcome::StoreFailed, "could not store delivery\n")
        }
    }
}
