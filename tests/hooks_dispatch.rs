//! Dispatch through the repository's in-tree actions (DESIGN.md §8, §10),
//! end to end: signed webhooks through the real router and pipeline
//! against the sandbox's queue, hooks and auth services. Each hook trigger
//! happens exactly once: killed between the trigger and its record, or
//! answered 5xx after the hook created the action task, the job finds the
//! action task instead of triggering again. A cancel-then-rerun whose
//! cancel action task finished without canceling the task fails its row
//! at once, saying why, and triggers no rerun.

mod common;

use common::follow_events::reacted;
use common::poll::eventually;
use common::world::in_tree_actions;
use common::world::job_of;

use rerunbot::sandbox::taskcluster::fixtures::{pr, release, ACTIONS_JSON};
use rerunbot::sandbox::taskcluster::hooks::TriggerFault;
use rerunbot::sandbox::taskcluster::worker::WorkerScript;
use rerunbot::sandbox::world::{guid, World, WorldOptions, PR_MERGED, PR_OPEN};
use rerunbot::worker::JobEventKind;
use serde_json::{json, Value};
use std::time::Duration;

fn reply(w: &World, answer: &rerunbot::sandbox::world::Answer) -> String {
    w.normalize(answer.reply.as_deref().expect("a reply"))
}

#[tokio::test]
async fn a_forced_retrigger_of_a_signing_task_is_copied_by_the_repositorys_own_action() {
    let mut w = World::start(in_tree_actions()).await.expect("world");
    let answer = w
        .comment(
            PR_MERGED,
            "mia",
            "/retrigger 1 --force build-signing-linux64-shippable/opt",
        )
        .await
        .expect("comment");
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    assert!(
        w.queue.accepted("PUT", "").is_empty(),
        "no direct copy: rerunbot holds no signing scopes"
    );
    let triggers = w.queue.triggers();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].client_id, "rerunbot");
    assert_eq!(
        triggers[0].payload["user"],
        json!({
            "input": {"times": 1, "force": true},
            "taskId": release::SIGNING_LINUX_COMPLETED,
            "taskGroupId": release::GROUP,
        })
    );
    let action = triggers[0].action_task_id.clone().expect("an action task");
    let text = reply(&w, &answer);
    assert!(
        text.contains("in-tree action `retrigger` [")
            && text.contains(&format!("(https://tc.example/tasks/{action})")),
        "links the action task:\n{text}"
    );
    // The action task runs with the repository's scopes and makes the copy
    // in the release graph, with `extra.parent` and in its task-graph.json.
    let copy_of_signing = |w: &World| -> Option<String> {
        w.queue
            .tasks_in_group(release::GROUP)
            .into_iter()
            .find(|id| {
                w.queue.task(id).is_some_and(|t: Value| {
                    t["task"]["extra"]["parent"] == json!(action)
                        && t["task"]["tags"]["kind"] != json!("action-callback")
                })
            })
    };
    eventually("the action task's copy", || copy_of_signing(&w).is_some()).await;
    let copy = copy_of_signing(&w).expect("copy");
    let graph: Value = w
        .queue
        .artifact(&action, "public/task-graph.json")
        .and_then(|a| serde_json::from_slice(&a.content).ok())
        .expect("task-graph.json");
    assert!(graph.get(&copy).is_some(), "{graph}");
    w.shutdown().await;
}

#[tokio::test]
async fn killed_between_the_trigger_and_its_record_the_job_finds_its_action_task() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    // The hook creates the action task, then holds its answer back while
    // rerunbot is stopped: the trigger's intent is recorded, its answer not.
    w.queue
        .fault_next_trigger(TriggerFault::CreateThenStall(Duration::from_secs(60)));
    let (guid, _) = w
        .comment_accepted(PR_OPEN, "bob", "/rerun build-win64/opt")
        .await
        .expect("comment");
    eventually("the action task", || w.queue.action_tasks().len() == 1).await;
    w.restart().await.expect("restart");
    assert_eq!(w.wait_for(&guid).await.expect("job"), JobEventKind::Done);
    let actions = w.queue.action_tasks();
    assert_eq!(actions.len(), 1, "one action task: {actions:?}");
    assert_eq!(w.queue.triggers().len(), 1, "not triggered again");
    assert_eq!(
        actions[0].target.as_deref(),
        Some(pr::BUILD_WIN64_OPT_FAILED)
    );
    let text = w.normalize(&w.reply_for(PR_OPEN).expect("a reply"));
    assert!(
        text.contains("in-tree action `rerun` [")
            && text.contains(&format!(
                "(https://tc.example/tasks/{})",
                actions[0].task_id
            )),
        "{text}"
    );
    assert_eq!(w.replies(PR_OPEN).len(), 1);
    w.shutdown().await;
}

#[tokio::test]
async fn a_5xx_whose_trigger_went_through_makes_one_action_task() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    w.queue
        .fault_next_trigger(TriggerFault::CreateThenFail(500));
    let answer = w
        .comment(PR_OPEN, "bob", "/rerun build-win64/opt")
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    assert_eq!(w.queue.action_tasks().len(), 1);
    assert_eq!(w.queue.triggers().len(), 1, "never replayed blindly");
    let text = reply(&w, &answer);
    assert!(text.contains("in-tree action `rerun`"), "{text}");
    assert!(!text.contains("not confirmed"), "{text}");
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    w.shutdown().await;
}

#[tokio::test]
async fn a_5xx_without_an_action_task_is_triggered_again_once() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    w.queue
        .fault_next_trigger(TriggerFault::FailWithoutCreating(503));
    let answer = w
        .comment(PR_OPEN, "bob", "/rerun build-win64/opt")
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    assert_eq!(w.queue.triggers().len(), 2, "looked for, then sent again");
    assert_eq!(w.queue.action_tasks().len(), 1);
    assert_eq!(answer.reactions, vec!["eyes", "rocket"]);
    w.shutdown().await;
}

#[tokio::test]
async fn without_actions_json_actions_mode_refuses_and_auto_uses_the_queue() {
    for (config, refused) in [("dispatch: actions\n", true), ("dispatch: auto\n", false)] {
        let mut w = World::start(WorldOptions {
            repo_config: Some(config.to_owned()),
            ..WorldOptions::default()
        })
        .await
        .expect("world");
        assert!(w.queue.remove_artifact(pr::DECISION, ACTIONS_JSON));
        let answer = w
            .comment(PR_OPEN, "bob", "/rerun build-win64/opt")
            .await
            .expect("comment");
        let text = reply(&w, &answer);
        assert!(w.queue.triggers().is_empty(), "{config}");
        let reruns = w.queue.accepted("POST", "/rerun");
        if refused {
            assert!(reruns.is_empty(), "{config}");
            assert!(
                text.contains("publishes no `public/actions.json`"),
                "{text}"
            );
            assert_eq!(answer.reactions, vec!["eyes", "confused"]);
        } else {
            assert_eq!(reruns.len(), 1, "{config}");
        }
        w.shutdown().await;
    }
}

#[tokio::test]
async fn without_actions_json_a_release_copy_is_refused_naming_chain_of_trust() {
    let mut w = World::start(WorldOptions::default()).await.expect("world");
    assert!(w.queue.remove_artifact(release::DECISION, ACTIONS_JSON));
    let answer = w
        .comment(
            PR_MERGED,
            "mia",
            "/retrigger 1 --force build-signing-linux64-shippable/opt",
        )
        .await
        .expect("comment");
    assert!(w.queue.accepted_writes().is_empty());
    let text = reply(&w, &answer);
    assert!(text.contains("fail Chain of Trust"), "{text}");
    assert_eq!(answer.reactions, vec!["eyes", "confused"]);
    w.shutdown().await;
}

/// Followed through in-tree actions: once each action task ran, the reply
/// lists what it made — the `retrigger` action's copies (from its
/// `public/task-graph.json`) and the `rerun` action's new run — each with
/// its mark as it resolves, and the final reaction waits for them.
#[tokio::test]
async fn the_reply_follows_what_each_action_task_made() {
    use common::next;
    let mut w = World::start(WorldOptions {
        follow: Some(common::fast_follow()),
        // Every run (action tasks, copies, reruns) completes after 200 ms.
        sandbox_worker: Some(WorkerScript::default()),
        ..WorldOptions::default()
    })
    .await
    .expect("world");
    let mut events = w.follow_events().expect("following");
    let answer = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1\n/rerun source-test-mozlint-eslint",
        )
        .await
        .expect("comment");
    let first = reply(&w, &answer);
    assert!(first.contains("in-tree action `retrigger`"), "{first}");
    assert!(first.contains("in-tree action `rerun`"), "{first}");
    let reaction = next(&mut events, reacted).await;
    assert_eq!(reaction, "hooray");

    // The copies the retrigger action made, and the rerun's new run.
    let triggers = w.queue.triggers();
    let action_of = |task: &str| {
        triggers
            .iter()
            .find(|t| t.payload["user"]["taskId"] == json!(task))
            .and_then(|t| t.action_task_id.clone())
            .expect("an action task")
    };
    let retrigger = action_of(pr::TEST_BC1_FAILED);
    let copies: Vec<String> = w
        .queue
        .tasks_in_group(pr::GROUP)
        .into_iter()
        .filter(|id| {
            w.queue
                .task(id)
                .is_some_and(|t: Value| t["task"]["extra"]["parent"] == json!(retrigger))
        })
        .collect();
    assert_eq!(copies.len(), 2);
    let last = w.normalize(&w.reply_for(PR_OPEN).expect("reply"));
    for copy in &copies {
        // The link text is the id's first characters, markdown-escaped
        // (`_` → `\_`): the mark is looked for just before the link.
        let link = last
            .find(&format!("](https://tc.example/tasks/{copy})"))
            .expect("the copy is linked");
        let before = &last[..link];
        let text_start = before.rfind('[').expect("link text");
        assert!(
            before[..text_start].ends_with("✅ "),
            "copy {copy} with its mark:\n{last}"
        );
    }
    assert!(
        last.contains("→ ✅ run 1 completed"),
        "the rerun's run:\n{last}"
    );

    // Stored: the copies and the run are watched under the job, made by
    // their action task, and nothing is left to look up.
    let job = job_of(&w, &guid(1)).await;
    let watches = w
        .service
        .store
        .watches_of_job(job.id)
        .await
        .expect("watches");
    let made_by_retrigger: Vec<&str> = watches
        .iter()
        .filter(|x| x.made_by.as_deref() == Some(retrigger.as_str()))
        .map(|x| x.task_id.as_str())
        .collect();
    assert_eq!(made_by_retrigger.len(), 2, "{watches:?}");
    assert!(watches.iter().all(|x| x.expect.is_none()), "{watches:?}");
    assert!(watches
        .iter()
        .all(|x| x.result.as_deref() == Some("completed")));
    w.shutdown().await;
}

/// A forced cancel-then-rerun through in-tree actions whose cancel action
/// task finished without canceling the task (the task resolved on its own
/// before the held cancel ran; the queue's cancel of a resolved task
/// changes nothing) fails its row at once, saying why: the job neither
/// polls out its 30 s nor is retried to look again, and the rerun is never
/// triggered.
#[tokio::test]
async fn a_cancel_action_task_that_did_nothing_fails_the_row_at_once() {
    use rerunbot::policy::task::TaskState;
    let mut w = World::start(in_tree_actions()).await.expect("world");
    let target = pr::TEST_WIN_UNSCHEDULED;
    let actions_on = |w: &World| -> Vec<(String, String)> {
        w.queue
            .action_tasks()
            .into_iter()
            .filter(|a| a.target.as_deref() == Some(target))
            .map(|a| (a.callback, a.task_id))
            .collect()
    };
    w.queue.hold_callback("cancel");
    let (guid, _) = w
        .comment_accepted(
            PR_OPEN,
            "mia",
            "/rerun --force test-windows11-64/opt-mochitest-plain-1",
        )
        .await
        .expect("comment");
    eventually("the cancel action task", || actions_on(&w).len() == 1).await;
    let (callback, cancel) = actions_on(&w).remove(0);
    assert_eq!(callback, "cancel");
    // The task resolves on its own; then the cancel runs, and does nothing.
    assert!(w.queue.set_state(target, TaskState::Completed, None));
    w.queue.release_callback("cancel");
    let released = tokio::time::Instant::now();
    assert_eq!(w.wait_for(&guid).await.expect("job"), JobEventKind::Done);
    assert!(
        released.elapsed() < Duration::from_secs(10),
        "at once, not after the 30 s poll: {:?}",
        released.elapsed()
    );
    assert_eq!(
        w.queue.task(&cancel).expect("action task")["status"]["state"],
        json!("completed")
    );
    let text = w.normalize(&w.reply_for(PR_OPEN).expect("a reply"));
    let said = format!(
        "failed: the cancel action task `{cancel}` finished (`completed`) without canceling this task, so it was not rerun; see the action task's log for why, then comment `/rerun --force test-windows11-64/opt-mochitest-plain-1` again if this task still needs a rerun"
    );
    assert!(text.contains(&said), "{text}");
    assert!(!text.contains("now canceled"), "{text}");
    // The cancel only: no rerun, by action or by the queue.
    assert_eq!(w.queue.triggers().len(), 1);
    assert_eq!(actions_on(&w).len(), 1);
    assert!(w.queue.accepted("POST", "/rerun").is_empty());
    let status = w.queue.task(target).expect("target")["status"].clone();
    assert_eq!(status["runs"].as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(status["runs"][0]["reasonResolved"], json!("completed"));
    w.shutdown().await;
}
