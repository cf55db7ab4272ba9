//! Idempotency of the whole pipeline (DESIGN.md §10): a job that dies
//! between dispatch and reply, a redelivered webhook, an edited comment;
//! and where a copy's definition comes from.

mod common;

use common::commands::TWO_COMMANDS;
use common::world::{job_of, no_retry_budget, queue_mode};

use rerunbot::sandbox::taskcluster::fixtures::pr;
use rerunbot::sandbox::world::{comment_payload, guid, World, WorldOptions, PR_OPEN};
use rerunbot::types::CommentId;
use rerunbot::worker::JobEventKind;

/// Every write the queue carried out, sorted.
fn writes(world: &World) -> Vec<String> {
    let mut writes = world.queue.accepted_writes();
    writes.sort();
    writes
}

#[tokio::test]
async fn a_job_that_dies_between_dispatch_and_reply_creates_nothing_twice() {
    let mut w = World::start(queue_mode()).await.expect("world");
    // Posting the reply fails (a comment is never re-posted blindly): the
    // attempt dies after dispatch, and the worker retries the job.
    w.github
        .fail_next_matching("POST", "/issues/7/comments", 1, 502);
    let answer = w
        .comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    let writes = writes(&w);
    let reruns: Vec<_> = writes.iter().filter(|c| c.ends_with("/rerun")).collect();
    let mut creates: Vec<_> = writes.iter().filter(|c| c.starts_with("PUT")).collect();
    assert_eq!(
        reruns,
        vec![&format!(
            "POST /api/queue/v1/task/{}/rerun",
            pr::LINT_ESLINT_FAILED
        )],
        "not rerun twice"
    );
    // The retried job re-sends the identical createTask (the queue answers
    // 200 again), so the same two ids appear and no third task exists.
    creates.dedup();
    assert_eq!(creates.len(), 2, "two copy ids: {creates:?}");
    assert_eq!(w.queue.tasks_in_group(pr::GROUP).len(), 12 + 2);
    assert_eq!(w.replies(PR_OPEN).len(), 1, "one reply comment");
    let job = job_of(&w, &guid(1)).await;
    assert_eq!(job.attempts, 2, "the second attempt finished the job");
    assert!(job.reply_comment_id.is_some());
    w.shutdown().await;
}

#[tokio::test]
async fn a_retried_job_edits_its_reply_instead_of_posting_again() {
    let mut w = World::start(queue_mode()).await.expect("world");
    // Reactions fail: `eyes` (4 tries, then only a warning) and the final
    // reaction (4 tries: the first attempt fails after the reply was posted).
    w.github.fail_next_matching("POST", "/reactions", 8, 502);
    let answer = w
        .comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    assert_eq!(
        w.replies(PR_OPEN).len(),
        1,
        "edited in place, not posted twice"
    );
    let edits = w
        .github
        .calls()
        .into_iter()
        .filter(|c| c.method == "PATCH")
        .count();
    assert_eq!(edits, 1);
    assert_eq!(writes(&w).len(), 1, "one rerun");
    assert_eq!(
        answer.reactions,
        vec!["rocket"],
        "eyes was lost, rocket arrived"
    );
    let job = job_of(&w, &guid(1)).await;
    assert_eq!(job.attempts, 2);
    w.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_webhook_does_nothing_new() {
    let mut w = World::start(queue_mode()).await.expect("world");
    w.comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    let before = (writes(&w), w.replies(PR_OPEN), w.github.calls().len());
    // GitHub redelivers the same delivery (same GUID).
    let id = w.last_comment_id();
    let payload = comment_payload("created", PR_OPEN, id, "bob", TWO_COMMANDS, None);
    let (status, _) = w.post(&guid(1), &payload).await.expect("post");
    assert_eq!(status, 200);
    let answer = w
        .deliver(&guid(1), &payload, CommentId(id), PR_OPEN)
        .await
        .expect("deliver");
    assert!(answer.job.is_none());
    assert_eq!(
        (writes(&w), w.replies(PR_OPEN), w.github.calls().len()),
        before
    );
    w.shutdown().await;
}

#[tokio::test]
async fn an_edited_comment_runs_only_the_added_command() {
    let mut w = World::start(queue_mode()).await.expect("world");
    let first = "/rerun source-test-mozlint-eslint";
    w.comment(PR_OPEN, "bob", first).await.expect("comment");
    let id = w.last_comment_id();
    let answer = w
        .edit(PR_OPEN, id, "bob", first, TWO_COMMANDS)
        .await
        .expect("edit");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    let writes = writes(&w);
    assert_eq!(
        writes.iter().filter(|c| c.ends_with("/rerun")).count(),
        1,
        "the rerun is not repeated"
    );
    assert_eq!(
        writes.iter().filter(|c| c.starts_with("PUT")).count(),
        2,
        "the added retrigger ran"
    );
    // An edit that adds nothing runs nothing and says nothing.
    let replies = w.replies(PR_OPEN).len();
    let answer = w
        .edit(
            PR_OPEN,
            id,
            "bob",
            TWO_COMMANDS,
            &format!("{TWO_COMMANDS}\n\nthanks!"),
        )
        .await
        .expect("edit");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    assert_eq!(w.replies(PR_OPEN).len(), replies);
    w.shutdown().await;
}

#[tokio::test]
async fn rerunbot_stopped_between_dispatch_and_reply_is_resumed_by_the_next_process() {
    let mut w = World::start(queue_mode()).await.expect("world");
    // The reply is held up by a 30 s secondary rate limit, so the job sits
    // between dispatch and reply when rerunbot is stopped.
    w.github
        .rate_limit_next_matching("POST", "/issues/7/comments", 30);
    let (guid, _) = w
        .comment_accepted(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    let held = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            if w.github
                .calls()
                .iter()
                .any(|c| c.method == "POST" && c.path.ends_with("/issues/7/comments"))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    held.await.expect("the job reached the reply");
    let dispatched = writes(&w);
    assert_eq!(
        dispatched.len(),
        3,
        "rerun + 2 copies before the stop: {dispatched:?}"
    );
    assert!(w.replies(PR_OPEN).is_empty());

    // Stop (no grace: the lease is released) and start a new process on the same database.
    w.restart().await.expect("restart");
    assert_eq!(w.wait_for(&guid).await.expect("job"), JobEventKind::Done);

    let after = writes(&w);
    assert_eq!(
        after.iter().filter(|c| c.ends_with("/rerun")).count(),
        1,
        "no second rerun: {after:?}"
    );
    let mut creates: Vec<_> = after.iter().filter(|c| c.starts_with("PUT")).collect();
    creates.dedup();
    assert_eq!(creates.len(), 2, "the same two copies: {after:?}");
    assert_eq!(
        w.queue.tasks_in_group(pr::GROUP).len(),
        12 + 2,
        "no extra task"
    );
    assert_eq!(w.replies(PR_OPEN).len(), 1, "one comment");
    w.shutdown().await;
}

#[tokio::test]
async fn a_reply_posted_without_an_answer_is_found_by_its_marker_not_posted_twice() {
    let mut w = World::start(queue_mode()).await.expect("world");
    // GitHub creates the reply but answers 502: the comment exists, its id is unknown.
    w.github
        .fail_after_effect_next("POST", "/issues/7/comments", 502);
    let answer = w
        .comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    let replies = w.replies(PR_OPEN);
    assert_eq!(
        replies.len(),
        1,
        "found and edited, not posted again: {replies:?}"
    );
    assert!(replies[0].contains(&format!("delivery={}", guid(1))));
    let posts = w
        .github
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/issues/7/comments"))
        .count();
    assert_eq!(posts, 1, "the create was not repeated");
    let edits = w
        .github
        .calls()
        .into_iter()
        .filter(|c| c.method == "PATCH")
        .count();
    assert_eq!(edits, 1);
    assert_eq!(writes(&w).len(), 1, "one rerun");
    w.shutdown().await;
}

#[tokio::test]
async fn an_edit_by_someone_else_does_not_run_with_the_authors_role() {
    let mut w = World::start(queue_mode()).await.expect("world");
    w.comment(PR_OPEN, "mia", "Looking into it.")
        .await
        .expect("comment");
    let id = w.last_comment_id();
    // bob (write) edits mia's (maintain) comment to add a forced retrigger.
    let mut payload: serde_json::Value = serde_json::from_slice(&comment_payload(
        "edited",
        PR_OPEN,
        id,
        "mia",
        "Looking into it.\n/retrigger 1 --force source-test-mozlint-eslint",
        Some("Looking into it."),
    ))
    .expect("json");
    payload["sender"]["login"] = "bob".into();
    let body = serde_json::to_vec(&payload).expect("json");
    let (status, _) = w.post(&guid(900), &body).await.expect("post");
    assert_eq!(status, 200, "ignored");
    assert!(w
        .service
        .store
        .job_by_delivery(&guid(900))
        .await
        .expect("read")
        .is_none());
    assert!(writes(&w).is_empty());
    w.shutdown().await;
}

#[tokio::test]
async fn a_job_that_gives_up_says_so_on_the_pull_request() {
    // No retry budget: the first failure is the last.
    let mut w = World::start(no_retry_budget()).await.expect("world");
    // Taskcluster keeps failing every read: discovery cannot finish.
    w.queue.fail_next_matching("GET", 1000, 503);
    let answer = w.comment(PR_OPEN, "bob", "/rerun").await.expect("comment");
    assert!(
        matches!(answer.job, Some(JobEventKind::Failed(_))),
        "{answer:?}"
    );
    let reply = w.normalize(answer.reply.as_deref().expect("a reply"));
    assert!(reply.contains("could not finish this command"), "{reply}");
    assert!(reply.contains("503"), "says what failed:\n{reply}");
    assert_eq!(
        answer.reactions.last().map(String::as_str),
        Some("confused")
    );
    assert!(writes(&w).is_empty());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_comments_at_once_cannot_both_pass_the_per_task_rerun_limit() {
    let mut w = World::start(WorldOptions {
        repo_config: Some("dispatch: queue\nlimits:\n  max_reruns_per_task: 1\n".to_owned()),
        ..queue_mode()
    })
    .await
    .expect("world");
    let command = "/rerun source-test-mozlint-eslint";
    let (first, _) = w
        .comment_accepted(PR_OPEN, "bob", command)
        .await
        .expect("comment");
    let (second, _) = w
        .comment_accepted(PR_OPEN, "mia", command)
        .await
        .expect("comment");
    w.wait_for_all(&[&first, &second]).await.expect("both jobs");
    let reruns = writes(&w).iter().filter(|c| c.ends_with("/rerun")).count();
    assert_eq!(
        reruns, 1,
        "the ledger admits one rerun of the label per commit"
    );
    let replies = w.replies(PR_OPEN);
    assert_eq!(replies.len(), 2);
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.contains("rerun started"))
            .count(),
        1,
        "{replies:#?}"
    );
    w.shutdown().await;
}

/// `GET /task/<id>` calls the queue answered for `task`.
fn definition_reads(world: &World, task: &str) -> usize {
    world
        .queue
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.path == format!("/api/queue/v1/task/{task}"))
        .count()
}

#[tokio::test]
async fn a_copy_of_a_small_groups_task_takes_its_definition_from_the_listing() {
    let mut w = World::start(queue_mode()).await.expect("world");
    let answer = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    assert_eq!(w.queue.accepted("PUT", "").len(), 2, "two copies");
    assert_eq!(definition_reads(&w, pr::TEST_BC1_FAILED), 0);

    // Past the kept pages' budget, the group's definitions are read from
    // the queue, one `GET /task` per task copied.
    common::sandbox_queue::grow_past_kept_pages(&w.queue);
    let answer = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 1 test-linux64/opt-mochitest-browser-chrome-2",
        )
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    assert_eq!(w.queue.accepted("PUT", "").len(), 3, "one more copy");
    assert_eq!(definition_reads(&w, pr::TEST_BC2_COMPLETED), 1);
    w.shutdown().await;
}
