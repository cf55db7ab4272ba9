//! The webhook ingress, the durable queue and the worker pool, through the
//! real router over loopback with signed deliveries.

mod common;

use common::*;
use rerunbot::sandbox::github::payloads;
use rerunbot::store::{JobState, NewJob};
use rerunbot::worker::{JobEventKind, JobFuture, JobHandler};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records each job it runs; fails the first `fail_first` attempts of each.
#[derive(Default)]
struct Recorder {
    runs: Mutex<HashMap<i64, u32>>,
    fail_first: u32,
    block: Option<Arc<tokio::sync::Notify>>,
    /// Failures ask to be retried no earlier than this.
    retry_after: Option<Duration>,
    started: Mutex<Vec<std::time::Instant>>,
}

impl Recorder {
    fn runs(&self) -> HashMap<i64, u32> {
        self.runs.lock().expect("lock").clone()
    }

    /// Returns once some job has started (bounded).
    async fn wait_until_running(&self) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.runs.lock().expect("lock").is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("job started");
    }
}

impl JobHandler for Recorder {
    fn handle(&self, _store: rerunbot::store::Store, claim: rerunbot::store::Claim) -> JobFuture {
        let n = {
            let mut runs = self.runs.lock().expect("lock");
            let n = runs.entry(claim.job.id).or_default();
            *n += 1;
            *n
        };
        let fail = n <= self.fail_first;
        let block = self.block.clone();
        let retry_after = self.retry_after;
        self.started
            .lock()
            .expect("lock")
            .push(std::time::Instant::now());
        Box::pin(async move {
            if let Some(block) = block {
                block.notified().await;
            }
            if fail {
                let error = format!("attempt {n} failed");
                Err(match retry_after {
                    Some(wait) => rerunbot::worker::JobError::RetryAfter(error, wait),
                    None => rerunbot::worker::JobError::Retry(error),
                })
            } else {
                Ok(())
            }
        })
    }
}

/// Posts a signed `issue_comment` delivery with GUID `guid`.
async fn post_comment(service: &rerunbot::service::Service, guid: &str, body: &[u8]) -> u16 {
    post(
        &service.webhook_url(),
        Some("issue_comment"),
        Some(guid),
        Some(SECRET),
        body,
    )
    .await
    .0
}

fn is_done(k: &JobEventKind) -> bool {
    matches!(k, JobEventKind::Done)
}

#[tokio::test]
async fn every_status_code_of_the_webhook() {
    let db = sqlite().await;
    let recorder = Arc::new(Recorder::default());
    let service = start(db.store.clone(), recorder.clone(), fast_workers(1)).await;
    let url = service.webhook_url();
    let command = comment_payload(
        "created",
        "/retrigger 3 test-linux64/opt-mochitest-1",
        "bob",
    );
    let chatter = comment_payload("created", "LGTM, thanks!", "bob");
    let by_bot = comment_payload("created", "/rerun", "rerunbot[bot]");
    let deleted = comment_payload("deleted", "/rerun", "bob");

    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Vec<u8>,
        u16,
    );
    let cases: Vec<Case> = vec![
        (
            "ping",
            Some("ping"),
            Some("d-ping"),
            Some(SECRET),
            payloads::ping(),
            200,
        ),
        (
            "command accepted",
            Some("issue_comment"),
            Some("d-1"),
            Some(SECRET),
            command.clone(),
            202,
        ),
        (
            "redelivery",
            Some("issue_comment"),
            Some("d-1"),
            Some(SECRET),
            command.clone(),
            200,
        ),
        (
            "no command",
            Some("issue_comment"),
            Some("d-2"),
            Some(SECRET),
            chatter,
            200,
        ),
        (
            "bot comment",
            Some("issue_comment"),
            Some("d-3"),
            Some(SECRET),
            by_bot,
            200,
        ),
        (
            "deleted comment",
            Some("issue_comment"),
            Some("d-4"),
            Some(SECRET),
            deleted,
            200,
        ),
        (
            "other event",
            Some("push"),
            Some("d-5"),
            Some(SECRET),
            b"{}".to_vec(),
            200,
        ),
        (
            "wrong secret",
            Some("issue_comment"),
            Some("d-6"),
            Some("nope"),
            command.clone(),
            401,
        ),
        (
            "no signature",
            Some("issue_comment"),
            Some("d-7"),
            None,
            command.clone(),
            401,
        ),
        (
            "no event header",
            None,
            Some("d-8"),
            Some(SECRET),
            command.clone(),
            400,
        ),
        (
            "no delivery header",
            Some("issue_comment"),
            None,
            Some(SECRET),
            command.clone(),
            400,
        ),
        (
            "malformed json",
            Some("issue_comment"),
            Some("d-9"),
            Some(SECRET),
            b"{\"comment\":{\"body\":\"/rerun\"".to_vec(),
            400,
        ),
        (
            "wrong shape",
            Some("issue_comment"),
            Some("d-10"),
            Some(SECRET),
            b"{\"action\":\"created\",\"comment\":{\"body\":\"/rerun\"}}".to_vec(),
            400,
        ),
    ];
    for (name, event, delivery, secret, body, expected) in cases {
        let (status, text) = post(&url, event, delivery, secret, &body).await;
        assert_eq!(status, expected, "{name}: {text}");
    }
    // Only the accepted delivery was stored; nothing for the 401s and 400s.
    let counts = db.store.job_counts().await.expect("counts");
    assert_eq!(counts.iter().sum::<i64>(), 1, "{counts:?}");
    assert!(db
        .store
        .job_by_delivery("d-6")
        .await
        .expect("read")
        .is_none());
    let job = db
        .store
        .job_by_delivery("d-1")
        .await
        .expect("read")
        .expect("stored");
    let payload: serde_json::Value = serde_json::from_str(&job.payload).expect("json");
    assert_eq!(payload["body"], "/retrigger 3 test-linux64/opt-mochitest-1");
    assert_eq!(payload["installation"], 55);

    // The metrics saw every delivery.
    let metrics = reqwest::get(format!("http://{}/metrics", service.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "outcome=\"accepted\"",
        "outcome=\"duplicate\"",
        "outcome=\"bad_signature\"",
        "outcome=\"ignored_no_command\"",
        "rerunbot_queue_jobs",
        "rerunbot_job_duration_seconds",
        "rerunbot_webhook_duration_seconds_count 13",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    service.shutdown(Duration::from_secs(5)).await;
}

/// GitHub's published examples as they are (fixtures/github/webhooks): none
/// of them is a command on a pull request, so none becomes a job.
#[tokio::test]
async fn githubs_published_examples_are_acknowledged_without_a_job() {
    let db = sqlite().await;
    let recorder = Arc::new(Recorder::default());
    let service = start(db.store.clone(), recorder.clone(), fast_workers(1)).await;
    let url = service.webhook_url();
    let cases: [(&str, &str, &str); 4] = [
        ("ping", "ping", payloads::PING),
        // A comment on an issue, not a pull request.
        ("issue_comment", "created", payloads::ISSUE_COMMENT_CREATED),
        ("issue_comment", "edited", payloads::ISSUE_COMMENT_EDITED),
        ("check_suite", "completed", payloads::CHECK_SUITE_COMPLETED),
    ];
    for (i, (event, action, body)) in cases.into_iter().enumerate() {
        let guid = format!("d-example-{i}");
        let (status, text) = post(
            &url,
            Some(event),
            Some(&guid),
            Some(SECRET),
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{event} {action}: {text}");
    }
    // The same check_suite example, pointed at our repository and the
    // Taskcluster App: queued for automatic reruns, not as a comment job.
    let suite = payloads::check_suite_completed(
        "mozilla/gecko-dev",
        55,
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        "taskcluster",
        "failure",
    );
    let (status, text) = post(
        &url,
        Some("check_suite"),
        Some("d-suite"),
        Some(SECRET),
        &suite,
    )
    .await;
    assert_eq!(status, 202, "{text}");
    let job = db
        .store
        .job_by_delivery("d-suite")
        .await
        .expect("read")
        .expect("one job");
    assert_eq!(job.event, "check_suite");
    let counts = db.store.job_counts().await.expect("counts");
    assert_eq!(counts.iter().sum::<i64>(), 1, "{counts:?}");
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn oversized_body_is_413_and_not_stored() {
    let db = sqlite().await;
    let service = start(
        db.store.clone(),
        Arc::new(Recorder::default()),
        fast_workers(1),
    )
    .await;
    let body = vec![b' '; rerunbot::webhook::MAX_BODY_BYTES + 1];
    let (status, _) = post(
        &service.webhook_url(),
        Some("issue_comment"),
        Some("big"),
        Some(SECRET),
        &body,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(
        db.store
            .job_counts()
            .await
            .expect("counts")
            .iter()
            .sum::<i64>(),
        0
    );
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn health_and_readiness() {
    let db = sqlite().await;
    let service = start(
        db.store.clone(),
        Arc::new(Recorder::default()),
        fast_workers(1),
    )
    .await;
    for path in ["healthz", "readyz"] {
        let r = reqwest::get(format!("http://{}/{path}", service.addr))
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    db.store.close().await;
    let r = reqwest::get(format!("http://{}/readyz", service.addr))
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 503);
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn accepted_jobs_run_once_and_failures_retry_with_backoff() {
    let db = sqlite().await;
    let recorder = Arc::new(Recorder {
        fail_first: 2,
        ..Recorder::default()
    });
    let service = start(db.store.clone(), recorder.clone(), fast_workers(2)).await;
    let mut events = service.subscribe();
    for n in 0..5 {
        let body = comment_payload("created", "/rerun", "bob");
        let (status, _) = post(
            &service.webhook_url(),
            Some("issue_comment"),
            Some(&format!("r-{n}")),
            Some(SECRET),
            &body,
        )
        .await;
        assert_eq!(status, 202);
    }
    wait_for(&mut events, 5, is_done).await;
    let runs = recorder.runs();
    assert_eq!(runs.len(), 5);
    assert!(
        runs.values().all(|&n| n == 3),
        "two failures then success: {runs:?}"
    );
    let job = db
        .store
        .job_by_delivery("r-0")
        .await
        .expect("read")
        .expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Done, 3));
    assert_eq!(job.last_error.as_deref(), Some("attempt 2 failed"));
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn attempts_are_bounded_then_the_job_fails_with_its_error() {
    let db = sqlite().await;
    let recorder = Arc::new(Recorder {
        fail_first: u32::MAX,
        ..Recorder::default()
    });
    let service = start(db.store.clone(), recorder.clone(), fast_workers(1)).await;
    let mut events = service.subscribe();
    let body = comment_payload("created", "/rerun", "bob");
    post_comment(&service, "doomed", &body).await;
    wait_for(&mut events, 1, |k| matches!(k, JobEventKind::Failed(_))).await;
    let job = db
        .store
        .job_by_delivery("doomed")
        .await
        .expect("read")
        .expect("job");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempts, 3);
    assert_eq!(job.last_error.as_deref(), Some("attempt 3 failed"));
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_crashed_workers_job_is_taken_again_after_its_lease() {
    let db = sqlite().await;
    db.store
        .enqueue(NewJob {
            delivery_id: "orphan",
            event: "issue_comment",
            payload: "{}",
        })
        .await
        .expect("enqueue");
    // A worker claims it with a short lease and then "dies" (never finishes).
    let dead = db
        .store
        .claim(Duration::from_millis(200))
        .await
        .expect("claim")
        .expect("job");
    assert!(
        db.store
            .claim(Duration::from_secs(30))
            .await
            .expect("claim")
            .is_none(),
        "leased"
    );
    let recorder = Arc::new(Recorder::default());
    let service = start(db.store.clone(), recorder.clone(), fast_workers(1)).await;
    let mut events = service.subscribe();
    let done = wait_for(&mut events, 1, is_done).await;
    assert_eq!(done[0].delivery_id, "orphan");
    // The dead worker's late completion is refused: its lease is gone.
    assert!(!db.store.complete(&dead).await.expect("complete"));
    assert!(
        matches!(
            db.store.save_plan(&dead, "{}").await,
            Err(rerunbot::store::StoreError::LeaseLost)
        ),
        "a lease-guarded write by the dead worker fails"
    );
    let job = db.store.job(dead.job.id).await.expect("read").expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Done, 2));
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_releases_jobs_still_running_after_the_grace_period() {
    let db = sqlite().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let recorder = Arc::new(Recorder {
        block: Some(gate.clone()),
        ..Recorder::default()
    });
    let service = start(db.store.clone(), recorder.clone(), fast_workers(1)).await;
    let body = comment_payload("created", "/rerun", "bob");
    post_comment(&service, "slow", &body).await;
    recorder.wait_until_running().await;
    service.shutdown(Duration::from_millis(100)).await;
    let job = db
        .store
        .job_by_delivery("slow")
        .await
        .expect("read")
        .expect("job");
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Queued, 0),
        "released, attempt not counted"
    );
    // Another process takes it at once.
    assert!(db
        .store
        .claim(Duration::from_secs(30))
        .await
        .expect("claim")
        .is_some());
}

#[tokio::test]
async fn a_worker_that_loses_its_lease_stops_and_cannot_write() {
    let db = sqlite().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let recorder = Arc::new(Recorder {
        block: Some(gate.clone()),
        ..Recorder::default()
    });
    let mut workers = fast_workers(1);
    workers.lease = Duration::from_millis(300);
    let service = start(db.store.clone(), recorder.clone(), workers).await;
    let mut events = service.subscribe();
    let body = comment_payload("created", "/rerun", "bob");
    post_comment(&service, "stolen", &body).await;
    recorder.wait_until_running().await;
    // Another worker takes the job over (as after a stall past the lease).
    let other = sqlx::AnyPool::connect(&db.url).await.expect("connect");
    sqlx::query("UPDATE jobs SET lease_owner = 'another-worker' WHERE delivery_id = 'stolen'")
        .execute(&other)
        .await
        .expect("steal");
    let abandoned = wait_for(&mut events, 1, |k| matches!(k, JobEventKind::Abandoned)).await;
    assert_eq!(abandoned[0].delivery_id, "stolen");
    let job = db
        .store
        .job_by_delivery("stolen")
        .await
        .expect("read")
        .expect("job");
    assert_eq!(job.state, JobState::Running, "left to its new owner");
    service.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_retry_after_a_rate_limit_waits_for_it_not_for_the_backoff() {
    let db = sqlite().await;
    let recorder = Arc::new(Recorder {
        fail_first: 1,
        retry_after: Some(Duration::from_millis(400)),
        ..Recorder::default()
    });
    let service = start(db.store.clone(), recorder.clone(), fast_workers(1)).await;
    let mut events = service.subscribe();
    let body = comment_payload("created", "/rerun", "bob");
    post_comment(&service, "limited", &body).await;
    wait_for(&mut events, 1, is_done).await;
    let started = recorder.started.lock().expect("lock").clone();
    assert_eq!(started.len(), 2);
    let gap = started[1] - started[0];
    assert!(
        gap >= Duration::from_millis(400),
        "retried after {gap:?}, before the limit reset (backoff is 10 ms)"
    );
    service.shutdown(Duration::from_secs(5)).await;
}
