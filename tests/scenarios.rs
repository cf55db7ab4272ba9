//! End to end: signed webhooks through the real router, the worker and the
//! pipeline, against the stateful sandbox GitHub and Taskcluster. One test
//! per scenario of the rules (issue 7, §2); every reply is snapshotted, and
//! what reached Taskcluster is checked call by call. The sandbox's decision
//! tasks publish their in-tree actions, so actions go through them
//! (`dispatch: auto`); its worker runs the action tasks (nothing else), so
//! what they do can be seen.

mod common;

use common::poll::eventually;
use common::world::{in_tree_actions, queue_calls};
use rerunbot::policy::task::TaskState;
use rerunbot::policy::Role;
use rerunbot::sandbox::taskcluster::fixtures::{pr, release};
use rerunbot::sandbox::world::{Answer, World, WorldOptions, PR_CLOSED, PR_MERGED, PR_OPEN};
use rerunbot::types::Login;

async fn world() -> World {
    World::start(in_tree_actions()).await.expect("world")
}

/// The in-tree actions triggered, in order, as `<action> <target>`.
fn actions(world: &World) -> Vec<String> {
    world
        .queue
        .action_tasks()
        .iter()
        .map(|a| format!("{} {}", a.name, a.target.as_deref().unwrap_or("(group)")))
        .collect()
}

/// The reruns asked for: through the `rerun` action, or the queue.
fn reruns(world: &World) -> Vec<String> {
    let mut out: Vec<String> = world
        .queue
        .action_tasks()
        .iter()
        .filter(|a| a.name == "rerun")
        .filter_map(|a| a.target.as_deref().map(rerun_path))
        .collect();
    out.extend(world.queue.accepted("POST", "/rerun"));
    out
}

/// The reply, with the random sandbox port replaced, and each action task
/// (random ids, made by the hooks service) named by its order:
/// `[action-1…](…/tasks/action-1)`.
fn reply(world: &World, answer: &Answer) -> String {
    let mut text = world.normalize(answer.reply.as_deref().expect("a reply"));
    // Numbered in the order the reply shows them (they are made concurrently).
    let mut shown: Vec<(usize, String)> = world
        .queue
        .action_tasks()
        .into_iter()
        .filter_map(|a| Some((text.find(&a.task_id)?, a.task_id)))
        .collect();
    shown.sort();
    for (n, (_, id)) in shown.iter().enumerate() {
        let target = format!("](https://tc.example/tasks/{id})");
        while let Some(end) = text.find(&target) {
            let Some(start) = text[..end].rfind('[') else {
                break;
            };
            let named = format!(
                "[action-{}…](https://tc.example/tasks/action-{})",
                n + 1,
                n + 1
            );
            text.replace_range(start..end + target.len(), &named);
        }
    }
    text
}

/// Queue calls with `method` ending in `suffix` that the queue carried out.
fn calls(world: &World, method: &str, suffix: &str) -> Vec<String> {
    world.queue.accepted(method, suffix)
}

/// Every in-tree action (`<action> <target>`) and every direct write
/// (create, rerun, cancel) the queue carried out.
fn writes(world: &World) -> Vec<String> {
    let mut out = actions(world);
    out.extend(
        world
            .queue
            .accepted_writes()
            .into_iter()
            .filter(|w| !w.contains("/api/hooks/")),
    );
    out
}

fn rerun_path(task: &str) -> String {
    format!("/api/queue/v1/task/{task}/rerun")
}

fn runs(world: &World, task: &str) -> usize {
    world.queue.task(task).expect("task")["status"]["runs"]
        .as_array()
        .map_or(0, Vec::len)
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
    // One `retrigger` action task, asked for five copies.
    assert!(calls(&w, "PUT", "").is_empty(), "no direct copy");
    let action = w.queue.action_tasks();
    assert_eq!(action.len(), 1);
    assert_eq!(action[0].name, "retrigger");
    assert_eq!(action[0].target.as_deref(), Some(pr::TEST_BC1_FAILED));
    assert_eq!(action[0].input["times"], 5);
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    let text = reply(&w, &answer);
    let raw = w.normalize(answer.reply.as_deref().unwrap_or_default());
    assert!(
        raw.contains(&format!("https://tc.example/tasks/{}", action[0].task_id)),
        "the action task linked"
    );
    // It makes the five copies in the same group.
    eventually("five copies", || {
        w.queue.tasks_in_group(pr::GROUP).len() == 12 + 1 + 5
    })
    .await;
    insta::assert_snapshot!(text);
    w.shutdown().await;
}

#[tokio::test]
async fn s02_broken_pr_build_rerun() {
    let mut w = world().await;
    let before = runs(&w, pr::BUILD_WIN64_OPT_FAILED);
    let answer = w.comment(PR_OPEN, "bob", "/rerun").await.expect("comment");
    let mut reruns = reruns(&w);
    reruns.sort();
    let mut expected: Vec<String> = [
        pr::BUILD_WIN64_OPT_FAILED,
        pr::TEST_BC1_FAILED,
        pr::TEST_XPCSHELL3_EXCEPTION,
        pr::LINT_ESLINT_FAILED,
    ]
    .iter()
    .map(|t| rerun_path(t))
    .collect();
    expected.sort();
    assert_eq!(
        reruns, expected,
        "every failed or exception task, nothing else"
    );
    eventually("a new run under the same taskId", || {
        runs(&w, pr::BUILD_WIN64_OPT_FAILED) == before + 1
    })
    .await;
    assert!(calls(&w, "PUT", "").is_empty(), "no new task");
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    insta::assert_snapshot!(reply(&w, &answer));
    w.shutdown().await;
}

#[tokio::test]
async fn s03_broken_release_task_on_a_merged_pr() {
    let mut w = world().await;
    let label = "balrog-linux64-shippable/opt";
    let rerun = w
        .comment(PR_MERGED, "bob", &format!("/rerun {label}"))
        .await
        .expect("comment");
    assert_eq!(reruns(&w), vec![rerun_path(release::BALROG_LINUX_FAILED)]);
    // The `rerun` action task has run before the next comment: the task is
    // pending again.
    eventually("the rerun's new run", || {
        runs(&w, release::BALROG_LINUX_FAILED) == 2
    })
    .await;
    let refused = w
        .comment(PR_MERGED, "bob", &format!("/retrigger {label}"))
        .await
        .expect("comment");
    assert!(
        calls(&w, "PUT", "").is_empty(),
        "retrigger refused: nothing created"
    );
    let text = reply(&w, &refused);
    assert!(text.contains("/rerun"), "suggests /rerun:\n{text}");
    assert_eq!(refused.reactions, vec!["eyes", "confused"]);
    insta::assert_snapshot!("s03_rerun", reply(&w, &rerun));
    insta::assert_snapshot!("s03_retrigger_refused", text);
    w.shutdown().await;
}

#[tokio::test]
async fn s04_new_scriptworker_pool_forced_retrigger() {
    let mut w = world().await;
    let command = "/retrigger 1 --force build-signing-linux64-shippable/opt";
    let writer = w.comment(PR_MERGED, "bob", command).await.expect("comment");
    assert!(writes(&w).is_empty(), "a writer cannot force");
    let text = reply(&w, &writer);
    assert!(text.contains("maintain"), "names the role needed:\n{text}");
    let maintainer = w.comment(PR_MERGED, "mia", command).await.expect("comment");
    // Through the release graph's own `retrigger` action (force: true): its
    // action task makes the copy with the repository's scopes, listed in
    // its task-graph.json, so it passes Chain of Trust; rerunbot's client
    // holds no signing scope and creates nothing itself (DESIGN.md §8, §12).
    assert!(calls(&w, "PUT", "").is_empty(), "no direct copy");
    let id = release::SIGNING_LINUX_COMPLETED;
    assert_eq!(actions(&w), vec![format!("retrigger {id}")]);
    let action = w.queue.action_tasks()[0].clone();
    assert_eq!(action.input, serde_json::json!({"times": 1, "force": true}));
    let answer = reply(&w, &maintainer);
    let raw = maintainer.reply.as_deref().unwrap_or_default();
    assert!(
        raw.contains(&action.task_id),
        "links the action task:\n{raw}"
    );
    assert_eq!(maintainer.reactions, vec!["eyes", "rocket"]);
    eventually("the copy made by the action task", || {
        w.queue.tasks_in_group(release::GROUP).iter().any(|t| {
            w.queue
                .task(t)
                .is_some_and(|t| t["task"]["extra"]["parent"] == serde_json::json!(action.task_id))
        })
    })
    .await;
    insta::assert_snapshot!("s04_writer_refused", text);
    insta::assert_snapshot!("s04_maintainer_copy_with_warning", answer);
    w.shutdown().await;
}

#[tokio::test]
async fn s05_notarization_poller_timeout() {
    let mut w = world().await;
    let before = runs(&w, release::NOTARIZATION_PART_1_COMPLETED);
    let part1 = w
        .comment(
            PR_MERGED,
            "mia",
            "/rerun --force notarization-part-1-macosx64-shippable/opt",
        )
        .await
        .expect("comment");
    // Part 1 completed: taskgraph's `rerun` action reruns only failed or
    // exception tasks, so the forced rerun goes to the queue directly.
    assert_eq!(runs(&w, release::NOTARIZATION_PART_1_COMPLETED), before + 1);
    let poller = w
        .comment(
            PR_MERGED,
            "bob",
            "/rerun notarization-poller-macosx64-shippable/opt",
        )
        .await
        .expect("comment");
    // Part 1's new run is still pending: the poller waits for it (DESIGN.md
    // §13) instead of starting alongside it; tests/waits.rs follows it to
    // the end.
    assert_eq!(
        reruns(&w),
        vec![rerun_path(release::NOTARIZATION_PART_1_COMPLETED)]
    );
    insta::assert_snapshot!("s05_forced_rerun_of_completed_part1", reply(&w, &part1));
    insta::assert_snapshot!("s05_poller_waits_for_part1", reply(&w, &poller));
    w.shutdown().await;
}

#[tokio::test]
async fn s06_release_task_behind_a_failed_dependency() {
    let mut w = world().await;
    // It uploads the failed poller's artifacts: canceling and rerunning it
    // would only fail again. Refused, naming the poller.
    let consumes = w
        .comment(
            PR_MERGED,
            "mia",
            "/rerun --force beetmover-repackage-macosx64-shippable/opt",
        )
        .await
        .expect("comment");
    assert!(writes(&w).is_empty(), "nothing sent: {:?}", writes(&w));
    // It uses none of the poller's artifacts and every other dependency
    // completed: cancel, then rerun.
    let ok = w
        .comment(
            PR_MERGED,
            "mia",
            "/rerun --force release-notify-push-firefox",
        )
        .await
        .expect("comment");
    let id = release::NOTIFY_PUSH_BEHIND_FAILED;
    assert_eq!(
        writes(&w),
        vec![format!("cancel {id}"), format!("rerun {id}")]
    );
    // A dependency still running: refused.
    let refused = w
        .comment(
            PR_MERGED,
            "mia",
            "/rerun --force release-balrog-submit-toplevel-firefox",
        )
        .await
        .expect("comment");
    assert_eq!(writes(&w).len(), 2, "nothing more sent");
    insta::assert_snapshot!("s06_refused_consumes_artifacts", reply(&w, &consumes));
    insta::assert_snapshot!("s06_cancel_then_rerun", reply(&w, &ok));
    insta::assert_snapshot!("s06_refused_while_running", reply(&w, &refused));
    w.shutdown().await;
}

#[tokio::test]
async fn s07_deadline_exceeded_leaf_release_task() {
    let mut w = world().await;
    let refused = w
        .comment(PR_MERGED, "bob", "/rerun release-bouncer-sub-firefox")
        .await
        .expect("comment");
    assert!(writes(&w).is_empty());
    let text = reply(&w, &refused);
    assert!(
        text.contains("`/retrigger 1 release-bouncer-sub-firefox --force`"),
        "hint:\n{text}"
    );
    let forced = w
        .comment(
            PR_MERGED,
            "mia",
            "/retrigger 1 --force release-bouncer-sub-firefox",
        )
        .await
        .expect("comment");
    // A copy through the release graph's `retrigger` action, never a
    // direct one (it would fail Chain of Trust).
    assert!(calls(&w, "PUT", "").is_empty(), "no direct copy");
    assert_eq!(
        actions(&w),
        vec![format!("retrigger {}", release::BOUNCER_DEADLINE_EXCEEDED)]
    );
    assert_eq!(forced.reactions, vec!["eyes", "rocket"]);
    insta::assert_snapshot!("s07_refused_with_hint", text);
    insta::assert_snapshot!("s07_forced_retrigger", reply(&w, &forced));
    w.shutdown().await;
}

#[tokio::test]
async fn s08_mass_failure_guard() {
    let mut w = world().await;
    for task in [
        pr::BUILD_LINUX64_OPT,
        pr::BUILD_LINUX64_DEBUG,
        pr::TEST_BC2_COMPLETED,
        pr::LINT_CLIPPY_COMPLETED,
    ] {
        assert!(w.queue.set_state(task, TaskState::Failed, Some("failed")));
    }
    // 8 of 12 tasks broken (67%) > 50%.
    let refused = w.comment(PR_OPEN, "bob", "/rerun").await.expect("comment");
    assert!(writes(&w).is_empty(), "guard refused the bulk rerun");
    let forced = w
        .comment(PR_OPEN, "mia", "/rerun --force")
        .await
        .expect("comment");
    // 5 reruns now; the 3 tasks depending on the two rerun builds wait
    // for the builds' new runs (DESIGN.md §13).
    assert_eq!(reruns(&w).len(), 5);
    assert_eq!(reply(&w, &forced).matches("⏸️ waits for").count(), 3);
    insta::assert_snapshot!("s08_refused", reply(&w, &refused));
    insta::assert_snapshot!("s08_forced", reply(&w, &forced));
    w.shutdown().await;
}

#[tokio::test]
async fn s09_permissions_author_closed_and_bots() {
    let mut w = world().await;
    // A reader: refused.
    let reader = w.comment(PR_OPEN, "rita", "/rerun").await.expect("comment");
    assert!(writes(&w).is_empty());
    insta::assert_snapshot!("s09_reader_refused", reply(&w, &reader));
    // The pull request's author, with read access only, reruns their own failures.
    w.github
        .set_role(&w.repo.clone(), &Login::from("alice"), Role::Read);
    let author = w
        .comment(PR_OPEN, "alice", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    assert_eq!(reruns(&w), vec![rerun_path(pr::LINT_ESLINT_FAILED)]);
    insta::assert_snapshot!("s09_author_rerun", reply(&w, &author));
    // ...but may not retrigger.
    let author_retrigger = w
        .comment(
            PR_OPEN,
            "alice",
            "/retrigger test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    assert!(calls(&w, "PUT", "").is_empty());
    insta::assert_snapshot!("s09_author_retrigger_refused", reply(&w, &author_retrigger));
    // A closed pull request: refused.
    let closed = w
        .comment(PR_CLOSED, "bob", "/rerun")
        .await
        .expect("comment");
    assert_eq!(reruns(&w).len(), 1);
    insta::assert_snapshot!("s09_closed_refused", reply(&w, &closed));
    // A bot's comment: ignored, no job, no reply, no reaction.
    let replies_before = w.replies(PR_OPEN).len();
    let bot = w
        .comment(PR_OPEN, "dependabot[bot]", "/rerun")
        .await
        .expect("comment");
    assert!(bot.job.is_none() && bot.reactions.is_empty());
    assert_eq!(w.replies(PR_OPEN).len(), replies_before);
    w.shutdown().await;
}

#[tokio::test]
async fn s10_malformed_commands_and_an_invalid_config() {
    let mut w = world().await;
    let typo = w
        .comment(
            PR_OPEN,
            "bob",
            "/retriger 3 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    let zero = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 0 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    let nomatch = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 2 test-linux64/opt-mochitest-browser-chrom-1",
        )
        .await
        .expect("comment");
    assert!(writes(&w).is_empty(), "nothing dispatched");
    assert!(reply(&w, &typo).contains("/retrigger"), "did you mean");
    assert!(
        reply(&w, &nomatch).contains("test-linux64/opt-mochitest-browser-chrome-1"),
        "closest name"
    );
    insta::assert_snapshot!("s10_typo", reply(&w, &typo));
    insta::assert_snapshot!("s10_zero", reply(&w, &zero));
    insta::assert_snapshot!("s10_no_match", reply(&w, &nomatch));

    let mut w = World::start(WorldOptions {
        repo_config: Some("limits:\n  max_retrigger: 5\n  max_retriggers: 3\n".to_owned()),
        ..in_tree_actions()
    })
    .await
    .expect("world");
    let bad = w.comment(PR_OPEN, "bob", "/rerun").await.expect("comment");
    assert!(
        writes(&w).is_empty(),
        "nothing dispatched with an invalid config"
    );
    let text = reply(&w, &bad);
    assert!(
        text.contains(".github/rerunbot.yml:3:"),
        "path and line:\n{text}"
    );
    assert_eq!(bad.reactions, vec!["eyes", "confused"]);
    insta::assert_snapshot!("s10_invalid_config", text);
    w.shutdown().await;
}

#[tokio::test]
async fn s11_taskcluster_errors() {
    // The queue's own errors: direct queue calls.
    let mut w = World::start(WorldOptions {
        repo_config: Some("dispatch: queue\n".to_owned()),
        ..in_tree_actions()
    })
    .await
    .expect("world");
    // Three 500s on the rerun, then success: dispatched exactly once.
    w.queue.fail_next_matching("POST", 3, 500);
    let answer = w
        .comment(PR_OPEN, "bob", "/rerun build-win64/opt")
        .await
        .expect("comment");
    assert_eq!(reruns(&w), vec![rerun_path(pr::BUILD_WIN64_OPT_FAILED)]);
    let attempts = queue_calls(&w, "POST", "");
    assert_eq!(attempts, 4, "three failures then one success");
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    // Missing scopes (the repository's role lacks the task's): the reply
    // names them.
    w.queue
        .set_role("repo:github.com/mozilla/gecko-dev:*", &["queue:*"]);
    let scopes = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 1 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("comment");
    assert!(calls(&w, "PUT", "").is_empty());
    let text = reply(&w, &scopes);
    assert!(
        text.contains("secrets:get:project/releng/gecko/testing/level-1/*"),
        "names the scope:\n{text}"
    );
    assert_eq!(scopes.reactions, vec!["eyes", "confused"]);
    insta::assert_snapshot!("s11_insufficient_scopes", text);
    w.shutdown().await;
}

#[tokio::test]
async fn s06b_a_dependency_outside_the_groups_is_looked_up() {
    use rerunbot::policy::copy_ids::copy_task_id;
    use rerunbot::types::{DeliveryId, TaskId};
    let mut w = world().await;
    // A cached docker-image task of an older group, completed long ago...
    let seed = DeliveryId::from("external-seed");
    let external = copy_task_id(&seed, &TaskId::from("docker"), 0);
    let old_group = copy_task_id(&seed, &TaskId::from("group"), 0);
    let source = w
        .queue
        .task(release::BEETMOVER_MAC_BEHIND_FAILED)
        .expect("fixture");
    let mut task = source["task"].clone();
    task["taskGroupId"] = old_group.to_string().into();
    task["dependencies"] = serde_json::json!([]);
    task["tags"]["label"] = "docker-image-debian12".into();
    let mut status = source["status"].clone();
    status["taskId"] = external.to_string().into();
    status["taskGroupId"] = old_group.to_string().into();
    status["state"] = "completed".into();
    status["runs"] = serde_json::json!([{"runId": 0, "state": "completed", "reasonCreated": "scheduled", "reasonResolved": "completed"}]);
    w.queue.add_task(external.as_str(), task, status);
    // ...and a release task of this group, unscheduled behind it only.
    let waiting = copy_task_id(&seed, &TaskId::from("waiting"), 0);
    let mut task = source["task"].clone();
    task["dependencies"] = serde_json::json!([external.as_str()]);
    task["tags"]["label"] = "beetmover-repackage-win64-shippable/opt".into();
    task["metadata"]["name"] = "beetmover-repackage-win64-shippable/opt".into();
    let mut status = source["status"].clone();
    status["taskId"] = waiting.to_string().into();
    w.queue.add_task(waiting.as_str(), task, status);

    let answer = w
        .comment(
            PR_MERGED,
            "mia",
            "/rerun --force beetmover-repackage-win64-shippable/opt",
        )
        .await
        .expect("comment");
    assert_eq!(
        writes(&w),
        vec![format!("cancel {waiting}"), format!("rerun {waiting}")],
        "{}",
        reply(&w, &answer)
    );
    assert!(
        calls(&w, "GET", &format!("/task/{external}/status")).len() == 1,
        "looked up once"
    );
    w.shutdown().await;
}
