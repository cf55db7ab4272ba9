//! Bounded work per comment (DESIGN.md §5): a 64 KB comment of ~20,000 `?*`
//! selectors — from a pull request's author who holds no role, and from a
//! maintainer — is answered at once with a reply naming the limit (50
//! selectors per command), and nothing is asked of Taskcluster. In the
//! heaviest comment the grammar accepts (10 commands of 50 selectors) each
//! distinct selector is resolved once; what that costs on 20,000 tasks is
//! `benches/selection.rs`.

use rerunbot::policy::Role;
use rerunbot::sandbox::world::{World, WorldOptions, PR_OPEN};
use rerunbot::types::Login;
use std::time::{Duration, Instant};

/// `/rerun` followed by `?*` selectors up to 64 KB.
fn hostile_comment() -> String {
    let mut body = String::from("/rerun");
    while body.len() + 3 <= 64 * 1024 {
        body.push_str(" ?*");
    }
    body
}

#[tokio::test]
async fn a_64_kb_comment_of_globs_is_refused_at_once_naming_the_limit() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    let body = hostile_comment();
    assert!(body.len() > 60 * 1024 && body.matches("?*").count() > 20_000);
    // alice wrote the pull request; without a role she acts only through
    // `pr_author_rerun`.
    let repo = w.repo.clone();
    w.github.set_role(&repo, &Login::from("alice"), Role::None);
    for login in ["alice", "mia"] {
        let queue_before = w.queue.calls().len();
        let started = Instant::now();
        let answer = w.comment(PR_OPEN, login, &body).await.expect("comment");
        let took = started.elapsed();
        let reply = answer.reply.expect("a reply");
        assert!(
            took < Duration::from_secs(1),
            "{login}: answered in {took:?}"
        );
        assert!(reply.contains(&format!("@{login}")), "{reply}");
        assert!(reply.contains("50"), "the limit is named: {reply}");
        assert_eq!(
            w.queue.calls().len(),
            queue_before,
            "{login}: nothing asked of Taskcluster"
        );
        insta::assert_snapshot!(format!("hostile_reply_{login}"), w.normalize(&reply));
    }
    w.shutdown().await;
}

#[tokio::test]
async fn the_heaviest_accepted_comment_plans_each_distinct_selector_once() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    // 10 commands of 50 selectors, each written 25 times: a label and a
    // glob that matches nothing.
    let line = format!(
        "/rerun {}",
        ["source-test-mozlint-eslint", "nothing-like-this-?*"]
            .repeat(25)
            .join(" ")
    );
    let body = vec![line; 10].join("\n");
    let answer = w.comment(PR_OPEN, "mia", &body).await.expect("comment");
    let reply = answer.reply.expect("a reply");
    assert_eq!(
        reply.matches("`nothing-like-this-?*`").count(),
        10,
        "reported once per command, not once per repetition: {reply}"
    );
    assert_eq!(
        reply.matches("by @mia — 1 task").count(),
        10,
        "the label written 25 times is one task per command: {reply}"
    );
    // Repeated identical commands count separately, up to the per-task
    // limit: through the group's in-tree `rerun` action, or the queue.
    let reruns = w.queue.accepted("POST", "/rerun").len() + w.queue.action_tasks().len();
    assert!((1..=3).contains(&reruns), "{reruns} reruns: {reply}");
    w.shutdown().await;
}
