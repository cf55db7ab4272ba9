//! `POST /webhook`: the body within its limits (size, shared budget,
//! deadline), the signature, then headers, event filter and the durable
//! insert. Nothing else happens in the request: the job is done by a worker
//! after the 202.

pub mod body;
pub mod check_suite;
pub mod form;

pub use rerunbot_core::webhook::{event, signature};

use crate::server::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
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
    TooLarge,
    /// The body budget (or the connection budget) is spent: try later.
    Busy,
    TimedOut,
    /// A form-encoded delivery without a `payload` field.
    UnsupportedForm,
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
            Outcome::TooLarge => "too_large",
            Outcome::Busy => "busy",
            Outcome::TimedOut => "timed_out",
            Outcome::UnsupportedForm => "unsupported_form",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Outcome::Accepted => StatusCode::ACCEPTED,
            Outcome::Duplicate | Outcome::Ping | Outcome::Ignored(_) => StatusCode::OK,
            Outcome::BadSignature => StatusCode::UNAUTHORIZED,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
            Outcome::StoreFailed | Outcome::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Outcome::UnsupportedForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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

pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let event = header(headers, "x-github-event").unwrap_or("");
    let delivery = header(headers, "x-github-delivery").unwrap_or("");
    let span = tracing::info_span!("delivery", guid = %delivery, event = %event);
    let declared = header(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
    let read = body::read(
        body,
        declared,
        MAX_BODY_BYTES,
        &state.body_budget,
        state.body_read_timeout,
    )
    .await;
    let (outcome, message) = match read {
        Ok(held) => {
            receive(&state, headers, event, delivery, &held.bytes)
                .instrument(span.clone())
                .await
        }
        Err(body::BodyError::TooLarge) => (Outcome::TooLarge, "body over 25 MiB\n"),
        Err(body::BodyError::OverBudget) => (Outcome::Busy, "busy; try again shortly\n"),
        Err(body::BodyError::TimedOut) => (Outcome::TimedOut, "body not received in time\n"),
        Err(body::BodyError::Broken) => (Outcome::BadRequest, "body could not be read\n"),
    };
    span.in_scope(|| tracing::debug!(outcome = outcome.label(), "answered"));
    state
        .metrics
        .delivery(event, outcome.label(), started.elapsed().as_secs_f64());
    let mut response = (outcome.status(), message).into_response();
    if outcome.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
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
        "issue_comment" | check_suite::EVENT => {}
        _ => return (Outcome::Ignored("ignored_event"), "event not handled\n"),
    }
    let form_json;
    let body = if form::is_form(header(headers, header::CONTENT_TYPE.as_str())) {
        let Some(json) = form::payload(body) else {
            return (
                Outcome::UnsupportedForm,
                "form-encoded delivery without a payload field; \
                 set the webhook's content type to application/json\n",
            );
        };
        form_json = json;
        &form_json[..]
    } else {
        body
    };
    if event == check_suite::EVENT {
        return suite(state, delivery, body).await;
    }
    comment(state, event, delivery, body).await
}

/// A `check_suite` delivery's JSON: only the Taskcluster App's completed
/// suites are queued (automatic reruns, DESIGN.md §13).
async fn suite(state: &AppState, delivery: &str, body: &[u8]) -> (Outcome, &'static str) {
    let job = match check_suite::suite_job(body, &state.taskcluster_app) {
        Err(e) => {
            tracing::info!(error = %e, "rejected payload");
            return (Outcome::BadRequest, "malformed check_suite payload\n");
        }
        Ok(Err(ignored)) => return (Outcome::Ignored(ignored.as_str()), "ignored\n"),
        Ok(Ok(job)) => job,
    };
    let Ok(payload) = serde_json::to_string(&job) else {
        return (Outcome::BadRequest, "unreadable payload\n");
    };
    store_job(state, check_suite::EVENT, delivery, &payload).await
}

/// An `issue_comment` delivery's JSON: filtered, then queued.
async fn comment(
    state: &AppState,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> (Outcome, &'static str) {
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
    tracing::info!(pr = %job.pr, repo = %job.repo, "queueing");
    store_job(state, event, delivery, &payload).await
}

/// Stores one job for a delivery (once per GUID) and wakes a worker.
async fn store_job(
    state: &AppState,
    event: &str,
    delivery: &str,
    payload: &str,
) -> (Outcome, &'static str) {
    let new_job = crate::store::NewJob {
        delivery_id: delivery,
        event,
        payload,
    };
    match state.store.enqueue(new_job).await {
        Ok(crate::store::EnqueueResult::Inserted(id)) => {
            tracing::info!(job = id, "queued");
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
