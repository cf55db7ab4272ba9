//! Scoped identity (DESIGN.md §12): every queue call carries the
//! repository's `authorizedScopes` in its Hawk `ext` (certificates
//! included), and the sandbox queue, expanding `assume:` through its role
//! table, refuses a mutation outside that repository's role with 403.

use chrono::Utc;
use rerunbot::config::{Secret, TaskclusterCredentials, DEFAULT_AUTHORIZED_SCOPES};
use rerunbot::sandbox::taskcluster::fixtures::{self, pr};
use rerunbot::sandbox::taskcluster::{certificate, SandboxQueue, SandboxQueueConfig};
use rerunbot::taskcluster::{QueueClient, QueueError, RetryPolicy};
use rerunbot::types::TaskId;
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "sandbox-access-token";

fn fast() -> RetryPolicy {
    RetryPolicy {
        retries: 1,
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
    }
}

fn template() -> Vec<String> {
    vec![DEFAULT_AUTHORIZED_SCOPES.to_owned()]
}

async fn sandbox() -> SandboxQueue {
    let queue = SandboxQueue::start(SandboxQueueConfig::default())
        .await
        .expect("sandbox starts");
    queue.seed_fixture(&fixtures::for_commit(
        fixtures::PR_GROUP,
        "mozilla/gecko-dev",
        "5c1e0c3b6a7d4f2e9b8a1c0d3e4f5a6b7c8d9e0f",
    ));
    queue
}

fn client(queue: &SandboxQueue, token: &str, certificate: Option<String>) -> QueueClient {
    QueueClient::new(
        &queue.root_url(),
        Some(TaskclusterCredentials {
            client_id: "rerunbot".to_owned(),
            access_token: Secret::new(token),
            certificate: certificate.map(Secret::new),
        }),
    )
    .with_retry(fast())
    .with_authorized_scopes_template(template())
}

#[tokio::test]
async fn every_call_carries_the_repositorys_authorized_scopes() {
    let queue = sandbox().await;
    let gecko = client(&queue, TOKEN, None).for_repository("mozilla", "gecko-dev");
    gecko
        .status(&TaskId::new(pr::LINT_ESLINT_FAILED))
        .await
        .expect("status");
    gecko
        .rerun_task(&TaskId::new(pr::LINT_ESLINT_FAILED))
        .await
        .expect("within the repository's role");
    let calls = queue.calls();
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert_eq!(
            call.authorized_scopes,
            Some(json!(["assume:repo:github.com/mozilla/gecko-dev:*"])),
            "{} {}",
            call.method,
            call.path
        );
    }
}

#[tokio::test]
async fn a_mutation_outside_the_repositorys_role_is_refused() {
    let queue = sandbox().await;
    // The same bot client, restricted to another repository: the gecko
    // task is beyond that repository's role (it has none in the table).
    let other = client(&queue, TOKEN, None).for_repository("evil", "other");
    let refused = other.rerun_task(&TaskId::new(pr::LINT_ESLINT_FAILED)).await;
    match refused {
        Err(QueueError::InsufficientScopes { message }) => {
            assert!(
                message.contains("queue:rerun-task:gecko-level-1/"),
                "{message}"
            )
        }
        other => panic!("expected 403 InsufficientScopes, got {other:?}"),
    }
    assert!(queue.accepted_writes().is_empty());
    // Without the restriction the bot's own scopes (`queue:*`) would have
    // allowed it: the restriction is what refused it.
    QueueClient::new(
        &queue.root_url(),
        Some(TaskclusterCredentials {
            client_id: "rerunbot".to_owned(),
            access_token: Secret::new(TOKEN),
            certificate: None,
        }),
    )
    .rerun_task(&TaskId::new(pr::LINT_ESLINT_FAILED))
    .await
    .expect("unrestricted");
}

#[tokio::test]
async fn temporary_credentials_carry_both_certificate_and_authorized_scopes() {
    let queue = sandbox().await;
    let now_ms = Utc::now().timestamp_millis();
    let issue = |scopes: &[&str]| {
        certificate::issue(
            TOKEN,
            scopes,
            now_ms - 1000,
            now_ms + 3_600_000,
            "seed-0123456789",
        )
    };
    let (cert, token) = issue(&["queue:*", "assume:repo:github.com/*"]);
    let gecko = client(&queue, &token, Some(cert)).for_repository("mozilla", "gecko-dev");
    gecko
        .rerun_task(&TaskId::new(pr::LINT_ESLINT_FAILED))
        .await
        .expect("rerun");
    let call = queue.calls().pop().expect("a call");
    assert_eq!(
        call.certificate.map(|c| c["seed"].clone()),
        Some(json!("seed-0123456789"))
    );
    assert_eq!(
        call.authorized_scopes,
        Some(json!(["assume:repo:github.com/mozilla/gecko-dev:*"]))
    );
    // Temporary credentials without the repository scopes cannot claim them.
    let (cert, token) = issue(&["queue:*"]);
    let overstep = client(&queue, &token, Some(cert)).for_repository("mozilla", "gecko-dev");
    match overstep.status(&TaskId::new(pr::LINT_ESLINT_FAILED)).await {
        Err(QueueError::Rejected {
            status: 401,
            message,
        }) => {
            assert!(message.contains("oversteps"), "{message}")
        }
        other => panic!("expected 401, got {other:?}"),
    }
}
