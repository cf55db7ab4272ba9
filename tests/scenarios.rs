//! End to end: signed webhooks through the real router, the worker and the
//! pipeline, against the stateful sandbox GitHub and Taskcluster. One test
//! per scenario of the rules; every reply is snapshotted.

use rerunbot::sandbox::taskcluster::fixtures::{pr, release};
use rerunbot::sandbox::world::{Answer, World, WorldOptions, PR_CLOSED, PR_MERGED, PR_OPEN};

async fn world() -> World {
    World::start(WorldOptions::default()).await.expect("world")
}

/// The reply, with the random sandbox port replaced.
fn reply(world: &World, answer: &Answer) -> String {
    world.normalize(answer.reply.as_deref().expect("a reply"))
}

fn calls(world: &World, method: &str, suffix: &str) -> Vec<String> {
    world
        .queue
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.path.ends_with(suffix) && c.status < 300)
        .map(|c| c.path)
        .collect()
}

#[tokio::test]
async fn s01_intermittent_test_retriggered_five_times() {
    let mut w = world().await;
    let answer = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 5 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    let created = calls(&w, "PUT", "");
    assert_eq!(created.len(), 5, "{created:?}");
    let group = w.queue.tasks_in_group(pr::GROUP);
    assert_eq!(group.len(), 12 + 5, "copies live in the same group");
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    let text = reply(&w, &answer);
    for path in &created {
        let id = path.rsplit('/').next().expect("id");
        assert!(
            text.contains(&format!("https://tc.example/tasks/{id}")),
            "{id} linked"
        );
    }
    insta::assert_snapshot!(text);
    w.shutdown().await;
}
