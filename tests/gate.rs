//! Role before work (DESIGN.md §6): a comment from someone who may run no
//! command costs the role call and one reply — no reaction, no pull request
//! or check-run reads, no Taskcluster call — and the replies to one
//! person's refused comments are rate-limited. And a retried job looks for
//! its reply only among the App's own comments.

use rerunbot::sandbox::world::{World, WorldOptions, PR_OPEN};

#[tokio::test]
async fn a_refused_comment_costs_the_role_call_and_one_reply() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    // A writer's command first: the configuration is read (and cached).
    w.comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    let github_before = w.github.calls().len();
    let queue_before = w.queue.calls().len();
    let answer = w
        .comment(PR_OPEN, "rita", "/rerun\n/retrigger 3 *")
        .await
        .expect("comment");
    let reply = answer.reply.expect("a reply");
    assert!(reply.contains("@rita — nothing was run"), "{reply}");
    assert!(answer.reactions.is_empty(), "{:?}", answer.reactions);
    let calls: Vec<String> = w.github.calls()[github_before..]
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    let work: Vec<&String> = calls
        .iter()
        .filter(|c| !c.contains("/collaborators/rita/permission") && !c.contains("/access_tokens"))
        .collect();
    assert_eq!(work.len(), 1, "one reply and nothing else: {calls:#?}");
    assert!(work[0].starts_with("POST") && work[0].ends_with("/issues/7/comments"));
    assert_eq!(w.queue.calls().len(), queue_before, "no Taskcluster call");
    w.shutdown().await;
}

#[tokio::test]
async fn refusal_replies_to_one_person_are_rate_limited() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    for _ in 0..5 {
        w.comment(PR_OPEN, "rita", "/rerun").await.expect("comment");
    }
    let refusals = w
        .replies(PR_OPEN)
        .iter()
        .filter(|r| r.contains("@rita — nothing was run"))
        .count();
    assert_eq!(refusals, 3, "three replies per ten minutes, then silence");
    // Someone else is still answered.
    let bob = w
        .comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    assert!(bob.reply.is_some_and(|r| r.contains("@bob")));
    w.shutdown().await;
}

#[tokio::test]
async fn a_retried_job_adopts_only_the_apps_own_reply() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    // Another app copies the marker of the coming delivery into a comment.
    let marker = rerunbot::reply::delivery_marker(&rerunbot::sandbox::world::guid(1));
    let decoy = w.github.add_user_comment(
        &w.repo.clone(),
        rerunbot::types::PullRequestNumber(PR_OPEN),
        &rerunbot::types::Login::from("mimic[bot]"),
        &format!("not the reply\n\n{marker}"),
    );
    // The first attempt's reply fails; the retry looks for it by marker.
    w.github
        .fail_next_matching("POST", "/issues/7/comments", 1, 502);
    let answer = w
        .comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(rerunbot::worker::JobEventKind::Done));
    let comments = w
        .github
        .comments(&w.repo.clone(), rerunbot::types::PullRequestNumber(PR_OPEN));
    let decoy = comments.iter().find(|c| c.id == decoy).expect("decoy");
    assert!(decoy.body.starts_with("not the reply"), "left alone");
    assert_eq!(w.replies(PR_OPEN).len(), 1, "its own reply, posted");
    w.shutdown().await;
}
