//! Acting as the repository (DESIGN.md §12), end to end through the real
//! router: which check runs and statuses may name tasks, and which task
//! groups pass the provenance check. Each test plants a task that must
//! *not* be touched and checks the queue carried out no write on it.

mod common;

use common::world::queue_mode;

use rerunbot::policy::Role;
use rerunbot::sandbox::github::{SandboxCheckRun, SandboxStatus};
use rerunbot::sandbox::world::{Answer, World, HEAD_SHA, PR_OPEN};
use rerunbot::types::{CommitSha, Login};
use serde_json::{json, Value};

/// Decision task and failed task of a planted group.
const DECISION: &str = "Pl4ntedDecisionTask0Aw";
const FAILED: &str = "Pl4ntedFailedTask000Aw";
const LABEL: &str = "test-linux64/opt-planted-1";

async fn world() -> World {
    World::start(queue_mode()).await.expect("world")
}

/// A world with a group planted by `origin`, and a check run of `app` on
/// the pull request's head naming the group's failed task.
async fn planted(origin: Origin<'_>, app: &str) -> World {
    let w = world().await;
    plant_group(&w, &origin);
    let url = format!("{}/tasks/{FAILED}", w.queue.root_url());
    check_run(&w, FAILED, app, url);
    w
}

/// bob's `/rerun` of the planted task's label on the open pull request.
async fn rerun_planted(w: &mut World) -> Answer {
    w.comment(PR_OPEN, "bob", &format!("/rerun {LABEL}"))
        .await
        .expect("comment")
}

/// What the planted group's decision task says about itself.
struct Origin<'a> {
    repo: &'a str,
    sha: &'a str,
    /// The role its decision task assumed (`pull-request`, `branch:main`).
    role: &'a str,
    /// The tasks' `schedulerId`: whose trust domain they are in.
    scheduler: &'a str,
}

/// This repository's pull-request graph of the head.
const OURS: Origin<'static> = Origin {
    repo: "mozilla/gecko-dev",
    sha: HEAD_SHA,
    role: "pull-request",
    scheduler: "gecko-level-1",
};

/// Seeds a group (decision task + one failed task labelled [`LABEL`]).
fn plant_group(w: &World, origin: &Origin<'_>) {
    let now = chrono::Utc::now();
    let at = |hours: i64| (now + chrono::Duration::hours(hours)).to_rfc3339();
    let task = |name: &str, extra_tags: Value| {
        let mut tags = json!({"kind": "test", "label": name, "retrigger": "true"});
        if let (Some(t), Some(extra)) = (tags.as_object_mut(), extra_tags.as_object()) {
            t.extend(extra.clone());
        }
        json!({
            "provisionerId": "gecko-t", "workerType": "t-linux",
            "taskQueueId": "gecko-t/t-linux", "schedulerId": origin.scheduler,
            "projectId": "none", "taskGroupId": DECISION,
            "dependencies": [], "requires": "all-completed", "routes": [],
            "priority": "low", "retries": 5,
            "created": at(-1), "deadline": at(23), "expires": at(24 * 30),
            "scopes": [format!("assume:repo:github.com/{}:{}", origin.repo, origin.role)],
            "payload": {"env": {
                "GECKO_HEAD_REPOSITORY": format!("https://github.com/{}", origin.repo),
                "GECKO_HEAD_REV": origin.sha,
            }},
            "metadata": {
                "name": name, "description": "", "owner": "dev@example.com",
                "source": format!("https://github.com/{}/raw/{}/.taskcluster.yml", origin.repo, origin.sha),
            },
            "tags": tags, "extra": {},
        })
    };
    let run = |state: &str| json!({"runs": [{"runId": 0, "state": state, "reasonCreated": "scheduled", "reasonResolved": state}]});
    w.queue.add_task(
        DECISION,
        task("Gecko Decision Task", json!({"kind": "decision-task"})),
        run("completed"),
    );
    w.queue
        .add_task(FAILED, task(LABEL, json!({})), run("failed"));
}

/// A check run on the pull request's head naming `task`.
fn check_run(w: &World, task: &str, app: &str, details_url: String) {
    let mut run =
        SandboxCheckRun::for_task(LABEL, &w.queue.root_url(), task, "failure").by_app(app);
    run.details_url = Some(details_url);
    w.github
        .add_check_run(&w.repo, &CommitSha::from(HEAD_SHA), run);
}

fn planted_writes(w: &World) -> Vec<String> {
    w.queue
        .accepted_writes()
        .into_iter()
        .filter(|c| c.contains(FAILED))
        .collect()
}

fn reply(w: &World, answer: &Answer) -> String {
    w.normalize(answer.reply.as_deref().expect("a reply"))
}

#[tokio::test]
async fn a_check_run_of_another_app_naming_another_repositorys_task_is_ignored() {
    let mut w = planted(
        Origin {
            repo: "evil/other",
            ..OURS
        },
        "evil-ci",
    )
    .await;
    let answer = rerun_planted(&mut w).await;
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    let text = reply(&w, &answer);
    assert!(!text.contains(FAILED), "{text}");
    assert!(
        !text.contains("Task groups not used"),
        "never even looked at: {text}"
    );
    w.shutdown().await;
}

#[tokio::test]
async fn a_status_not_posted_by_the_taskcluster_app_is_ignored() {
    let mut w = world().await;
    plant_group(&w, &OURS);
    // Statuses are read only when no check run names a task: use a commit
    // with statuses only, on a pull request of its own.
    let sha = "2222222222222222222222222222222222222222";
    w.github.add_pull_request(
        &w.repo,
        rerunbot::sandbox::github::SandboxPull::open(21, sha, "alice"),
    );
    w.github.add_status(
        &w.repo,
        &CommitSha::from(sha),
        SandboxStatus {
            context: "ci/evil".to_owned(),
            state: "failure".to_owned(),
            target_url: Some(format!("{}/tasks/groups/{DECISION}", w.queue.root_url())),
            creator: "evil-ci[bot]".to_owned(),
        },
    );
    let answer = w
        .comment(21, "bob", &format!("/rerun {LABEL}"))
        .await
        .expect("comment");
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    assert!(!reply(&w, &answer).contains(FAILED));
    w.shutdown().await;
}

#[tokio::test]
async fn a_look_alike_host_is_ignored() {
    let mut w = world().await;
    plant_group(&w, &OURS);
    // Under the root by a plain prefix test, not under `<root>/`; the
    // check run's external_id names the planted task.
    let url = format!("{}.evil.example/tasks/index", w.queue.root_url());
    check_run(&w, FAILED, "taskcluster", url);
    let answer = rerun_planted(&mut w).await;
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    assert!(!reply(&w, &answer).contains(FAILED));
    w.shutdown().await;
}

#[tokio::test]
async fn a_group_from_another_repository_is_skipped_and_said_so() {
    let mut w = planted(
        Origin {
            repo: "evil/other",
            ..OURS
        },
        "taskcluster",
    )
    .await;
    let answer = rerun_planted(&mut w).await;
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    let text = reply(&w, &answer);
    assert!(
        text.contains(&format!(
            "[`{DECISION}`](https://tc.example/tasks/groups/{DECISION}): its decision task does not come from this repository"
        )),
        "{text}"
    );
    insta::assert_snapshot!(text);
    w.shutdown().await;
}

#[tokio::test]
async fn a_group_of_another_commit_is_skipped_and_said_so() {
    let mut w = planted(
        Origin {
            sha: "3333333333333333333333333333333333333333",
            ..OURS
        },
        "taskcluster",
    )
    .await;
    let answer = rerun_planted(&mut w).await;
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    let text = reply(&w, &answer);
    assert!(
        text.contains("its decision task did not run for this commit"),
        "{text}"
    );
    w.shutdown().await;
}

#[tokio::test]
async fn the_pr_author_reruns_only_the_pull_requests_own_groups() {
    // A push graph of the same SHA (a fork whose head is a branch commit).
    let mut w = planted(
        Origin {
            role: "branch:main",
            ..OURS
        },
        "taskcluster",
    )
    .await;
    // alice wrote the pull request and has no write role: pr_author_rerun.
    w.github
        .set_role(&w.repo, &Login::from("alice"), Role::Read);
    let answer = w
        .comment(PR_OPEN, "alice", "/rerun")
        .await
        .expect("comment");
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    assert!(
        w.queue
            .accepted_writes()
            .iter()
            .any(|c| c.ends_with("/rerun")),
        "the pull request's own failed tasks are rerun"
    );
    let text = reply(&w, &answer);
    assert!(text.contains("push or release graph"), "{text}");
    insta::assert_snapshot!(text);

    // A writer acts on the push graph of the same SHA.
    let answer = rerun_planted(&mut w).await;
    assert_eq!(
        planted_writes(&w),
        vec![format!("POST /api/queue/v1/task/{FAILED}/rerun")]
    );
    assert!(!reply(&w, &answer).contains("Task groups not used"));
    w.shutdown().await;
}

#[tokio::test]
async fn a_fooled_discovery_still_cannot_touch_another_repositorys_task() {
    // Everything discovery and provenance read is forged to look like this
    // repository's pull-request graph; the tasks are another project's.
    let mut w = planted(
        Origin {
            scheduler: "evil-level-3",
            ..OURS
        },
        "taskcluster",
    )
    .await;
    let answer = rerun_planted(&mut w).await;
    assert_eq!(planted_writes(&w), Vec::<String>::new());
    let refused: Vec<u16> = w
        .queue
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.contains(FAILED))
        .map(|c| c.status)
        .collect();
    assert_eq!(refused, vec![403], "the queue itself refused it");
    let text = reply(&w, &answer);
    assert!(text.contains("queue:rerun-task:evil-level-3/"), "{text}");
    assert_eq!(answer.reactions, vec!["eyes", "confused"]);
    w.shutdown().await;
}
