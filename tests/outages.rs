//! Outages and leases (DESIGN.md §10): commands survive a long GitHub and
//! Taskcluster outage (retried within a time budget, never doubled), a job
//! whose budget is spent says action by action what failed, and an attempt
//! that cannot renew its lease stops before the lease runs out.

mod common;

use common::world::{job_of, no_retry_budget, queue_calls, queue_mode};

use rerunbot::sandbox::taskcluster::fixtures::pr;
use rerunbot::sandbox::world::{World, PR_OPEN};
use rerunbot::store::{Claim, JobState, Store};
use rerunbot::worker::{JobEventKind, JobFuture, JobHandler, WorkerConfig};
use std::sync::Arc;
use std::time::Duration;

const RERUN: &str = "/rerun source-test-mozlint-eslint";
const RETRIGGER: &str = "/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1";

/// Keeps a paused clock from leaping: while the runtime waits on real I/O
/// (the database's thread, loopback sockets) tokio moves a paused clock to
/// the next timer; with this one pending it moves at most 2 ms per wait, so
/// no client timeout fires spuriously, and the clock still runs far faster
/// than real time.
fn small_steps() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_outage_delays_commands_and_each_is_carried_out_once() {
    let steps = small_steps();
    let mut w = World::start(queue_mode()).await.expect("world");
    let outage = Duration::from_secs(600);
    w.queue.outage(outage);
    w.github.outage(outage);
    let started = tokio::time::Instant::now();
    let (rerun, rerun_comment) = w
        .comment_accepted(PR_OPEN, "bob", RERUN)
        .await
        .expect("accepted");
    let (retrigger, retrigger_comment) = w
        .comment_accepted(PR_OPEN, "bob", RETRIGGER)
        .await
        .expect("accepted");
    w.wait_for_all_within(&[&rerun, &retrigger], Duration::from_secs(3600))
        .await
        .expect("both commands finish");
    assert!(
        started.elapsed() >= outage,
        "nothing could be done during the outage"
    );
    for guid in [&rerun, &retrigger] {
        let job = job_of(&w, guid).await;
        assert_eq!(job.state, JobState::Done, "{job:?}");
        assert!(job.attempts > 5, "retried through the outage: {job:?}");
    }
    let writes = w.queue.accepted_writes();
    let reruns: Vec<_> = writes.iter().filter(|c| c.ends_with("/rerun")).collect();
    assert_eq!(
        reruns,
        vec![&format!(
            "POST /api/queue/v1/task/{}/rerun",
            pr::LINT_ESLINT_FAILED
        )],
        "rerun once"
    );
    assert_eq!(
        w.queue.tasks_in_group(pr::GROUP).len(),
        12 + 2,
        "two copies, no more"
    );
    let replies = w.replies(PR_OPEN);
    assert_eq!(replies.len(), 2, "one reply per command: {replies:#?}");
    for comment in [rerun_comment, retrigger_comment] {
        let reactions = w.github.reactions(comment);
        assert_eq!(
            reactions.last().map(String::as_str),
            Some("rocket"),
            "{reactions:?}"
        );
    }
    w.shutdown().await;
    steps.abort();
}

#[tokio::test]
async fn a_job_whose_budget_is_spent_says_which_actions_failed() {
    let mut w = World::start(no_retry_budget()).await.expect("world");
    // Reruns keep failing; everything else works.
    w.queue.fail_next_matching("POST", 1000, 503);
    let answer = w.comment(PR_OPEN, "bob", RERUN).await.expect("comment");
    assert!(
        matches!(answer.job, Some(JobEventKind::Failed(_))),
        "{answer:?}"
    );
    let reply = w.normalize(answer.reply.as_deref().expect("a reply"));
    assert!(
        reply.contains("source-test-mozlint-eslint") && reply.contains("did not answer"),
        "the row of the failed action says why:\n{reply}"
    );
    assert!(w.queue.accepted_writes().is_empty());
    // Sent at most once per lost answer: each resend came after a status read.
    let posts = queue_calls(&w, "POST", "");
    assert_eq!(posts, 4, "one send and three checked resends");
    w.shutdown().await;
}

#[tokio::test]
async fn the_gave_up_reply_is_retried_until_github_answers() {
    let mut w = World::start(no_retry_budget()).await.expect("world");
    // Discovery fails for good; then posting the report fails a few times.
    w.queue.fail_next_matching("GET", 1000, 503);
    w.github
        .fail_next_matching("POST", "/issues/7/comments", 10, 502);
    let answer = w.comment(PR_OPEN, "bob", "/rerun").await.expect("comment");
    assert!(
        matches!(answer.job, Some(JobEventKind::Failed(_))),
        "{answer:?}"
    );
    let reply = answer.reply.expect("the report got through in the end");
    assert!(reply.contains("could not finish this command"), "{reply}");
    assert_eq!(w.replies(PR_OPEN).len(), 1);
    w.shutdown().await;
}

/// A job that runs until it is stopped, and notes when that happened.
struct Endless {
    started: std::sync::Mutex<Option<std::time::Instant>>,
    stopped: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    claimed: Arc<tokio::sync::Notify>,
}

struct NoteDrop(Arc<std::sync::Mutex<Option<std::time::Instant>>>);

impl Drop for NoteDrop {
    fn drop(&mut self) {
        if let Ok(mut stopped) = self.0.lock() {
            *stopped = Some(std::time::Instant::now());
        }
    }
}

impl JobHandler for Endless {
    fn handle(&self, _store: Store, _claim: Claim) -> JobFuture {
        if let Ok(mut started) = self.started.lock() {
            *started = Some(std::time::Instant::now());
        }
        self.claimed.notify_one();
        let note = NoteDrop(self.stopped.clone());
        Box::pin(async move {
            let _note = note;
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn an_attempt_that_cannot_renew_its_lease_stops_before_it_runs_out() {
    let db = common::sqlite().await;
    let handler = Arc::new(Endless {
        started: std::sync::Mutex::new(None),
        stopped: Arc::new(std::sync::Mutex::new(None)),
        claimed: Arc::new(tokio::sync::Notify::new()),
    });
    let lease = Duration::from_millis(800);
    let service = common::start(
        db.store.clone(),
        handler.clone(),
        WorkerConfig {
            lease,
            ..common::fast_workers(1)
        },
    )
    .await;
    let mut events = service.subscribe();
    let body = common::comment_payload("created", "/rerun", "bob");
    let (status, _) = common::post(
        &service.webhook_url(),
        Some("issue_comment"),
        Some("lease"),
        Some(common::SECRET),
        &body,
    )
    .await;
    assert_eq!(status, 202);
    tokio::time::timeout(Duration::from_secs(10), handler.claimed.notified())
        .await
        .expect("claimed");
    // The database goes away: no renewal can succeed from now on.
    let cut = std::time::Instant::now();
    db.store.close().await;
    common::wait_for(&mut events, 1, |k| matches!(k, JobEventKind::Abandoned)).await;
    let stopped = handler
        .stopped
        .lock()
        .expect("lock")
        .expect("the attempt was stopped");
    let started = handler.started.lock().expect("lock").expect("started");
    assert!(
        stopped < started + lease,
        "stopped {:?} after the claim, {:?} after the database went away; lease {lease:?}",
        stopped - started,
        stopped - cut
    );
    service.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn finished_jobs_past_the_retention_period_are_purged() {
    let db = common::sqlite().await;
    purges_finished_jobs(&db.store).await;
    if let Some(url) = common::postgres_url().await {
        purges_finished_jobs(&Store::connect(&url).await.expect("postgres")).await;
    }
}

async fn purges_finished_jobs(store: &Store) {
    for guid in ["finished", "waiting"] {
        store
            .enqueue(rerunbot::store::NewJob {
                delivery_id: guid,
                event: "issue_comment",
                payload: "{\"body\":\"/rerun secret words\"}",
            })
            .await
            .expect("enqueue");
    }
    let claim = store
        .claim(Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("job");
    assert!(store.complete(&claim).await.expect("complete"));
    assert_eq!(
        store.purge(Duration::from_secs(3600)).await.expect("purge"),
        0,
        "too young"
    );
    assert_eq!(store.purge(Duration::ZERO).await.expect("purge"), 1);
    assert!(store
        .job_by_delivery(&claim.job.delivery_id)
        .await
        .expect("read")
        .is_none());
    let waiting = if claim.job.delivery_id == "finished" {
        "waiting"
    } else {
        "finished"
    };
    assert!(
        store
            .job_by_delivery(waiting)
            .await
            .expect("read")
            .is_some(),
        "a queued job is kept whatever its age"
    );
}
