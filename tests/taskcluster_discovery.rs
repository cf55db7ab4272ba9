//! Discovery against the sandbox queue, and the fixtures' promises.

mod common;

use chrono::Utc;
use common::sandbox_queue::{grow_past_kept_pages, seeded_queue, PADDING_TASK};
use rerunbot::config::{Secret, TaskclusterCredentials};
use rerunbot::policy::task::TaskState;
use rerunbot::sandbox::taskcluster::fixtures::{self, pr, release};
use rerunbot::sandbox::taskcluster::SandboxQueue;
use rerunbot::taskcluster::snapshot::snapshots_from_list;
use rerunbot::taskcluster::{
    discover_tasks, discover_tasks_keeping, rebase_times, CheckRunRef, QueueClient, QueueError,
    RetryPolicy, StatusRef,
};
use std::collections::BTreeSet;
use std::time::Duration;

async fn sandbox() -> (SandboxQueue, QueueClient) {
    let queue = seeded_queue().await;
    let client = QueueClient::new(
        &queue.root_url(),
        Some(TaskclusterCredentials {
            client_id: "rerunbot".into(),
            access_token: Secret::new("sandbox-access-token"),
            certificate: None,
        }),
    )
    .with_retry(RetryPolicy {
        retries: 2,
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
    });
    (queue, client)
}

fn check(root: &str, task_id: &str) -> CheckRunRef {
    CheckRunRef {
        external_id: Some(task_id.to_owned()),
        details_url: Some(format!("{root}/tasks/{task_id}")),
    }
}

#[tokio::test]
async fn check_runs_lead_to_every_task_of_their_group_with_one_status_call() {
    let (queue, client) = sandbox().await;
    let root = queue.root_url();
    // Many check runs of the same group, listed in no particular order.
    let checks: Vec<CheckRunRef> = [
        pr::TEST_BC1_FAILED,
        pr::DECISION,
        pr::LINT_ESLINT_FAILED,
        pr::TEST_WIN_UNSCHEDULED,
        pr::TEST_BC1_FAILED,
    ]
    .iter()
    .map(|id| check(&root, id))
    .collect();
    let tasks = discover_tasks(&client, &root, &checks, &[])
        .await
        .expect("discovers");
    let ids: BTreeSet<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(tasks.len(), 12, "no duplicates");
    let calls = queue.calls();
    let status_calls = calls.iter().filter(|c| c.path.ends_with("/status")).count();
    assert_eq!(status_calls, 1, "one status call per group");
    assert_eq!(
        calls.len(),
        1 + 1 + 4,
        "a wrong group guess (the first id is not the decision task), status, four pages"
    );
}

#[tokio::test]
async fn the_decision_task_first_is_listed_as_its_group_without_a_status_call() {
    let (queue, client) = sandbox().await;
    let root = queue.root_url();
    let checks: Vec<CheckRunRef> = [pr::DECISION, pr::TEST_BC1_FAILED, pr::LINT_ESLINT_FAILED]
        .iter()
        .map(|id| check(&root, id))
        .collect();
    let tasks = discover_tasks(&client, &root, &checks, &[])
        .await
        .expect("discovers");
    assert_eq!(tasks.len(), 12);
    let calls = queue.calls();
    assert!(
        calls.iter().all(|c| c.path.contains("/task-group/")),
        "no status call"
    );
    assert_eq!(calls.len(), 4, "four pages of the group");
}

#[tokio::test]
async fn legacy_statuses_name_groups_directly() {
    let (queue, client) = sandbox().await;
    let root = queue.root_url();
    let statuses = vec![
        StatusRef {
            target_url: Some(format!("{root}/tasks/groups/{}", release::GROUP)),
        },
        StatusRef {
            target_url: Some("https://ci.example.com/other".into()),
        },
    ];
    let checks = vec![
        check(&root, release::BALROG_LINUX_FAILED),
        check(&root, pr::TEST_BC2_COMPLETED),
        CheckRunRef {
            external_id: Some("x".into()),
            details_url: Some("https://other-ci.example.com/job/1".into()),
        },
    ];
    let tasks = discover_tasks(&client, &root, &checks, &statuses)
        .await
        .expect("discovers");
    assert_eq!(tasks.len(), 11 + 12);
    // The release group came from the status, so its check run needed no
    // status call; the PR task's did.
    let status_calls: Vec<String> = queue
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/status"))
        .map(|c| c.path)
        .collect();
    assert_eq!(status_calls.len(), 1);
    assert!(status_calls[0].contains(pr::TEST_BC2_COMPLETED));
}

#[tokio::test]
async fn expired_tasks_are_skipped_and_outages_reported() {
    let (queue, client) = sandbox().await;
    let root = queue.root_url();
    let checks = vec![check(&root, "AAAAAAAAQAAAAAAAAAAAAA")];
    assert_eq!(
        discover_tasks(&client, &root, &checks, &[]).await,
        Ok(Vec::new())
    );
    queue.fail_next(10, 500);
    let checks = vec![check(&root, pr::DECISION)];
    assert!(matches!(
        discover_tasks(&client, &root, &checks, &[]).await,
        Err(QueueError::Unavailable { .. })
    ));
}

#[test]
fn fixtures_read_as_snapshots_and_cover_every_state() {
    for text in [fixtures::PR_GROUP, fixtures::RELEASE_GROUP] {
        let list = fixtures::parse(text);
        let tasks = snapshots_from_list(&list).expect("snapshots");
        for t in &tasks {
            let id = t.task_id.as_str().as_bytes();
            assert!(
                id.len() == 22 && (b'Q'..=b'T').contains(&id[8]) && b"AQgw".contains(&id[21]),
                "{}",
                t.task_id
            );
        }
    }
    let pr_tasks = snapshots_from_list(&fixtures::parse(fixtures::PR_GROUP)).expect("pr");
    let states: BTreeSet<&str> = pr_tasks.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states.len(), 6, "{states:?}");
    let tests: Vec<_> = pr_tasks
        .iter()
        .filter(|t| t.tags.get("retrigger") == Some("true"))
        .collect();
    assert!(tests.len() >= 5);
    assert!(tests.iter().all(|t| t.job_kind.as_deref() == Some("test")));
    let win = pr_tasks
        .iter()
        .find(|t| t.task_id.as_str() == pr::TEST_WIN_UNSCHEDULED)
        .expect("win");
    assert_eq!(win.state, TaskState::Unscheduled);
    assert!(win
        .dependencies
        .iter()
        .any(|d| d.as_str() == pr::BUILD_WIN64_OPT_FAILED));

    let rel = snapshots_from_list(&fixtures::parse(fixtures::RELEASE_GROUP)).expect("release");
    let by_id = |id: &str| rel.iter().find(|t| t.task_id.as_str() == id).expect(id);
    assert!(by_id(release::SIGNING_LINUX_COMPLETED)
        .task_queue_id
        .starts_with("scriptworker-k8s/"));
    assert_eq!(
        by_id(release::NOTARIZATION_PART_1_COMPLETED).state,
        TaskState::Completed
    );
    assert_eq!(
        by_id(release::NOTARIZATION_POLLER_FAILED).state,
        TaskState::Failed
    );
    let bouncer = by_id(release::BOUNCER_DEADLINE_EXCEEDED);
    assert_eq!(
        bouncer.last_reason_resolved.as_deref(),
        Some("deadline-exceeded")
    );
    assert!(bouncer.dependents.is_empty(), "a leaf");
    let balrog_top = by_id(release::BALROG_TOPLEVEL_BEHIND_RUNNING);
    assert_eq!(balrog_top.state, TaskState::Unscheduled);
    assert!(balrog_top
        .dependencies
        .iter()
        .any(|d| d.as_str() == release::CHECKSUMS_RUNNING));
    assert_eq!(by_id(release::CHECKSUMS_RUNNING).state, TaskState::Running);
}

#[test]
fn rebased_fixtures_keep_only_the_exceeded_deadline_in_the_past() {
    let now = Utc::now();
    for text in [fixtures::PR_GROUP, fixtures::RELEASE_GROUP] {
        let mut list = fixtures::parse(text);
        rebase_times(&mut list, now);
        for t in snapshots_from_list(&list).expect("snapshots") {
            let exceeded = t.task_id.as_str() == release::BOUNCER_DEADLINE_EXCEEDED;
            assert_eq!(t.deadline < now, exceeded, "{} {}", t.label, t.deadline);
            assert!(t.created <= now, "{}", t.label);
        }
    }
}

#[tokio::test]
async fn small_groups_keep_their_definitions_and_big_ones_do_not() {
    let (queue, client) = sandbox().await;
    let root = queue.root_url();
    let checks = vec![check(&root, pr::DECISION), check(&root, release::DECISION)];
    let found = discover_tasks_keeping(&client, &root, &checks, &[])
        .await
        .expect("discovers");
    let wanted: BTreeSet<rerunbot::types::TaskId> = [pr::TEST_BC1_FAILED, release::DECISION]
        .iter()
        .map(|id| rerunbot::types::TaskId::new(*id))
        .collect();
    let kept = found.definitions.definitions(&wanted);
    assert_eq!(kept.len(), 2, "both groups are small");
    for id in &wanted {
        let from_queue = queue.task(id.as_str()).expect("exists")["task"].clone();
        assert_eq!(kept[id], from_queue, "the definition GET /task answers");
    }

    // The PR group grows past the budget: its pages are dropped, the
    // release group's stay.
    grow_past_kept_pages(&queue);
    let found = discover_tasks_keeping(&client, &root, &checks, &[])
        .await
        .expect("discovers");
    assert!(found
        .tasks
        .iter()
        .any(|t| t.task_id.as_str() == PADDING_TASK));
    let kept = found.definitions.definitions(&wanted);
    let kept: Vec<&str> = kept.keys().map(|id| id.as_str()).collect();
    assert_eq!(kept, vec![release::DECISION]);
    assert!(found.definitions.bytes() <= rerunbot::taskcluster::kept::KEPT_PAGES_BUDGET);
}
