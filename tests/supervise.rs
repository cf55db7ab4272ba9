//! `rerunbot supervise` against the sandbox queue and its worker: one test
//! per exit code (0, 1, 2, 5, 6), in process, and the binary's exit code
//! and JSON lines.

use rerunbot::config::{Secret, TaskclusterCredentials};
use rerunbot::follow::supervise::{supervise, Report, Supervise};
use rerunbot::policy::supervise::{Exit, SuperviseRules};
use rerunbot::sandbox::taskcluster::fixtures::{self, pr, PR_GROUP};
use rerunbot::sandbox::taskcluster::worker::{Step, WorkerScript};
use rerunbot::sandbox::taskcluster::{SandboxQueue, SandboxQueueConfig, WorkerHandle};
use rerunbot::taskcluster::QueueClient;
use rerunbot::types::TaskGroupId;
use std::time::Duration;

/// The pull-request fixture group, and (with a script) a worker that also
/// resolves the fixture's own pending and running tasks.
async fn sandbox(
    script: Option<WorkerScript>,
) -> (SandboxQueue, Option<WorkerHandle>, QueueClient) {
    let queue = SandboxQueue::start(SandboxQueueConfig::default())
        .await
        .expect("queue");
    queue.seed_fixture(&fixtures::parse(PR_GROUP));
    let worker = script.map(|s| {
        queue.start_worker(WorkerScript {
            include_existing: true,
            tick: Duration::from_millis(5),
            ..s
        })
    });
    let client = QueueClient::new(
        &queue.root_url(),
        Some(TaskclusterCredentials {
            client_id: "rerunbot".to_owned(),
            access_token: Secret::new("sandbox-access-token"),
            certificate: None,
        }),
    );
    (queue, worker, client)
}

fn quick(rules: SuperviseRules) -> Supervise {
    Supervise {
        group: TaskGroupId::new(pr::GROUP),
        rules,
        poll_every: Duration::from_millis(20),
        wait_timeout: Duration::from_secs(30),
    }
}

fn all_complete() -> WorkerScript {
    WorkerScript {
        default: Some(Step::completed(Duration::from_millis(30))),
        ..WorkerScript::default()
    }
}

fn reruns(reports: &[Report]) -> Vec<(String, u32)> {
    reports
        .iter()
        .filter_map(|r| match r {
            Report::Rerun {
                label,
                attempt,
                error: None,
                ..
            } => Some((label.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn last(reports: &[Report]) -> Report {
    reports.last().cloned().expect("a report")
}

#[tokio::test]
async fn exit_0_when_the_reruns_go_green() {
    let (_queue, _worker, client) = sandbox(Some(all_complete())).await;
    let mut reports = Vec::new();
    let exit = supervise(&client, &quick(SuperviseRules::default()), &mut reports).await;
    assert_eq!(exit, Exit::Completed, "{:?}", last(&reports));
    let mut rerun = reruns(&reports);
    rerun.sort();
    assert_eq!(
        rerun,
        vec![
            ("build-win64/opt".to_owned(), 1),
            ("source-test-mozlint-eslint".to_owned(), 1),
            ("test-linux64/debug-xpcshell-3".to_owned(), 1),
            ("test-linux64/opt-mochitest-browser-chrome-1".to_owned(), 1),
        ]
    );
}

#[tokio::test]
async fn exit_2_when_a_failure_remains_after_its_attempts() {
    let script = all_complete().rule("build-*", vec![Step::failed(Duration::from_millis(30))]);
    let (queue, _worker, client) = sandbox(Some(script)).await;
    let rules = SuperviseRules {
        max_attempts: 2,
        ..SuperviseRules::default()
    };
    let mut reports = Vec::new();
    let exit = supervise(&client, &quick(rules), &mut reports).await;
    assert_eq!(exit, Exit::FailuresRemain, "{:?}", last(&reports));
    // Two reruns of the broken build, then it stays failed (3 runs).
    let build: Vec<u32> = reruns(&reports)
        .into_iter()
        .filter(|(l, _)| l == "build-win64/opt")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(build, vec![1, 2]);
    assert_eq!(
        queue
            .accepted("POST", &format!("{}/rerun", pr::BUILD_WIN64_OPT_FAILED))
            .len(),
        2
    );
}

#[tokio::test]
async fn exit_2_without_reruns_over_the_failure_percent() {
    let (queue, _worker, client) = sandbox(Some(all_complete())).await;
    let rules = SuperviseRules {
        max_failure_percent: 10,
        ..SuperviseRules::default()
    };
    let mut reports = Vec::new();
    let exit = supervise(&client, &quick(rules), &mut reports).await;
    assert_eq!(exit, Exit::FailuresRemain);
    assert!(reruns(&reports).is_empty());
    assert!(queue.accepted("POST", "/rerun").is_empty());
    let Report::Exit { reason, .. } = last(&reports) else {
        panic!("ends with the exit")
    };
    assert!(reason.contains("over the 10% limit"), "{reason}");
}

#[tokio::test]
async fn exit_5_when_a_task_is_canceled() {
    let script = all_complete().rule(
        "source-test-*",
        vec![Step::exception(Duration::from_millis(30), "canceled")],
    );
    let (_queue, _worker, client) = sandbox(Some(script)).await;
    let mut reports = Vec::new();
    let exit = supervise(&client, &quick(SuperviseRules::default()), &mut reports).await;
    assert_eq!(exit, Exit::Canceled, "{:?}", last(&reports));
}

#[tokio::test]
async fn exit_6_when_the_group_does_not_resolve_in_time() {
    // No worker: the fixture's pending and running tasks stay so.
    let (_queue, _worker, client) = sandbox(None).await;
    let s = Supervise {
        wait_timeout: Duration::from_millis(200),
        ..quick(SuperviseRules::default())
    };
    let mut reports = Vec::new();
    assert_eq!(supervise(&client, &s, &mut reports).await, Exit::TimedOut);
}

#[tokio::test]
async fn exit_1_when_the_group_cannot_be_read() {
    let (_queue, _worker, client) = sandbox(None).await;
    let s = Supervise {
        group: TaskGroupId::new("NoSuchGroupAAAAAAAAAAA"),
        ..quick(SuperviseRules::default())
    };
    let mut reports = Vec::new();
    assert_eq!(supervise(&client, &s, &mut reports).await, Exit::Internal);
}

/// The binary: exit code and JSON lines, against a sandbox in this process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_with_supervises_code_and_prints_json_lines() {
    let (queue, _worker, _client) = sandbox(None).await;
    let root = queue.root_url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rerunbot"))
            .args([
                "supervise",
                "--task-group",
                pr::GROUP,
                "--poll-every",
                "50ms",
                "--wait-timeout",
                "300ms",
                "--json",
            ])
            .env_clear()
            .env("TASKCLUSTER_ROOT_URL", root)
            .output()
            .expect("run rerunbot")
    })
    .await
    .expect("join");
    assert_eq!(output.status.code(), Some(6));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines.first().map(|l| l["event"].clone()),
        Some("status".into())
    );
    assert_eq!(lines.first().map(|l| l["total"].clone()), Some(12.into()));
    let end = lines.last().expect("lines");
    assert_eq!(end["event"], "exit");
    assert_eq!(end["code"], 6);

    // Without a group: exit 1, said in one line.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rerunbot"))
        .args(["supervise", "--json"])
        .env_clear()
        .output()
        .expect("run rerunbot");
    assert_eq!(output.status.code(), Some(1));
}

/// `--repo/--pr` with the App's credentials: the binary finds the pull
/// request's head, its trusted group, and supervises it (exit 6 while it
/// does not resolve; 0 once the worker completes it and the reruns; 1 for
/// a pull request without a trusted group).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_supervises_a_pull_request_found_with_the_apps_credentials() {
    use rerunbot::sandbox::github::TEST_APP_PRIVATE_KEY;
    use rerunbot::sandbox::world::{World, WorldOptions, PR_MERGED, PR_OPEN};
    let run = |w: &World, pr: u64, timeout: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rerunbot"));
        command
            .args(["supervise", "--repo", "mozilla/gecko-dev", "--pr"])
            .arg(pr.to_string())
            .args(["--poll-every", "20ms", "--wait-timeout", timeout, "--json"])
            .env_clear()
            .env("TASKCLUSTER_ROOT_URL", w.queue.root_url())
            .env("TASKCLUSTER_CLIENT_ID", "rerunbot")
            .env("TASKCLUSTER_ACCESS_TOKEN", "sandbox-access-token")
            .env("RERUNBOT_GITHUB_APP_ID", "4242")
            .env("RERUNBOT_GITHUB_PRIVATE_KEY", TEST_APP_PRIVATE_KEY)
            .env("RERUNBOT_GITHUB_API_URL", w.github.api_url());
        tokio::task::spawn_blocking(move || command.output().expect("run rerunbot"))
    };
    let lines = |out: &std::process::Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };

    let still = World::start(WorldOptions::default()).await.expect("world");
    let out = run(&still, PR_OPEN, "300ms").await.expect("join");
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert_eq!(lines(&out)[0]["total"], 12);
    // The merged pull request's merge commit ran the release group, not
    // made for a pull request: found too (provenance for repo and commit).
    let out = run(&still, PR_MERGED, "300ms").await.expect("join");
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    // No such pull request: 1, said in one line.
    let out = run(&still, 4040, "300ms").await.expect("join");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(lines(&out).last().expect("exit")["event"], "exit");
    still.shutdown().await;

    let moving = World::start(WorldOptions {
        sandbox_worker: Some(WorkerScript {
            include_existing: true,
            default: Some(Step::completed(Duration::from_millis(20))),
            tick: Duration::from_millis(5),
            ..WorkerScript::default()
        }),
        ..WorldOptions::default()
    })
    .await
    .expect("world");
    let out = run(&moving, PR_OPEN, "30s").await.expect("join");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let reruns = lines(&out).iter().filter(|l| l["event"] == "rerun").count();
    assert_eq!(reruns, 4);
    moving.shutdown().await;
}
