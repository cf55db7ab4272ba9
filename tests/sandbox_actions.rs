//! Action tasks of the sandbox carrying out their callback when the
//! sandbox worker runs them (issue 10 item 7): retrigger copies with
//! `extra.parent` listed in `public/task-graph.json`, a forced retrigger of
//! a signing task made with the repository's scopes, rerun, cancel and
//! retrigger-multiple.

mod common;
mod hooks_support;

use hooks_support::*;
use rerunbot::policy::task::TaskState;
use rerunbot::sandbox::taskcluster::fixtures::{pr, release};
use rerunbot::sandbox::taskcluster::worker::WorkerScript;
use serde_json::{json, Value};
use std::time::Duration;

fn worker() -> WorkerScript {
    WorkerScript {
        default: None,
        tick: Duration::from_millis(5),
        ..WorkerScript::default()
    }
}

#[tokio::test]
async fn a_retrigger_action_makes_copies_with_extra_parent_and_lists_them() {
    let queue = sandbox().await;
    let mut seen = queue.resolutions();
    let _worker = queue.start_worker(worker());
    let (status, body) = trigger(
        &queue,
        pr::DECISION,
        "retrigger",
        Some(pr::TEST_BC1_FAILED),
        json!({"times": 2}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let action = body["taskId"].as_str().expect("taskId").to_owned();
    let done = resolved(&mut seen, &action).await;
    assert_eq!(
        (done.state, done.task_group_id.as_str()),
        (TaskState::Completed, pr::GROUP)
    );

    let graph = queue
        .json_artifact(&action, "public/task-graph.json")
        .expect("task-graph.json");
    let copies: Vec<&String> = graph.as_object().expect("object").keys().collect();
    assert_eq!(copies.len(), 2, "{graph}");
    let original = queue.task(pr::TEST_BC1_FAILED).expect("original")["task"].clone();
    for id in copies {
        let copy = queue.task(id).expect("the copy exists");
        assert_eq!(copy["task"]["extra"]["parent"], action);
        assert_eq!(copy["task"]["taskGroupId"], pr::GROUP);
        for key in ["command", "env", "image"] {
            assert_eq!(
                copy["task"]["payload"][key], original["payload"][key],
                "{key}"
            );
        }
        assert_ne!(
            copy["task"]["created"], original["created"],
            "created is now"
        );
        assert_eq!(copy["status"]["state"], "pending");
        assert_eq!(
            graph[id]["label"],
            "test-linux64/opt-mochitest-browser-chrome-1"
        );
        assert_eq!(graph[id]["task"], copy["task"]);
    }
    assert!(queue.tasks_in_group(pr::GROUP).len() >= 12 + 1 + 2);
}

#[tokio::test]
async fn a_forced_retrigger_copies_a_signing_task_with_scopes_the_caller_lacks() {
    let queue = sandbox().await;
    let mut seen = queue.resolutions();
    let _worker = queue.start_worker(worker());
    let target = release::SIGNING_LINUX_COMPLETED;

    // Without force, the action fails and says why; nothing is copied.
    let refused = trigger_action(
        &queue,
        release::DECISION,
        "retrigger-disabled",
        Some(target),
        json!({"times": 1}),
    )
    .await;
    assert_eq!(resolved(&mut seen, &refused).await.state, TaskState::Failed);
    let log = queue
        .artifact(&refused, "public/logs/live_backing.log")
        .expect("log");
    let log = String::from_utf8_lossy(&log.content).into_owned();
    assert!(
        log.contains("should not be retrigged and force not specified"),
        "{log}"
    );
    assert!(queue
        .json_artifact(&refused, "public/task-graph.json")
        .is_none());

    let action = trigger_action(
        &queue,
        release::DECISION,
        "retrigger-disabled",
        Some(target),
        json!({"times": 1, "force": true}),
    )
    .await;
    assert_eq!(
        resolved(&mut seen, &action).await.state,
        TaskState::Completed
    );
    let graph = queue
        .json_artifact(&action, "public/task-graph.json")
        .expect("task-graph.json");
    let (copy_id, entry) = graph
        .as_object()
        .and_then(|g| g.iter().next())
        .expect("one copy");
    let copy = queue.task(copy_id).expect("copy")["task"].clone();
    assert_eq!(
        copy["scopes"],
        json!([
            "project:releng:signing:cert:release-signing",
            "project:releng:signing:format:autograph_gpg"
        ])
    );
    assert_eq!(copy["extra"]["parent"], action);
    assert_eq!(entry["label"], "build-signing-linux64-shippable/opt");
}

#[tokio::test]
async fn rerun_and_cancel_actions_act_on_their_target() {
    let queue = sandbox().await;
    let mut seen = queue.resolutions();
    let _worker = queue.start_worker(worker());
    let runs = |id: &str| {
        queue.task(id).expect("task")["status"]["runs"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = runs(pr::LINT_ESLINT_FAILED);
    let action = trigger_action(
        &queue,
        pr::DECISION,
        "rerun",
        Some(pr::LINT_ESLINT_FAILED),
        json!({}),
    )
    .await;
    assert_eq!(
        resolved(&mut seen, &action).await.state,
        TaskState::Completed
    );
    assert_eq!(runs(pr::LINT_ESLINT_FAILED), before + 1);

    // A completed task is not rerun by the rerun action.
    let before = runs(pr::LINT_CLIPPY_COMPLETED);
    let action = trigger_action(
        &queue,
        pr::DECISION,
        "rerun",
        Some(pr::LINT_CLIPPY_COMPLETED),
        json!({}),
    )
    .await;
    assert_eq!(
        resolved(&mut seen, &action).await.state,
        TaskState::Completed
    );
    assert_eq!(runs(pr::LINT_CLIPPY_COMPLETED), before);

    // Cancel: the running task ends exception/canceled, and that is announced.
    let action = trigger_action(
        &queue,
        pr::DECISION,
        "cancel",
        Some(pr::TEST_DT1_RUNNING),
        Value::Null,
    )
    .await;
    let canceled = resolved(&mut seen, pr::TEST_DT1_RUNNING).await;
    assert_eq!(canceled.state, TaskState::Exception);
    assert_eq!(
        resolved(&mut seen, &action).await.state,
        TaskState::Completed
    );
    let status = queue.task(pr::TEST_DT1_RUNNING).expect("task")["status"].clone();
    assert_eq!(
        status["runs"]
            .as_array()
            .and_then(|r| r.last())
            .map(|r| r["reasonResolved"].clone()),
        Some(json!("canceled"))
    );
}

#[tokio::test]
async fn retrigger_multiple_copies_retriggerable_labels_and_reruns_the_others() {
    let queue = sandbox().await;
    let mut seen = queue.resolutions();
    let _worker = queue.start_worker(worker());
    let input = json!({"requests": [{"tasks": [
        "test-linux64/opt-mochitest-browser-chrome-1",
        "source-test-mozlint-eslint",
    ], "times": 2}]});
    let (status, body) = trigger(&queue, pr::DECISION, "retrigger-multiple", None, input).await;
    assert_eq!(status, 200, "{body}");
    let action = body["taskId"].as_str().expect("taskId").to_owned();
    assert_eq!(
        resolved(&mut seen, &action).await.state,
        TaskState::Completed
    );
    let graph = queue
        .json_artifact(&action, "public/task-graph.json")
        .expect("task-graph.json");
    let labels: Vec<&str> = graph
        .as_object()
        .into_iter()
        .flat_map(|g| g.values())
        .filter_map(|e| e["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        vec!["test-linux64/opt-mochitest-browser-chrome-1"; 2]
    );
    let lint = queue.task(pr::LINT_ESLINT_FAILED).expect("lint")["status"].clone();
    assert_eq!(lint["state"], "pending", "rerun, not copied");
}

/// On the machine's RabbitMQ (skipped without `RERUNBOT_TEST_AMQP_URL`):
/// an action task's resolution, and the cancel it made, are published as
/// Pulse messages like every other run the sandbox worker resolves.
#[tokio::test]
async fn action_resolutions_are_published_on_pulse() {
    use futures_util::StreamExt;
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions,
    };
    use lapin::types::FieldTable;
    use rerunbot::sandbox::taskcluster::pulse::SandboxPulse;

    let Some(url) = common::pulse::amqp_url() else {
        return;
    };
    let queue = sandbox().await;
    let prefix = format!(
        "exchange/rerunbot-hooks-test-{}/v1/",
        uuid::Uuid::new_v4().simple()
    );
    let pulse = SandboxPulse::start(&queue, &url, &prefix)
        .await
        .expect("pulse");
    let channel = pulse.channel();
    let declared = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    let name = declared.name().as_str().to_owned();
    for exchange in ["task-completed", "task-exception"] {
        channel
            .queue_bind(
                name.as_str().into(),
                format!("{prefix}{exchange}").as_str().into(),
                format!("primary.*.*.*.*.*.*.*.{}.#", pr::GROUP)
                    .as_str()
                    .into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
    }
    let mut consumer = channel
        .basic_consume(
            name.as_str().into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let _worker = queue.start_worker(worker());
    let action = trigger_action(
        &queue,
        pr::DECISION,
        "cancel",
        Some(pr::TEST_DT1_RUNNING),
        Value::Null,
    )
    .await;

    let mut seen = Vec::new();
    let wait = async {
        while seen.len() < 2 {
            let Some(Ok(delivery)) = consumer.next().await else {
                continue;
            };
            let message: Value = serde_json::from_slice(&delivery.data).expect("json");
            let _ = delivery.ack(BasicAckOptions::default()).await;
            seen.push((
                delivery.exchange.as_str().to_owned(),
                message["status"]["taskId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                message["status"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("two messages in time");
    assert_eq!(
        seen,
        vec![
            (
                format!("{prefix}task-exception"),
                pr::TEST_DT1_RUNNING.to_owned(),
                "exception".to_owned()
            ),
            (
                format!("{prefix}task-completed"),
                action,
                "completed".to_owned()
            ),
        ]
    );
    pulse.delete_exchanges().await.expect("clean up");
}

/// `downstream`: the build's copy, and copies of the tests that depend on
/// it, each depending on the build's copy (not on the original build).
#[tokio::test]
async fn a_downstream_retrigger_rewires_the_copies_dependencies() {
    let queue = sandbox().await;
    let mut seen = queue.resolutions();
    let _worker = queue.start_worker(worker());
    let input = json!({"times": 1, "force": true, "downstream": true});
    let (status, body) = trigger(
        &queue,
        pr::DECISION,
        "retrigger-disabled",
        Some(pr::BUILD_LINUX64_OPT),
        input,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let action = body["taskId"].as_str().expect("taskId").to_owned();
    assert_eq!(
        resolved(&mut seen, &action).await.state,
        TaskState::Completed
    );
    let graph = queue
        .json_artifact(&action, "public/task-graph.json")
        .expect("task-graph.json");
    let entries = graph.as_object().expect("object");
    let build: Vec<&String> = entries
        .iter()
        .filter(|(_, e)| e["label"] == "build-linux64/opt")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(build.len(), 1, "{graph}");
    let mut tests: Vec<&str> = Vec::new();
    for (id, entry) in entries {
        if entry["label"] == "build-linux64/opt" {
            continue;
        }
        tests.push(entry["label"].as_str().unwrap_or_default());
        let deps = queue.task(id).expect("copy")["task"]["dependencies"].clone();
        assert_eq!(deps, json!([build[0], pr::DECISION]), "{}", entry["label"]);
        assert_eq!(entry["dependencies"]["build-linux64/opt"], json!(build[0]));
        assert_eq!(
            queue.task(id).expect("copy")["status"]["state"],
            "unscheduled"
        );
    }
    tests.sort_unstable();
    assert_eq!(
        tests,
        vec![
            "test-linux64/opt-mochitest-browser-chrome-1",
            "test-linux64/opt-mochitest-browser-chrome-2",
            "test-linux64/opt-mochitest-devtools-chrome-1",
        ]
    );
}

/// The decision task's `retrigger` (cb `retrigger-decision`) is tried with
/// the action's scopes, which do not cover a decision task's: it fails and
/// the log says why.
#[tokio::test]
async fn retriggering_the_decision_task_fails_without_its_scopes() {
    let queue = sandbox().await;
    let mut seen = queue.resolutions();
    let _worker = queue.start_worker(worker());
    let (status, body) = trigger(
        &queue,
        pr::DECISION,
        "retrigger-decision",
        Some(pr::DECISION),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let action = body["taskId"].as_str().expect("taskId").to_owned();
    assert_eq!(resolved(&mut seen, &action).await.state, TaskState::Failed);
    let log = queue
        .artifact(&action, "public/logs/live_backing.log")
        .expect("log");
    let log = String::from_utf8_lossy(&log.content).into_owned();
    assert!(
        log.contains("does not have sufficient scopes")
            && log.contains("assume:repo:github.com/mozilla/gecko-dev:pull-request"),
        "{log}"
    );
}
