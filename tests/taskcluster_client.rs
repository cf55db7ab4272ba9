//! The queue client against the sandbox queue: every call, pagination,
//! every error type, retries, Hawk.

mod common;

use chrono::Utc;
use common::sandbox_queue::seeded_queue;
use rerunbot::config::{Secret, TaskclusterCredentials};
use rerunbot::policy::copy_ids::copy_task_id;
use rerunbot::policy::task::TaskState;
use rerunbot::sandbox::taskcluster::fixtures::{pr, release};
use rerunbot::sandbox::taskcluster::{certificate, SandboxQueue, SandboxQueueConfig};
use rerunbot::taskcluster::hawk;
use rerunbot::taskcluster::{retrigger_definition, QueueClient, QueueError, RetryPolicy};
use rerunbot::types::{DeliveryId, TaskGroupId, TaskId};
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "sandbox-access-token";

fn creds(client_id: &str, token: &str) -> Option<TaskclusterCredentials> {
    Some(TaskclusterCredentials {
        client_id: client_id.to_owned(),
        access_token: Secret::new(token),
        certificate: None,
    })
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        retries: 3,
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
    }
}

async fn sandbox() -> (SandboxQueue, QueueClient) {
    let queue = seeded_queue().await;
    let client = QueueClient::new(&queue.root_url(), creds("rerunbot", TOKEN)).with_retry(fast());
    (queue, client)
}

fn runs(status: &Value) -> usize {
    status["runs"].as_array().map_or(0, Vec::len)
}

fn id(s: &str) -> TaskId {
    TaskId::new(s)
}

#[tokio::test]
async fn task_and_status() {
    let (queue, client) = sandbox().await;
    let def = client.task(&id(pr::TEST_BC1_FAILED)).await.expect("task");
    assert_eq!(
        def["tags"]["label"],
        json!("test-linux64/opt-mochitest-browser-chrome-1")
    );
    let status = client
        .status(&id(pr::TEST_BC1_FAILED))
        .await
        .expect("status");
    assert_eq!(status["state"], json!("failed"));
    assert_eq!(status["taskGroupId"], json!(pr::GROUP));
    assert_eq!(runs(&status), 2);
    let calls = queue.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls
        .iter()
        .all(|c| c.client_id.as_deref() == Some("rerunbot") && c.status == 200));
    assert_eq!(
        calls[1].path,
        format!("/api/queue/v1/task/{}/status", pr::TEST_BC1_FAILED)
    );
}

#[tokio::test]
async fn list_task_group_reads_every_page() {
    let (queue, client) = sandbox().await;
    let tasks = client
        .list_task_group(&TaskGroupId::new(pr::GROUP))
        .await
        .expect("lists");
    assert_eq!(tasks.len(), 12);
    assert_eq!(tasks.len(), queue.tasks_in_group(pr::GROUP).len());
    // Page size 3: four signed pages, three with a continuation token.
    let calls = queue.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path.contains("continuationToken="))
            .count(),
        3
    );
    assert!(calls
        .iter()
        .all(|c| c.status == 200 && c.client_id.is_some()));
    let build = tasks
        .iter()
        .find(|t| t.task_id.as_str() == pr::BUILD_LINUX64_OPT)
        .expect("build");
    let mut dependents: Vec<&str> = build.dependents.iter().map(TaskId::as_str).collect();
    dependents.sort_unstable();
    let mut expected = vec![
        pr::TEST_BC1_FAILED,
        pr::TEST_BC2_COMPLETED,
        pr::TEST_DT1_RUNNING,
    ];
    expected.sort_unstable();
    assert_eq!(dependents, expected);
}

#[tokio::test]
async fn rerun_adds_a_run_and_is_a_no_op_when_pending() {
    let (queue, client) = sandbox().await;
    let status = client
        .rerun_task(&id(pr::TEST_BC1_FAILED))
        .await
        .expect("rerun");
    assert_eq!(status["state"], json!("pending"));
    assert_eq!(runs(&status), 3);
    assert_eq!(status["runs"][2]["reasonCreated"], json!("rerun"));
    // Again while pending: the queue returns the status unchanged.
    let again = client
        .rerun_task(&id(pr::TEST_BC1_FAILED))
        .await
        .expect("no-op");
    assert_eq!(runs(&again), 3);
    let running = client
        .rerun_task(&id(pr::TEST_DT1_RUNNING))
        .await
        .expect("no-op");
    assert_eq!(running["state"], json!("running"));
    assert_eq!(runs(&running), 1);
    // An unscheduled task is scheduled regardless of its dependencies.
    let unscheduled = client
        .rerun_task(&id(pr::TEST_WIN_UNSCHEDULED))
        .await
        .expect("rerun");
    assert_eq!(unscheduled["state"], json!("pending"));
    assert_eq!(queue.calls().len(), 4);
}

#[tokio::test]
async fn cancel_then_rerun() {
    let (_queue, client) = sandbox().await;
    let canceled = client
        .cancel_task(&id(pr::TEST_DT1_RUNNING))
        .await
        .expect("cancel");
    assert_eq!(canceled["state"], json!("exception"));
    assert_eq!(canceled["runs"][0]["reasonResolved"], json!("canceled"));
    let rerun = client
        .rerun_task(&id(pr::TEST_DT1_RUNNING))
        .await
        .expect("rerun");
    assert_eq!(rerun["state"], json!("pending"));
    assert_eq!(runs(&rerun), 2);
    // Cancel of an unscheduled task adds a canceled run 0.
    let canceled = client
        .cancel_task(&id(release::BEETMOVER_MAC_BEHIND_FAILED))
        .await
        .expect("cancel");
    assert_eq!(canceled["runs"][0]["reasonResolved"], json!("canceled"));
    assert_eq!(canceled["runs"][0]["reasonCreated"], json!("exception"));
}

#[tokio::test]
async fn create_task_is_idempotent_and_conflicts_on_a_different_definition() {
    let (queue, client) = sandbox().await;
    let original = client.task(&id(pr::TEST_BC1_FAILED)).await.expect("task");
    let copy = retrigger_definition(&original, Utc::now()).expect("copy");
    let new_id = copy_task_id(&DeliveryId::from("d-1"), &id(pr::TEST_BC1_FAILED), 0);
    let status = client.create_task(&new_id, &copy).await.expect("created");
    assert_eq!(
        status["state"],
        json!("pending"),
        "dependencies are completed"
    );
    assert_eq!(status["taskGroupId"], json!(pr::GROUP));
    let again = client
        .create_task(&new_id, &copy)
        .await
        .expect("idempotent");
    assert_eq!(again, status);
    assert_eq!(queue.tasks_in_group(pr::GROUP).len(), 13);

    let mut different = copy.clone();
    different["payload"]["maxRunTime"] = json!(1);
    match client.create_task(&new_id, &different).await {
        Err(QueueError::Conflict { message }) => {
            assert!(
                message.contains("already used by another task"),
                "{message}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // `created` more than 15 minutes from now.
    let stale =
        retrigger_definition(&original, Utc::now() - chrono::Duration::minutes(16)).expect("copy");
    let other_id = copy_task_id(&DeliveryId::from("d-1"), &id(pr::TEST_BC1_FAILED), 1);
    match client.create_task(&other_id, &stale).await {
        Err(QueueError::Rejected {
            status: 400,
            message,
        }) => {
            assert!(message.contains("max 15min drift"), "{message}")
        }
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(queue.task(other_id.as_str()).is_none());
}

#[tokio::test]
async fn past_deadline_and_run_limit() {
    let (queue, client) = sandbox().await;
    assert_eq!(
        client
            .rerun_task(&id(release::BOUNCER_DEADLINE_EXCEEDED))
            .await,
        Err(QueueError::PastDeadline)
    );
    assert_eq!(
        client
            .cancel_task(&id(release::BOUNCER_DEADLINE_EXCEEDED))
            .await,
        Err(QueueError::PastDeadline)
    );
    let mut entry = queue.task(pr::LINT_ESLINT_FAILED).expect("task");
    let fifty: Vec<Value> = (0..50)
        .map(|n| json!({"runId": n, "state": "failed", "reasonCreated": "rerun", "reasonResolved": "failed"}))
        .collect();
    entry["status"]["runs"] = json!(fifty);
    queue.add_task(
        pr::LINT_ESLINT_FAILED,
        entry["task"].clone(),
        entry["status"].clone(),
    );
    assert_eq!(
        client.rerun_task(&id(pr::LINT_ESLINT_FAILED)).await,
        Err(QueueError::RunLimit)
    );
}

#[tokio::test]
async fn not_found() {
    let (_queue, client) = sandbox().await;
    let missing = id("AAAAAAAAQAAAAAAAAAAAAA");
    assert_eq!(client.task(&missing).await, Err(QueueError::NotFound));
    assert_eq!(client.status(&missing).await, Err(QueueError::NotFound));
    assert_eq!(client.rerun_task(&missing).await, Err(QueueError::NotFound));
    assert_eq!(
        client
            .list_task_group(&TaskGroupId::new("AAAAAAAAQAAAAAAAAAAAAA"))
            .await,
        Err(QueueError::NotFound)
    );
}

#[tokio::test]
async fn insufficient_scopes_names_the_missing_ones() {
    let (queue, client) = sandbox().await;
    assert!(queue.set_scopes("rerunbot", &["queue:*"]));
    let original = client
        .task(&id(release::BALROG_LINUX_FAILED))
        .await
        .expect("task");
    let copy = retrigger_definition(&original, Utc::now()).expect("copy");
    let new_id = copy_task_id(
        &DeliveryId::from("d-2"),
        &id(release::BALROG_LINUX_FAILED),
        0,
    );
    match client.create_task(&new_id, &copy).await {
        Err(QueueError::InsufficientScopes { message }) => {
            assert!(
                message.starts_with("Client ID rerunbot does not have sufficient scopes"),
                "{message}"
            );
            let (missing, _) = message
                .split_once("This request requires")
                .expect("both parts");
            assert!(
                missing.contains("project:releng:balrog:server:release"),
                "{message}"
            );
            assert!(!missing.contains("queue:"), "{message}");
        }
        other => panic!("expected InsufficientScopes, got {other:?}"),
    }
    // Rerun needs queue:rerun-task:...; a trailing * grants it.
    assert!(queue.set_scopes("rerunbot", &["queue:rerun-task:gecko-level-1/*"]));
    assert!(client.rerun_task(&id(pr::LINT_ESLINT_FAILED)).await.is_ok());
    assert!(matches!(
        client.rerun_task(&id(release::BALROG_LINUX_FAILED)).await,
        Err(QueueError::InsufficientScopes { .. })
    ));
}

#[tokio::test]
async fn unauthenticated_client_reads_but_cannot_write() {
    let (queue, _) = sandbox().await;
    let anonymous = QueueClient::new(&queue.root_url(), None).with_retry(fast());
    assert!(anonymous.status(&id(pr::TEST_BC1_FAILED)).await.is_ok());
    assert!(matches!(
        anonymous.rerun_task(&id(pr::TEST_BC1_FAILED)).await,
        Err(QueueError::InsufficientScopes { .. })
    ));
    assert!(queue.calls().iter().all(|c| c.client_id.is_none()));
}

#[tokio::test]
async fn retries_injected_500s_and_dispatches_once() {
    let (queue, client) = sandbox().await;
    // A rerun is sent once (never replayed blindly: dispatch checks the
    // status first); the read that follows is retried.
    queue.fail_next(3, 500);
    assert!(matches!(
        client.rerun_task(&id(pr::TEST_BC1_FAILED)).await,
        Err(QueueError::Unavailable { .. })
    ));
    client
        .status(&id(pr::TEST_BC1_FAILED))
        .await
        .expect("status after retries");
    let status = client
        .rerun_task(&id(pr::TEST_BC1_FAILED))
        .await
        .expect("rerun");
    assert_eq!(runs(&status), 3);
    let calls = queue.calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(calls.iter().filter(|c| c.injected).count(), 3);
    assert_eq!(
        calls
            .iter()
            .filter(|c| !c.injected && c.status == 200 && c.method == "POST")
            .count(),
        1
    );
    assert_eq!(
        runs(&queue.task(pr::TEST_BC1_FAILED).expect("task")["status"]),
        3
    );

    // createTask: identical bytes on every attempt, one task created.
    let original = client
        .task(&id(pr::TEST_BC2_COMPLETED))
        .await
        .expect("task");
    let copy = retrigger_definition(&original, Utc::now()).expect("copy");
    let new_id = copy_task_id(&DeliveryId::from("d-3"), &id(pr::TEST_BC2_COMPLETED), 0);
    queue.fail_next(3, 503);
    client
        .create_task(&new_id, &copy)
        .await
        .expect("created on the last attempt");
    let puts: Vec<_> = queue
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 4);
    assert!(puts.iter().all(|c| c.body.as_ref() == Some(&copy)));
    assert_eq!(queue.tasks_in_group(pr::GROUP).len(), 13);
}

#[tokio::test]
async fn gives_up_after_bounded_retries() {
    let (queue, client) = sandbox().await;
    queue.fail_next(10, 500);
    match client.status(&id(pr::TEST_BC1_FAILED)).await {
        Err(QueueError::Unavailable { message }) => {
            assert!(message.contains("4 attempts"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(queue.calls().len(), 4, "one attempt and three retries");
    // A rerun is not safe to replay blindly: sent once, the caller checks.
    match client.rerun_task(&id(pr::TEST_BC1_FAILED)).await {
        Err(QueueError::Unavailable { message }) => {
            assert!(message.contains("after 1 attempt:"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(queue.calls().len(), 5, "the rerun was sent once");
    assert_eq!(
        runs(&queue.task(pr::TEST_BC1_FAILED).expect("task")["status"]),
        2
    );
    // 4xx are not retried.
    queue.fail_next(0, 500);
    let before = queue.calls().len();
    let _ = client
        .rerun_task(&id(release::BOUNCER_DEADLINE_EXCEEDED))
        .await;
    assert_eq!(queue.calls().len(), before + 1);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let (queue, _) = sandbox().await;
    let client = QueueClient::new(&queue.root_url(), creds("rerunbot", TOKEN))
        .with_retry(RetryPolicy {
            retries: 1,
            ..fast()
        })
        .with_timeout(Duration::from_millis(50));
    queue.set_latency(Duration::from_millis(500));
    let result = tokio::time::timeout(Duration::from_secs(10), client.status(&id(pr::GROUP)))
        .await
        .expect("bounded");
    match result {
        Err(QueueError::Unavailable { message }) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    queue.set_latency(Duration::ZERO);
    assert!(client.status(&id(pr::GROUP)).await.is_ok());
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let queue = SandboxQueue::start(SandboxQueueConfig::default())
        .await
        .expect("starts");
    let root = queue.root_url();
    queue.shutdown().await;
    let client = QueueClient::new(&root, None).with_retry(fast());
    assert!(matches!(
        client.status(&id(pr::GROUP)).await,
        Err(QueueError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn wrong_key_is_rejected_with_401() {
    let (queue, _) = sandbox().await;
    let client = QueueClient::new(&queue.root_url(), creds("rerunbot", "wrong")).with_retry(fast());
    assert!(matches!(
        client.status(&id(pr::GROUP)).await,
        Err(QueueError::Rejected { status: 401, .. })
    ));
    let unknown = QueueClient::new(&queue.root_url(), creds("nobody", TOKEN)).with_retry(fast());
    assert!(matches!(
        unknown.status(&id(pr::GROUP)).await,
        Err(QueueError::Rejected { status: 401, .. })
    ));
}

#[tokio::test]
async fn hawk_covers_the_query_string() {
    let (queue, _) = sandbox().await;
    let root = queue.root_url();
    let port: u16 = root
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let path = format!("/api/queue/v1/task-group/{}/list", pr::GROUP);
    let signed_for = format!("{path}?limit=1");
    let header = |resource: &str| {
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}{resource}")).expect("url");
        hawk::authorization_at(
            "rerunbot",
            TOKEN,
            &hawk::Signed {
                method: "GET",
                url: &url,
                body: None,
                ext: None,
            },
            std::time::SystemTime::now(),
            "abc123",
        )
        .expect("signs")
    };
    let http = reqwest::Client::new();
    let send = |resource: String, auth: String| {
        let http = http.clone();
        let url = format!("{root}{resource}");
        async move {
            http.get(url)
                .header("Authorization", auth)
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    };
    assert_eq!(send(signed_for.clone(), header(&signed_for)).await, 200);
    assert_eq!(
        send(format!("{path}?limit=2"), header(&signed_for)).await,
        401,
        "tampered query"
    );
    assert_eq!(
        send(signed_for.clone(), header(&path)).await,
        401,
        "signed without the query"
    );
}

#[tokio::test]
async fn temporary_credentials_carry_the_certificate() {
    let (queue, _) = sandbox().await;
    let now_ms = Utc::now().timestamp_millis();
    let temp = |scopes: &[&str], expiry_ms: i64| {
        let (cert, token) =
            certificate::issue(TOKEN, scopes, now_ms - 1000, expiry_ms, "seed-0123456789");
        QueueClient::new(
            &queue.root_url(),
            Some(TaskclusterCredentials {
                client_id: "rerunbot".into(),
                access_token: Secret::new(token),
                certificate: Some(Secret::new(cert)),
            }),
        )
        .with_retry(fast())
    };
    let client = temp(&["queue:rerun-task:*"], now_ms + 3_600_000);
    client
        .rerun_task(&id(pr::LINT_ESLINT_FAILED))
        .await
        .expect("rerun");
    let calls = queue.calls();
    assert_eq!(
        calls[0].certificate.as_ref().map(|c| c["seed"].clone()),
        Some(json!("seed-0123456789"))
    );
    // The certificate's scopes, not the issuer's, apply.
    assert!(matches!(
        client.cancel_task(&id(pr::TEST_DT1_RUNNING)).await,
        Err(QueueError::InsufficientScopes { .. })
    ));
    // An expired certificate is refused.
    let expired = temp(&["queue:*"], now_ms - 500);
    let answer = expired.status(&id(pr::GROUP)).await;
    assert!(
        matches!(answer, Err(QueueError::Rejected { status: 401, .. })),
        "{answer:?}"
    );
    // A certificate that is not JSON fails locally, without a request.
    let before = queue.calls().len();
    let bad = QueueClient::new(
        &queue.root_url(),
        Some(TaskclusterCredentials {
            client_id: "rerunbot".into(),
            access_token: Secret::new("x"),
            certificate: Some(Secret::new("{not json")),
        }),
    );
    assert!(matches!(
        bad.status(&id(pr::GROUP)).await,
        Err(QueueError::Rejected { status: 401, .. })
    ));
    assert_eq!(queue.calls().len(), before);
}

#[tokio::test]
async fn set_state_moves_tasks_and_schedules_dependents() {
    let (queue, client) = sandbox().await;
    assert!(queue.set_state(pr::BUILD_WIN64_OPT_FAILED, TaskState::Completed, None));
    let win = client
        .status(&id(pr::TEST_WIN_UNSCHEDULED))
        .await
        .expect("status");
    assert_eq!(win["state"], json!("pending"));
    assert!(queue.set_state(
        pr::TEST_WIN_UNSCHEDULED,
        TaskState::Exception,
        Some("intermittent-task")
    ));
    let win = client
        .status(&id(pr::TEST_WIN_UNSCHEDULED))
        .await
        .expect("status");
    assert_eq!(win["runs"][0]["reasonResolved"], json!("intermittent-task"));
    assert!(!queue.set_state("nope", TaskState::Running, None));
}

#[tokio::test]
async fn a_stored_copy_resent_after_15_minutes_is_recognised() {
    let (queue, client) = sandbox().await;
    let original = client
        .task(&id(pr::TEST_BC2_COMPLETED))
        .await
        .expect("task");
    let new_id = copy_task_id(&DeliveryId::from("d-4"), &id(pr::TEST_BC2_COMPLETED), 0);
    // Created by an earlier attempt of the job...
    let fresh = retrigger_definition(&original, Utc::now()).expect("copy");
    client.create_task(&new_id, &fresh).await.expect("created");
    // ...and re-sent from the store with a `created` now too old.
    let mut stored = fresh.clone();
    stored["created"] = json!(rerunbot::taskcluster::timestamps::format_timestamp(
        Utc::now() - chrono::Duration::minutes(20)
    ));
    assert!(matches!(
        client.create_task(&new_id, &stored).await,
        Err(QueueError::Rejected { status: 400, .. })
    ));
    let status = client
        .ensure_task_created(&new_id, &stored)
        .await
        .expect("exists");
    assert_eq!(status["taskId"], json!(new_id.as_str()));
    // A copy that was never created cannot be recovered this way.
    let never = copy_task_id(&DeliveryId::from("d-4"), &id(pr::TEST_BC2_COMPLETED), 9);
    assert!(matches!(
        client.ensure_task_created(&never, &stored).await,
        Err(QueueError::Rejected { status: 400, .. })
    ));
    assert!(queue.task(never.as_str()).is_none());
}

#[tokio::test]
async fn authorized_scopes_restrict_what_a_call_may_do() {
    let (queue, client) = sandbox().await;
    assert!(queue.set_scopes("rerunbot", &["queue:rerun-task:*"]));
    // Restricted to gecko-level-1's queues: the PR lint task reruns, the
    // release task does not, although the client itself could rerun it.
    let restricted = client
        .clone()
        .with_authorized_scopes(vec!["queue:rerun-task:gecko-level-1/*".to_owned()]);
    assert!(restricted
        .rerun_task(&id(pr::LINT_ESLINT_FAILED))
        .await
        .is_ok());
    assert!(matches!(
        restricted
            .rerun_task(&id(release::BALROG_LINUX_FAILED))
            .await,
        Err(QueueError::InsufficientScopes { .. })
    ));
    // Asking for scopes the client does not hold is refused outright.
    let overstepping = client.with_authorized_scopes(vec!["queue:*".to_owned()]);
    assert!(matches!(
        overstepping.status(&id(pr::TEST_BC1_FAILED)).await,
        Err(QueueError::Rejected { status: 401, .. })
    ));
}
