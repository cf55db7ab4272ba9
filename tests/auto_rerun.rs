//! Automatic reruns (DESIGN.md §13, repo config `auto_rerun`) through the
//! real router: signed `check_suite` deliveries (GitHub's example payload),
//! the sandbox GitHub and queue, the follow loop editing the one comment
//! per pull-request head as the reruns resolve. The Pulse source is tested
//! on the real RabbitMQ in `tests/pulse.rs`.

mod common;

use common::follow_events::edited;
use common::next;
use common::world::{claim_due_replies, in_tree_actions};
use rerunbot::follow::FollowEvent;
use rerunbot::policy::task::TaskState;
use rerunbot::sandbox::github::payloads::check_suite_completed;
use rerunbot::sandbox::taskcluster::fixtures::pr;
use rerunbot::sandbox::world::{World, WorldOptions, HEAD_SHA, INSTALLATION, PR_CLOSED, PR_OPEN};
use tokio::sync::broadcast::Receiver;

/// Reruns exceptions for transient reasons (the default rules), and failed
/// tests (opt-in tag `retrigger`, which the fixture's tests carry); the
/// fixture group has 4 failures of 12.
/// The queue path (direct reruns); the in-tree `rerun` action has a test
/// of its own.
const CONFIG: &str = "dispatch: queue\nauto_rerun:\n  enabled: true\n  opt_in_tag: retrigger\n  max_failure_percent: 50\n";
const ACTIONS_CONFIG: &str =
    "auto_rerun:\n  enabled: true\n  opt_in_tag: retrigger\n  max_failure_percent: 50\n";

async fn world(config: &str) -> World {
    world_on(config, None).await
}

async fn world_on(config: &str, database_url: Option<String>) -> World {
    resolved_world(WorldOptions {
        repo_config: Some(config.to_owned()),
        database_url,
        follow: Some(common::fast_follow()),
        ..WorldOptions::default()
    })
    .await
}

/// With the repository's in-tree actions ([`ACTIONS_CONFIG`]); the sandbox
/// worker runs the action tasks, the test resolves the reruns.
async fn actions_world() -> World {
    resolved_world(WorldOptions {
        repo_config: Some(ACTIONS_CONFIG.to_owned()),
        follow: Some(common::fast_follow()),
        ..in_tree_actions()
    })
    .await
}

/// A world started with `options` whose group then resolves: its running
/// and pending tasks complete.
async fn resolved_world(options: WorldOptions) -> World {
    let w = World::start(options).await.expect("world");
    for task in [pr::TEST_DT1_RUNNING, pr::TEST_WPT5_PENDING] {
        assert!(w.queue.set_state(task, TaskState::Completed, None));
    }
    w
}

/// Waits until both action tasks triggered so far have run (each reran
/// its task).
async fn both_action_tasks_ran(w: &World, events: &mut Receiver<FollowEvent>) {
    let actions: Vec<String> = w
        .queue
        .triggers()
        .iter()
        .filter_map(|t| t.action_task_id.clone())
        .collect();
    let mut ran = 0;
    while ran < 2 {
        let task = next(events, |e| match e {
            FollowEvent::Resolved { task_id, .. } => Some(task_id.clone()),
            _ => None,
        })
        .await;
        ran += usize::from(actions.contains(&task));
    }
}

fn suite(app: &str) -> Vec<u8> {
    check_suite_completed("mozilla/gecko-dev", INSTALLATION, HEAD_SHA, app, "failure")
}

/// Posts a check suite and waits for its job, if one was queued.
async fn deliver(w: &mut World, guid: &str, body: &[u8]) -> u16 {
    let (status, _) = w.post_event("check_suite", guid, body).await.expect("post");
    if status == 202 {
        w.wait_for(guid).await.expect("job");
    }
    status
}

fn reruns(w: &World) -> Vec<String> {
    w.queue
        .accepted("POST", "/rerun")
        .into_iter()
        .map(|p| {
            p.trim_end_matches("/rerun")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn auto_comments(w: &World, pr: u64) -> Vec<String> {
    w.replies(pr)
        .into_iter()
        .filter(|b| b.starts_with("Automatic reruns"))
        .collect()
}

/// A completed Taskcluster suite reruns the matching failures once; the
/// same suite redelivered, or announced again, reruns nothing more; the
/// one comment of the head lists the reruns and is edited as they resolve.
#[tokio::test]
async fn a_completed_suite_reruns_matching_failures_once_and_the_comment_follows_them() {
    let mut w = world(CONFIG).await;
    let mut events = w.follow_events().expect("following");
    assert_eq!(deliver(&mut w, "suite-1", &suite("taskcluster")).await, 202);
    let mut rerun = reruns(&w);
    rerun.sort();
    let mut expected = vec![
        pr::TEST_BC1_FAILED.to_owned(),
        pr::TEST_XPCSHELL3_EXCEPTION.to_owned(),
    ];
    expected.sort();
    assert_eq!(
        rerun, expected,
        "the exception (claim-expired) and the opted-in failed test"
    );
    let first = next(&mut events, edited).await;

    // A redelivery (same GUID) is answered 200 and stores nothing; the same
    // resolution announced again (new GUID) reruns nothing.
    assert_eq!(deliver(&mut w, "suite-1", &suite("taskcluster")).await, 200);
    assert_eq!(deliver(&mut w, "suite-2", &suite("taskcluster")).await, 202);
    assert_eq!(reruns(&w).len(), 2, "{:?}", reruns(&w));

    // The reruns resolve: the comment is edited with each result.
    assert!(w
        .queue
        .set_state(pr::TEST_XPCSHELL3_EXCEPTION, TaskState::Completed, None));
    assert!(w
        .queue
        .set_state(pr::TEST_BC1_FAILED, TaskState::Failed, None));
    let last = loop {
        let body = next(&mut events, edited).await;
        if !body.contains('⏳') {
            break body;
        }
    };
    // One comment for the head, on the open pull request only.
    let comments = auto_comments(&w, PR_OPEN);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0], last);
    assert!(auto_comments(&w, PR_CLOSED).is_empty());
    insta::assert_snapshot!(format!(
        "{}\n\n════════ edited ════════\n\n{}",
        w.normalize(&first),
        w.normalize(&last)
    ));
    let metrics = w.service.metrics.render([0; 4]);
    for line in [
        "rerunbot_auto_reruns_total{outcome=\"sent\"} 2",
        "rerunbot_auto_rerun_events_total{source=\"check_suite\"} 2",
        "rerunbot_handler_jobs_total{handler=\"check_suite\",outcome=\"done\"} 2",
        "rerunbot_webhook_deliveries_total{event=\"check_suite\",outcome=\"duplicate\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    w.shutdown().await;
}

/// Another app's suite costs one parse: answered 200, nothing stored.
/// A suite whose group did not resolve, or a repository without the block,
/// reruns nothing.
#[tokio::test]
async fn other_apps_unresolved_groups_and_disabled_repositories_rerun_nothing() {
    let mut w = world(CONFIG).await;
    assert_eq!(
        deliver(&mut w, "other-app", &suite("github-actions")).await,
        200
    );
    assert!(w
        .service
        .store
        .job_by_delivery("other-app")
        .await
        .expect("read")
        .is_none());
    // Something runs again: the group is not resolved.
    assert!(w
        .queue
        .set_state(pr::TEST_DT1_RUNNING, TaskState::Running, None));
    assert_eq!(
        deliver(&mut w, "unresolved", &suite("taskcluster")).await,
        202
    );
    assert!(reruns(&w).is_empty());
    w.shutdown().await;

    let mut off = world("auto_rerun:\n  enabled: false\n").await;
    assert_eq!(deliver(&mut off, "off", &suite("taskcluster")).await, 202);
    assert!(reruns(&off).is_empty());
    // Only the GitHub reads: no Taskcluster call at all.
    assert!(off.queue.calls().is_empty(), "{:?}", off.queue.calls());
    off.shutdown().await;
}

/// Above `max_failure_percent` nothing is rerun, and one comment says why
/// (once, however often the resolution is announced).
#[tokio::test]
async fn too_many_failures_rerun_nothing_and_one_comment_says_why() {
    let mut w =
        world("dispatch: queue\nauto_rerun:\n  enabled: true\n  max_failure_percent: 20\n").await;
    let mut events = w.follow_events().expect("following");
    assert_eq!(deliver(&mut w, "suite-1", &suite("taskcluster")).await, 202);
    let body = next(&mut events, edited).await;
    assert_eq!(deliver(&mut w, "suite-2", &suite("taskcluster")).await, 202);
    assert!(reruns(&w).is_empty());
    let comments = auto_comments(&w, PR_OPEN);
    assert_eq!(comments, vec![body.clone()]);
    insta::assert_snapshot!(w.normalize(&body));
    // Not edited again by the second announcement.
    let due = claim_due_replies(&w).await;
    assert!(due.is_empty(), "{due:?}");
    w.shutdown().await;
}

/// A suite naming a closed pull request reruns nothing.
#[tokio::test]
async fn a_closed_pull_request_gets_no_automatic_rerun() {
    let mut w = world(CONFIG).await;
    let mut body: serde_json::Value = serde_json::from_slice(&suite("taskcluster")).expect("json");
    body["check_suite"]["pull_requests"] = serde_json::json!([{"number": PR_CLOSED, "id": 1}]);
    let body = serde_json::to_vec(&body).expect("json");
    assert_eq!(deliver(&mut w, "closed", &body).await, 202);
    assert!(reruns(&w).is_empty());
    assert!(auto_comments(&w, PR_CLOSED).is_empty());
    w.shutdown().await;
}

/// The same on Postgres (the planning lock, the records, the head, the
/// followed groups): two announcements, the reruns once.
#[tokio::test]
async fn a_suite_announced_twice_reruns_once_on_postgres() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let mut w = world_on(CONFIG, Some(url)).await;
    let mut events = w.follow_events().expect("following");
    assert_eq!(deliver(&mut w, "pg-1", &suite("taskcluster")).await, 202);
    assert_eq!(deliver(&mut w, "pg-2", &suite("taskcluster")).await, 202);
    assert_eq!(reruns(&w).len(), 2, "{:?}", reruns(&w));
    let body = next(&mut events, edited).await;
    assert!(body.contains("2 reruns"), "{body}");
    assert_eq!(
        w.service.store.auto_groups().await.expect("groups"),
        vec![pr::GROUP.to_owned()]
    );
    w.shutdown().await;
}

/// With the repository's in-tree actions (`dispatch: auto` and an
/// `actions.json`), each automatic rerun is one trigger of its `rerun`
/// action, never a direct rerun; the head's comment follows the runs the
/// action tasks started; announced again, nothing is triggered twice.
#[tokio::test]
async fn automatic_reruns_go_through_the_repositorys_rerun_action() {
    let mut w = actions_world().await;
    let mut events = w.follow_events().expect("following");
    assert_eq!(deliver(&mut w, "suite-1", &suite("taskcluster")).await, 202);
    assert_eq!(deliver(&mut w, "suite-2", &suite("taskcluster")).await, 202);
    assert!(reruns(&w).is_empty(), "no direct rerun: {:?}", reruns(&w));
    let mut targets: Vec<String> = w
        .queue
        .triggers()
        .iter()
        .map(|t| {
            assert_eq!(t.payload["user"]["input"], serde_json::json!({}));
            t.payload["user"]["taskId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    targets.sort();
    let mut expected = vec![
        pr::TEST_BC1_FAILED.to_owned(),
        pr::TEST_XPCSHELL3_EXCEPTION.to_owned(),
    ];
    expected.sort();
    assert_eq!(targets, expected, "one rerun action per task, once");
    // Both action tasks ran (each reran its task): the runs they started
    // are followed from now on.
    both_action_tasks_ran(&w, &mut events).await;
    for task in [pr::TEST_BC1_FAILED, pr::TEST_XPCSHELL3_EXCEPTION] {
        assert!(w.queue.set_state(task, TaskState::Completed, None));
    }
    let last = loop {
        let body = next(&mut events, edited).await;
        if !body.contains('⏳') {
            break body;
        }
    };
    assert_eq!(last.matches('✅').count(), 2, "{last}");
    w.shutdown().await;
}

/// The calls that read what a group's decision task offers: its
/// `actions.json` and the expansion of its scopes.
fn action_reads(w: &World) -> Vec<String> {
    w.queue
        .calls()
        .into_iter()
        .filter(|c| {
            c.path.contains("/artifacts/public/actions.json")
                || c.path.starts_with("/api/auth/v1/scopes/expand")
        })
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

/// Groups are judged before their decision tasks are asked what they
/// offer: a resolution with nothing to rerun (too many failures; attempts
/// spent) reads no `actions.json` and expands no scopes, under the same
/// `dispatch: auto` where a resolution with reruns reads them and
/// triggers the repository's `rerun` action.
#[tokio::test]
async fn a_resolution_with_nothing_to_rerun_reads_no_actions() {
    // Too many failures (4 of 12 over 20 %): refused before any action read.
    let mut refused = world("auto_rerun:\n  enabled: true\n  max_failure_percent: 20\n").await;
    assert_eq!(
        deliver(&mut refused, "refused", &suite("taskcluster")).await,
        202
    );
    assert!(
        !refused.queue.calls().is_empty(),
        "the group was listed and judged"
    );
    assert_eq!(action_reads(&refused), Vec::<String>::new());
    assert!(refused.queue.triggers().is_empty());
    refused.shutdown().await;

    // Attempts spent: the first resolution reruns through the action (and
    // reads it); the reruns fail again, and the second resolution, with
    // `max_attempts: 1` spent on both tasks, reads nothing.
    let mut w = actions_world().await;
    let mut events = w.follow_events().expect("following");
    assert_eq!(deliver(&mut w, "suite-1", &suite("taskcluster")).await, 202);
    assert_eq!(w.queue.triggers().len(), 2, "{:?}", w.queue.triggers());
    let first_reads = action_reads(&w);
    assert!(
        first_reads
            .iter()
            .any(|c| c.contains("/artifacts/public/actions.json")),
        "{first_reads:?}"
    );
    assert!(
        first_reads.iter().any(|c| c.contains("scopes/expand")),
        "{first_reads:?}"
    );
    // The action tasks rerun their tasks; the reruns fail.
    both_action_tasks_ran(&w, &mut events).await;
    for task in [pr::TEST_BC1_FAILED, pr::TEST_XPCSHELL3_EXCEPTION] {
        assert!(w.queue.set_state(task, TaskState::Failed, None));
    }
    assert_eq!(deliver(&mut w, "suite-2", &suite("taskcluster")).await, 202);
    assert_eq!(w.queue.triggers().len(), 2, "nothing more triggered");
    assert!(reruns(&w).is_empty(), "no direct rerun: {:?}", reruns(&w));
    assert_eq!(
        action_reads(&w),
        first_reads,
        "no action read the second time"
    );
    w.shutdown().await;
}
