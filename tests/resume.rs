//! A resumed job keeps what it already knows (DESIGN.md §10): each action
//! unit's result is recorded when it is known, a retried job sends or
//! checks only the units without one, an unconfirmed copy is looked up
//! before it is sent again, and a reply never advises asking again for an
//! action that may have taken effect.

mod common;

use common::commands::TWO_COMMANDS;
use common::world::{job_of, no_retry_budget, queue_calls, queue_mode};

use rerunbot::sandbox::taskcluster::fixtures::pr;
use rerunbot::sandbox::world::{guid, World, WorldOptions, PR_OPEN};
use rerunbot::store::JobState;
use rerunbot::worker::{JobEventKind, WorkerConfig};
use std::time::Duration;

/// The ids of the copies created in the queue (beyond the fixture's 12).
fn copies(w: &World) -> Vec<String> {
    let mut created: Vec<String> = w
        .queue
        .accepted("PUT", "")
        .iter()
        .filter_map(|p| p.rsplit('/').next().map(str::to_owned))
        .collect();
    created.sort();
    created.dedup();
    created
}

#[tokio::test]
async fn a_reply_that_failed_then_a_queue_outage_still_reports_every_confirmed_action() {
    // Retries far enough apart to start the outage between two attempts.
    let mut w = World::start(WorldOptions {
        workers: WorkerConfig {
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_millis(500),
            ..WorldOptions::default().workers
        },
        ..queue_mode()
    })
    .await
    .expect("world");
    // The first reply POST fails (a comment is never re-posted blindly).
    w.github
        .fail_next_matching("POST", "/issues/7/comments", 1, 502);
    let (id, comment) = w
        .comment_accepted(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("accepted");
    // Attempt 1 dispatched everything and failed at the reply.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let job = w.service.store.job_by_delivery(&id).await.expect("read");
            if job.is_some_and(|j| j.state == JobState::Queued && j.attempts == 1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the first attempt failed at the reply");
    assert_eq!(w.queue.accepted_writes().len(), 3, "rerun + 2 copies");
    // Then the queue answers 503 to everything.
    let before = w.queue.calls().len();
    w.queue.outage(Duration::from_secs(3600));
    assert_eq!(w.wait_for(&id).await.expect("job"), JobEventKind::Done);

    assert_eq!(
        w.queue.calls().len(),
        before,
        "nothing confirmed was asked again"
    );
    let reply = w.normalize(&w.reply_for(PR_OPEN).expect("a reply"));
    assert!(reply.contains("rerun started"), "{reply}");
    let created = copies(&w);
    assert_eq!(created.len(), 2);
    for copy in &created {
        assert!(reply.contains(&copy[..2]), "{copy} listed:\n{reply}");
    }
    assert!(!reply.contains("not confirmed") && !reply.contains("failed:"));
    assert_eq!(w.replies(PR_OPEN).len(), 1);
    assert_eq!(
        w.github.reactions(comment).last().map(String::as_str),
        Some("rocket")
    );
    w.shutdown().await;
}

#[tokio::test]
async fn a_copy_created_whose_answer_was_lost_is_found_and_reported_created() {
    let mut w = World::start(queue_mode()).await.expect("world");
    // Three createTask attempts fail; the fourth is carried out, its answer
    // lost: the client gives up although the copy exists.
    w.queue.fail_next_matching("PUT", 3, 500);
    w.queue.lose_answer_next("PUT", 500);
    let answer = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 1 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    let created = copies(&w);
    assert_eq!(created.len(), 1);
    let copy = &created[0];
    assert_eq!(
        queue_calls(&w, "PUT", copy),
        4,
        "looked up on resume (GET /task/<id>), not sent again"
    );
    assert_eq!(queue_calls(&w, "GET", &format!("/task/{copy}")), 1);
    assert_eq!(w.queue.tasks_in_group(pr::GROUP).len(), 12 + 1);
    let reply = w.normalize(answer.reply.as_deref().expect("a reply"));
    assert!(reply.contains(&format!("tasks/{copy})")), "{reply}");
    assert!(!reply.contains("failed:") && !reply.contains("not confirmed"));
    assert_eq!(answer.reactions.last().map(String::as_str), Some("rocket"));
    w.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_queue_retries_the_job_instead_of_replying() {
    unreachable_queue(queue_mode()).await;
}

#[tokio::test]
async fn an_unreachable_queue_retries_the_job_instead_of_replying_on_postgres() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    unreachable_queue(WorldOptions {
        database_url: Some(url),
        ..queue_mode()
    })
    .await;
}

async fn unreachable_queue(options: WorldOptions) {
    let mut w = World::start(options).await.expect("world");
    // Both copies' four createTask attempts fail; the rerun goes through.
    w.queue.fail_next_matching("PUT", 8, 500);
    let answer = w
        .comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    let job = job_of(&w, &guid(1)).await;
    assert_eq!(job.attempts, 2, "retried once");
    let posts = w
        .github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/issues/7/comments"))
        .count();
    let edits = w
        .github
        .calls()
        .iter()
        .filter(|c| c.method == "PATCH")
        .count();
    assert_eq!(
        (posts, edits),
        (1, 0),
        "one reply, once everything was known"
    );
    // The rerun confirmed by attempt 1 was neither sent nor checked again
    // (its one status read is attempt 1's, before sending: is it queued
    // already?).
    assert_eq!(queue_calls(&w, "POST", pr::LINT_ESLINT_FAILED), 1);
    assert_eq!(queue_calls(&w, "GET", pr::LINT_ESLINT_FAILED), 1);
    let reply = answer.reply.expect("a reply");
    assert!(reply.contains("rerun started"), "{reply}");
    assert_eq!(copies(&w).len(), 2);
    assert!(!reply.contains("not confirmed"), "{reply}");
    w.shutdown().await;
}

#[tokio::test]
async fn when_the_budget_is_spent_the_reply_states_what_is_known() {
    let mut w = World::start(no_retry_budget()).await.expect("world");
    // Copies cannot be created; the rerun goes through.
    w.queue.fail_next_matching("PUT", 1000, 500);
    let answer = w
        .comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    assert!(
        matches!(answer.job, Some(JobEventKind::Failed(_))),
        "{answer:?}"
    );
    let reply = w.normalize(answer.reply.as_deref().expect("a reply"));
    assert!(reply.contains("rerun started"), "{reply}");
    assert!(reply.contains("not confirmed"), "{reply}");
    assert!(reply.contains("may have taken effect"), "{reply}");
    assert!(!reply.to_lowercase().contains("comment again"), "{reply}");
    assert_eq!(
        answer.reactions.last().map(String::as_str),
        Some("confused")
    );
    insta::assert_snapshot!(reply);
    w.shutdown().await;
}
