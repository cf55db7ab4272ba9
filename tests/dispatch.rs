//! Dispatch against the sandbox queue: each action once, and a resumed job
//! (an earlier attempt may have sent some actions) adds nothing.

use rerunbot::config::{Secret, TaskclusterCredentials};
use rerunbot::dispatch::dispatch;
use rerunbot::outcome::{ActionOutcome, DispatchError};
use rerunbot::pipeline::prepared::{Prepared, PreparedReply, PreparedSection};
use rerunbot::policy::task::TaskState;
use rerunbot::policy::{Action, Decision, Plan, PlanRow, Role, TaskClass};
use rerunbot::sandbox::taskcluster::fixtures::{self, release};
use rerunbot::sandbox::taskcluster::{SandboxQueue, SandboxQueueConfig};
use rerunbot::taskcluster::QueueClient;
use rerunbot::types::TaskId;
use std::collections::BTreeMap;

async fn queue() -> (SandboxQueue, QueueClient) {
    let sandbox = SandboxQueue::start(SandboxQueueConfig::default())
        .await
        .expect("sandbox");
    sandbox.seed_fixture(&fixtures::parse(fixtures::RELEASE_GROUP));
    let client = QueueClient::new(
        &sandbox.root_url(),
        Some(TaskclusterCredentials {
            client_id: "rerunbot".to_owned(),
            access_token: Secret::new("sandbox-access-token"),
            certificate: None,
        }),
    );
    (sandbox, client)
}

fn one_action(task: &str, action: Action) -> Prepared {
    let row = PlanRow {
        task_id: TaskId::from(task),
        label: "beetmover-repackage-macosx64-shippable/opt".to_owned(),
        name: "beetmover-repackage-macosx64-shippable/opt".to_owned(),
        class: TaskClass::Release,
        state: TaskState::Unscheduled,
        decision: Decision::Act(action),
        warnings: Vec::new(),
    };
    Prepared {
        repo: "mozilla/gecko-dev".to_owned(),
        sha: "abc".to_owned(),
        force_role: Role::Maintain,
        reply: PreparedReply::Sections {
            sections: vec![PreparedSection::Planned {
                command_text: "/rerun --force".to_owned(),
                plan: Plan {
                    rows: vec![row],
                    ..Plan::default()
                },
            }],
        },
        definitions: BTreeMap::new(),
        skipped_groups: Vec::new(),
        routed: Vec::new(),
    }
}

fn runs(sandbox: &SandboxQueue, task: &str) -> usize {
    sandbox.task(task).expect("task")["status"]["runs"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_resumed_cancel_then_rerun_whose_run_already_resolved_adds_no_run() {
    let (sandbox, client) = queue().await;
    let task = release::BEETMOVER_MAC_BEHIND_FAILED;
    let prepared = one_action(task, Action::CancelRerun { runs_seen: 0 });
    let first = dispatch(&client, &prepared, false, 8).await;
    assert!(
        matches!(first[0][0], ActionOutcome::CancelRerun { .. }),
        "{first:?}"
    );
    assert_eq!(runs(&sandbox, task), 2, "the cancelled run and the new one");
    // The new run finishes before the job is retried.
    assert!(sandbox.set_state(task, TaskState::Completed, Some("completed")));
    let again = dispatch(&client, &prepared, true, 8).await;
    assert!(
        matches!(again[0][0], ActionOutcome::CancelRerun { .. }),
        "{again:?}"
    );
    assert_eq!(runs(&sandbox, task), 2, "no second rerun");
}

#[tokio::test]
async fn a_resumed_cancel_then_rerun_that_only_cancelled_reruns_once() {
    let (sandbox, client) = queue().await;
    let task = release::BEETMOVER_MAC_BEHIND_FAILED;
    // The earlier attempt cancelled and died before the rerun.
    client
        .cancel_task(&TaskId::from(task))
        .await
        .expect("cancel");
    assert_eq!(runs(&sandbox, task), 1);
    let prepared = one_action(task, Action::CancelRerun { runs_seen: 0 });
    let outcome = dispatch(&client, &prepared, true, 8).await;
    assert!(
        matches!(
            outcome[0][0],
            ActionOutcome::CancelRerun { run_id: Some(1) }
        ),
        "{outcome:?}"
    );
    assert_eq!(runs(&sandbox, task), 2);
    let cancels = sandbox
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/cancel"))
        .count();
    assert_eq!(cancels, 1, "not cancelled again");
}

#[tokio::test]
async fn a_resumed_rerun_is_not_repeated_once_a_new_run_exists() {
    let (sandbox, client) = queue().await;
    let task = release::BALROG_LINUX_FAILED;
    let seen = runs(&sandbox, task) as u32;
    let prepared = one_action(task, Action::Rerun { runs_seen: seen });
    dispatch(&client, &prepared, false, 8).await;
    assert!(sandbox.set_state(task, TaskState::Failed, Some("failed")));
    let again = dispatch(&client, &prepared, true, 8).await;
    assert!(matches!(again[0][0], ActionOutcome::Rerun { .. }));
    assert_eq!(runs(&sandbox, task), seen as usize + 1);
}

#[tokio::test]
async fn a_resumed_copy_whose_stored_definition_is_too_old_is_created_with_fresh_times() {
    let (sandbox, client) = queue().await;
    let source = sandbox.task(release::BALROG_LINUX_FAILED).expect("task")["task"].clone();
    // Planned (and stored) 20 minutes ago, never sent: the queue refuses its `created`.
    let planned_at = chrono::Utc::now() - chrono::Duration::minutes(20);
    let stale = rerunbot::taskcluster::retrigger_definition(&source, planned_at).expect("copy");
    let copy = rerunbot::policy::copy_ids::copy_task_id(
        &"guid".into(),
        &TaskId::from(release::BALROG_LINUX_FAILED),
        0,
    );
    let mut prepared = one_action(
        release::BALROG_LINUX_FAILED,
        Action::Retrigger {
            copies: vec![copy.clone()],
        },
    );
    prepared.definitions.insert(copy.to_string(), stale);

    let first_try = dispatch(&client, &prepared, false, 8).await;
    assert!(
        matches!(first_try[0][0], ActionOutcome::Failed { .. }),
        "a fresh job sends the stored bytes: {first_try:?}"
    );
    let resumed = dispatch(&client, &prepared, true, 8).await;
    assert_eq!(
        resumed[0][0],
        ActionOutcome::Retriggered {
            task_ids: vec![copy.clone()]
        }
    );
    assert!(
        sandbox.task(copy.as_str()).is_some(),
        "created under the planned id"
    );
    // Once it exists, a further retry confirms it and creates nothing new.
    let again = dispatch(&client, &prepared, true, 8).await;
    assert_eq!(
        again[0][0],
        ActionOutcome::Retriggered {
            task_ids: vec![copy.clone()]
        }
    );
}

/// Writes the sandbox received, as `METHOD path`.
fn sent(sandbox: &SandboxQueue, method: &str) -> Vec<String> {
    sandbox
        .calls()
        .into_iter()
        .filter(|c| c.method == method)
        .map(|c| c.path)
        .collect()
}

#[tokio::test]
async fn a_rerun_whose_answer_was_lost_is_checked_not_sent_again() {
    let (sandbox, client) = queue().await;
    let task = release::BALROG_LINUX_FAILED;
    let seen = runs(&sandbox, task) as u32;
    sandbox.lose_answer_next("POST", 502);
    let prepared = one_action(task, Action::Rerun { runs_seen: seen });
    let outcome = dispatch(&client, &prepared, false, 8).await;
    assert!(
        matches!(outcome[0][0], ActionOutcome::Rerun { .. }),
        "{outcome:?}"
    );
    assert_eq!(sent(&sandbox, "POST").len(), 1, "sent once");
    assert_eq!(runs(&sandbox, task), seen as usize + 1);
}

#[tokio::test]
async fn a_rerun_that_did_not_go_through_is_sent_again_after_the_check() {
    let (sandbox, client) = queue().await;
    let task = release::BALROG_LINUX_FAILED;
    let seen = runs(&sandbox, task) as u32;
    sandbox.fail_next_matching("POST", 1, 503);
    let prepared = one_action(task, Action::Rerun { runs_seen: seen });
    let outcome = dispatch(&client, &prepared, false, 8).await;
    assert!(
        matches!(outcome[0][0], ActionOutcome::Rerun { .. }),
        "{outcome:?}"
    );
    let methods: Vec<String> = sandbox.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        vec!["GET", "POST", "GET", "POST"],
        "read first (is it queued already?), and checked in between"
    );
    assert_eq!(runs(&sandbox, task), seen as usize + 1);
}

#[tokio::test]
async fn a_cancel_whose_answer_was_lost_is_not_sent_again() {
    let (sandbox, client) = queue().await;
    let task = release::BEETMOVER_MAC_BEHIND_FAILED;
    sandbox.lose_answer_next("POST", 502);
    let prepared = one_action(task, Action::CancelRerun { runs_seen: 0 });
    let outcome = dispatch(&client, &prepared, false, 8).await;
    assert!(
        matches!(outcome[0][0], ActionOutcome::CancelRerun { .. }),
        "{outcome:?}"
    );
    let posts = sent(&sandbox, "POST");
    assert_eq!(posts.iter().filter(|p| p.ends_with("/cancel")).count(), 1);
    assert_eq!(posts.iter().filter(|p| p.ends_with("/rerun")).count(), 1);
    assert_eq!(runs(&sandbox, task), 2, "the cancelled run and the new one");
}

#[tokio::test]
async fn no_unit_is_sent_once_the_lease_is_not_safely_held() {
    let (sandbox, client) = queue().await;
    let hold = rerunbot::store::LeaseHold::new(
        tokio::time::Instant::now(),
        std::time::Duration::from_secs(60),
    );
    hold.lose();
    let prepared = one_action(release::BALROG_LINUX_FAILED, Action::Rerun { runs_seen: 1 });
    let outcome = rerunbot::dispatch::dispatch_held(&client, &prepared, false, 8, &hold).await;
    assert_eq!(
        outcome[0][0],
        ActionOutcome::Failed {
            error: rerunbot::outcome::DispatchError::Unavailable {
                message: rerunbot::dispatch::LEASE_RAN_OUT.to_owned()
            },
            created: Vec::new()
        }
    );
    assert!(sandbox.calls().is_empty(), "nothing sent");
}

#[tokio::test]
async fn a_rerun_of_a_task_already_pending_says_so_and_sends_nothing() {
    let (sandbox, client) = queue().await;
    let task = release::BALROG_LINUX_FAILED;
    let seen = runs(&sandbox, task) as u32;
    // Another comment (or an earlier command of this one) reran it first.
    let first = one_action(task, Action::Rerun { runs_seen: seen });
    dispatch(&client, &first, false, 8).await;
    let again = dispatch(&client, &first, false, 8).await;
    assert_eq!(
        again[0][0],
        ActionOutcome::AlreadyQueued {
            state: "pending".to_owned()
        }
    );
    assert_eq!(sent(&sandbox, "POST").len(), 1, "one rerun sent in all");
}

#[tokio::test]
async fn a_task_scheduled_since_the_plan_is_never_canceled() {
    let (sandbox, client) = queue().await;
    let task = release::BEETMOVER_MAC_BEHIND_FAILED;
    // Its dependency was rerun and completed meanwhile: the task runs.
    assert!(sandbox.set_state(task, TaskState::Running, None));
    let prepared = one_action(task, Action::CancelRerun { runs_seen: 0 });
    let outcome = dispatch(&client, &prepared, false, 8).await;
    assert!(
        matches!(
            &outcome[0][0],
            ActionOutcome::Failed { error: DispatchError::StartedSincePlan { state }, .. } if state == "running"
        ),
        "{outcome:?}"
    );
    assert!(sent(&sandbox, "POST").is_empty(), "nothing canceled");
}

#[tokio::test]
async fn a_rerun_failing_after_the_cancel_says_the_task_is_now_canceled() {
    let (sandbox, client) = queue().await;
    let task = release::BEETMOVER_MAC_BEHIND_FAILED;
    // May cancel, may not rerun.
    assert!(sandbox.set_scopes("rerunbot", &["queue:cancel-task:*"]));
    let prepared = one_action(task, Action::CancelRerun { runs_seen: 0 });
    let outcome = dispatch(&client, &prepared, false, 8).await;
    let ActionOutcome::Failed {
        error: DispatchError::CanceledNotRerun { error },
        ..
    } = &outcome[0][0]
    else {
        panic!("{outcome:?}")
    };
    assert!(
        matches!(**error, DispatchError::InsufficientScopes { .. }),
        "{error:?}"
    );
    let reply = rerunbot::reply::wording::dispatch_error(
        &DispatchError::CanceledNotRerun {
            error: error.clone(),
        },
        "beetmover-repackage-macosx64-shippable/opt",
    );
    assert!(reply.contains("the task is now canceled"), "{reply}");
    assert!(
        reply.contains("`/rerun beetmover-repackage-macosx64-shippable/opt`"),
        "{reply}"
    );
}
