//! What the logs carry: no secret or token, on success and failure paths;
//! the job's id, delivery, repository and pull request on every line of a job.
//! Its own test binary: log capture is per thread (`set_default`), and
//! tracing caches a callsite's interest process-wide, so another test's
//! thread touching a callsite first could hide events from the capture.

mod common;

use common::commands::TWO_COMMANDS;
use common::world::{job_of, queue_mode};

use rerunbot::sandbox::world::{comment_payload, guid, World, PR_OPEN, SECRET};
use rerunbot::worker::JobEventKind;

#[tokio::test]
async fn no_secret_or_token_reaches_the_logs() {
    let logs = common::CapturedLogs::start(false);

    let mut w = World::start(queue_mode()).await.expect("world");
    // A failure path too: errors are where secrets tend to leak.
    w.queue.fail_next_matching("PUT", 1, 500);
    w.comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    w.github.expire_tokens();
    w.comment(PR_OPEN, "bob", "/rerun build-win64/opt")
        .await
        .expect("comment");
    w.shutdown().await;

    let logs = logs.text();
    assert!(logs.contains("queued"), "logs were captured:\n{logs}");
    assert!(logs.contains("replied"), "the pipeline logs too:\n{logs}");
    for secret in [
        rerunbot::sandbox::world::SECRET,
        "sandbox-access-token",
        "ghs_sandbox",
        "PRIVATE KEY",
        "Bearer ",
        "Hawk id=",
        "eyJ0eXAi",
        "eyJhbGci",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

#[tokio::test]
async fn logs_never_contain_the_webhook_secret() {
    let logs = common::CapturedLogs::start(true);
    let mut w = World::start(queue_mode()).await.expect("world");
    w.comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    let body = comment_payload("created", PR_OPEN, 1, "bob", "/rerun", None);
    let (status, _) = common::post(
        &w.service.webhook_url(),
        Some("issue_comment"),
        Some("guid-bad"),
        Some("wrong"),
        &body,
    )
    .await;
    assert_eq!(status, 401);
    w.shutdown().await;

    let logs = logs.text();
    assert!(
        logs.contains(&guid(1)),
        "the delivery span carries the GUID:\n{logs}"
    );
    assert!(!logs.contains(SECRET), "secret leaked into logs");
    assert!(!logs.contains(&rerunbot::webhook::signature::sign(SECRET, &body)[7..]));
}

#[tokio::test]
async fn every_log_line_inside_a_job_names_the_job() {
    let logs = common::CapturedLogs::start(true);
    let mut w = World::start(queue_mode()).await.expect("world");
    // Failures make the spawned dispatch units and the GitHub transport log too.
    w.queue.fail_next_matching("PUT", 1, 500);
    w.github.fail_next_matching("POST", "/reactions", 1, 502);
    let answer = w
        .comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    assert_eq!(answer.job, Some(JobEventKind::Done));
    let job = job_of(&w, &guid(1)).await;
    w.shutdown().await;

    let text = logs.text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect();
    // Lines from the code a job runs, wherever they are emitted.
    let in_job: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            let target = l["target"].as_str().unwrap_or_default();
            ["pipeline", "dispatch", "taskcluster", "github"]
                .iter()
                .any(|m| target.starts_with(&format!("rerunbot::{m}")))
        })
        .collect();
    let messages: Vec<&str> = in_job
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    for expected in [
        "replied",
        "taskcluster queue call failed; retrying",
        "GitHub server error, retrying",
    ] {
        assert!(messages.contains(&expected), "{expected:?} in {messages:?}");
    }
    for line in in_job {
        let span = line["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "job"))
            .unwrap_or_else(|| panic!("no job span on {line}"));
        assert_eq!(span["id"], job.id, "{line}");
        assert_eq!(span["guid"], guid(1).as_str(), "{line}");
        assert_eq!(span["repo"], "mozilla/gecko-dev", "{line}");
        assert_eq!(span["pr"], PR_OPEN, "{line}");
    }
}
