//! `rerunbot demo`: the whole product in a few seconds. Starts rerunbot on
//! an ephemeral loopback port with a temporary SQLite file and both
//! sandboxes seeded from `fixtures/`, sends signed webhooks for several
//! scenarios, and prints for each the comment, the stored plan and the reply,
//! then how the reply is edited as the sandbox worker resolves the runs.
//! The last scenario has no comment: a group resolves with a lost run, the
//! Taskcluster App's check suite completes, and rerunbot reruns it on its
//! own (`auto_rerun`), in a comment of its own that follows the rerun.

use crate::dispatch::route::Routed;
use crate::follow::auto_rerun::run::AutoPlan;
use crate::follow::{FollowConfig, FollowEvent};
use crate::pipeline::prepared::{Prepared, PreparedReply, PreparedSection};
use crate::policy::task::TaskState;
use crate::sandbox::github::payloads::check_suite_completed;
use crate::sandbox::taskcluster::fixtures::pr;
use crate::sandbox::taskcluster::worker::{Step, WorkerScript};
use crate::sandbox::world::{
    guid, World, WorldOptions, HEAD_SHA, INSTALLATION, PR_MERGED, PR_OPEN,
};
use crate::taskcluster::RetryPolicy;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::sync::broadcast;

struct Scenario {
    title: &'static str,
    pr: u64,
    login: &'static str,
    comment: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        title: "An intermittent test on a pull request",
        pr: PR_OPEN,
        login: "bob",
        comment: "/retrigger 3 test-linux64/opt-mochitest-browser-chrome-1",
    },
    Scenario {
        title: "A broken pull-request build and lint",
        pr: PR_OPEN,
        login: "bob",
        comment: "/rerun",
    },
    Scenario {
        title: "A typo, answered with the fix",
        pr: PR_OPEN,
        login: "bob",
        comment: "Looks flaky to me.\n\n/retriger 2 test-linux64/opt-mochitest-browser-chrome-1",
    },
    Scenario {
        title: "Retriggering a release task is refused",
        pr: PR_MERGED,
        login: "bob",
        comment: "/retrigger balrog-linux64-shippable/opt",
    },
    Scenario {
        title: "A release task behind a failed dependency it takes nothing from: cancel, then rerun",
        pr: PR_MERGED,
        login: "mia",
        comment: "/rerun --force release-notify-push-firefox",
    },
    Scenario {
        title: "A release task that uploads the failed dependency's artifacts: refused, rerun the dependency first",
        pr: PR_MERGED,
        login: "mia",
        comment: "/rerun --force beetmover-repackage-macosx64-shippable/opt",
    },
    Scenario {
        title: "Notarization poller timeout: a maintainer forces part 1; the poller waits for its new run, then reruns",
        pr: PR_MERGED,
        login: "mia",
        comment: "/rerun --force notarization-part-1-macosx64-shippable/opt\n/rerun notarization-poller-macosx64-shippable/opt",
    },
    Scenario {
        title: "A new scriptworker pool: a maintainer forces a copy of a signing task, made by the release graph's own retrigger action",
        pr: PR_MERGED,
        login: "mia",
        comment: "/retrigger 1 --force build-signing-linux64-shippable/opt",
    },
    Scenario {
        title: "A deadline-exceeded leaf release task",
        pr: PR_MERGED,
        login: "mia",
        comment: "/rerun release-bouncer-sub-firefox\n/retrigger 1 --force release-bouncer-sub-firefox",
    },
    Scenario {
        title: "Help",
        pr: PR_OPEN,
        login: "bob",
        comment: "/rerunbot help",
    },
];

/// The repository's `.github/rerunbot.yml`: automatic reruns on, with the
/// default rules (exceptions for transient reasons, at most once per task
/// and commit). Everything else is the defaults, as without a file, so
/// the comment scenarios read as they would anywhere.
const REPO_CONFIG: &str = "auto_rerun:\n  enabled: true\n";

/// The delivery of the automatic-rerun scenario's check suite.
const SUITE_DELIVERY: &str = "00000000-0000-4000-8000-c4ec5b17e001";

pub async fn run() -> anyhow::Result<()> {
    let options = WorldOptions {
        repo_config: Some(REPO_CONFIG.to_owned()),
        queue_retry: RetryPolicy {
            retries: 3,
            base: Duration::from_millis(50),
            max: Duration::from_millis(500),
        },
        follow: Some(FollowConfig {
            poll_interval: Duration::from_millis(100),
            edit_every: Duration::from_millis(250),
            wake_every: Duration::from_millis(25),
            ..FollowConfig::default()
        }),
        sandbox_worker: Some(demo_worker()),
        ..WorldOptions::default()
    };
    let mut world = World::start(options).await?;
    let mut follow = world
        .follow_events()
        .ok_or_else(|| anyhow::anyhow!("the demo follows its tasks"))?;
    println!(
        "rerunbot demo: service on {} (SQLite in a temporary directory), sandbox GitHub at {}, sandbox Taskcluster at {}\n",
        world.service.addr,
        world.github.api_url(),
        world.queue.root_url()
    );
    let mut failures = 0;
    for (n, scenario) in SCENARIOS.iter().enumerate() {
        let actions_before = world.queue.action_tasks().len();
        let answer = world
            .comment(scenario.pr, scenario.login, scenario.comment)
            .await?;
        let job = world
            .service
            .store
            .job_by_delivery(&guid(n as u64 + 1))
            .await?;
        let mut out = format!(
            "━━━ {}. {}\n\n@{} comments on pull request #{}:\n{}\n",
            n + 1,
            scenario.title,
            scenario.login,
            scenario.pr,
            indent(scenario.comment, "    > ")
        );
        if let Some(plan) = job.as_ref().and_then(|j| j.plan.as_deref()) {
            let _ = writeln!(
                out,
                "\nplan (stored before dispatch):\n{}",
                indent(&plan_summary(plan), "    ")
            );
        }
        match &answer.reply {
            Some(reply) => {
                let _ = writeln!(
                    out,
                    "\nreply on the pull request:\n{}",
                    indent(&visible(&world.normalize(reply)), "    │ ")
                );
            }
            None => {
                failures += 1;
                out.push_str("\n(no reply)\n");
            }
        }
        if let Some(job) = &job {
            if !world.service.store.watches_of_job(job.id).await?.is_empty() {
                let edits = follow_to_the_end(&mut follow, job.id).await;
                out.push_str(&evolution(
                    &world,
                    "the reply as the runs resolve",
                    answer.reply.as_deref(),
                    &edits,
                ));
            }
        }
        out.push_str(&action_tasks(&world, actions_before));
        let reactions = world
            .github
            .reactions(crate::types::CommentId(world.last_comment_id()));
        let _ = writeln!(
            out,
            "\nreactions on the comment: {}\n",
            reactions.join(", ")
        );
        println!("{out}");
    }
    let (out, commented) = automatic_rerun(&mut world, &mut follow, SCENARIOS.len() + 1).await?;
    if !commented {
        failures += 1;
    }
    println!("{out}");
    let created = world.queue.accepted("PUT", "").len();
    let reruns = world.queue.accepted("POST", "/rerun").len();
    let triggers = world.queue.triggers().len();
    let count = crate::reply::markdown::plural;
    println!(
        "Taskcluster saw {} (in-tree actions), {} created and {} by rerunbot directly; GitHub saw {}.",
        count(triggers, "hook trigger"),
        count(created, "task"),
        count(reruns, "rerun"),
        count(world.github.calls().len(), "call"),
    );
    world.shutdown().await;
    anyhow::ensure!(failures == 0, "{failures} scenarios got no reply");
    println!("rerunbot demo: done");
    Ok(())
}

/// The automatic-rerun scenario (numbered `number`): the pull request's
/// last running tests end, one of them lost to a worker shutdown; the
/// Taskcluster App's check suite completes; rerunbot reruns the lost test
/// through the repository's `rerun` action and comments, then edits its
/// comment as the rerun resolves. Returns the text and whether it
/// commented.
async fn automatic_rerun(
    world: &mut World,
    follow: &mut broadcast::Receiver<FollowEvent>,
    number: usize,
) -> anyhow::Result<(String, bool)> {
    let actions_before = world.queue.action_tasks().len();
    let mut out = format!(
        "━━━ {number}. A test lost to a worker shutdown, rerun automatically (no comment needed)\n\n\
         .github/rerunbot.yml on the default branch:\n{}\n",
        indent(REPO_CONFIG, "    > ")
    );
    let (done, lost) = (pr::TEST_DT1_RUNNING, pr::TEST_WPT5_PENDING);
    anyhow::ensure!(
        world.queue.set_state(done, TaskState::Completed, None)
            && world
                .queue
                .set_state(lost, TaskState::Exception, Some("worker-shutdown")),
        "the pull request's group has its running tasks"
    );
    let _ = writeln!(
        out,
        "\nthe pull request's last tests end: {} completes; {}'s worker shuts down (exception, worker-shutdown)",
        label_of(world, done),
        label_of(world, lost)
    );
    let body = check_suite_completed(
        &world.repo.to_string(),
        INSTALLATION,
        HEAD_SHA,
        "taskcluster",
        "failure",
    );
    let (status, _) = world
        .post_event("check_suite", SUITE_DELIVERY, &body)
        .await?;
    let _ = writeln!(
        out,
        "the Taskcluster App's check suite completes (failure): GitHub sends check_suite completed, answered {status}"
    );
    if status != 202 {
        out.push_str("\n(not taken up)\n");
        return Ok((out, false));
    }
    world.wait_for(SUITE_DELIVERY).await?;
    let plan = world
        .service
        .store
        .job_by_delivery(SUITE_DELIVERY)
        .await?
        .and_then(|j| j.plan)
        .and_then(|text| serde_json::from_str::<AutoPlan>(&text).ok());
    let Some(plan) = plan else {
        out.push_str("\n(no automatic-rerun plan)\n");
        return Ok((out, false));
    };
    let summary: Vec<String> = plan
        .reruns
        .iter()
        .map(|r| {
            format!(
                "rerun {} ({}), automatic attempt {} for this commit",
                r.pick.label, r.pick.task_id, r.pick.attempt
            )
        })
        .chain(routed_lines(&plan.routed))
        .collect();
    let _ = writeln!(
        out,
        "\nplan (stored before dispatch):\n{}",
        indent(&summary.join("\n"), "    ")
    );
    let edits = follow_head(follow, plan.head_job).await;
    let Some((first, later)) = edits.split_first() else {
        out.push_str("\n(no comment)\n");
        return Ok((out, false));
    };
    let _ = writeln!(
        out,
        "\nrerunbot's comment on pull request #{PR_OPEN}:\n{}",
        indent(&visible(&world.normalize(first)), "    │ ")
    );
    if !later.is_empty() {
        out.push_str(&evolution(
            world,
            "the comment as the rerun resolves",
            Some(first),
            later,
        ));
    }
    out.push_str(&action_tasks(world, actions_before));
    Ok((out, true))
}

/// A task's label, as its tags give it.
fn label_of(world: &World, task_id: &str) -> String {
    world
        .queue
        .task(task_id)
        .and_then(|t| t["task"]["tags"]["label"].as_str().map(str::to_owned))
        .unwrap_or_else(|| task_id.to_owned())
}

/// A head's automatic-rerun comment, as posted then edited, until nothing
/// in it is pending any more (at most 20 s).
async fn follow_head(events: &mut broadcast::Receiver<FollowEvent>, head_job: i64) -> Vec<String> {
    edits_until(events, head_job, |e| {
        matches!(e, FollowEvent::ReplyEdited { job_id, body } if *job_id == head_job && !body.contains('⏳'))
    })
    .await
}

/// The action tasks the scenario's triggers made (from the `skip`th on),
/// each with what it did: the copies it created (`extra.parent`) or the
/// task it reran or canceled.
fn action_tasks(world: &World, skip: usize) -> String {
    let actions = world.queue.action_tasks();
    if actions.len() <= skip {
        return String::new();
    }
    let mut out = String::from(
        "
in-tree actions (action tasks the hooks service created):
",
    );
    for action in &actions[skip..] {
        let target = action.target.as_deref().unwrap_or("the group");
        let state = world
            .queue
            .task(&action.task_id)
            .and_then(|t| t["status"]["state"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {} `{}` on {target}, input {}: {state}",
            action.task_id, action.name, action.input
        );
        let copies: Vec<String> = world
            .queue
            .tasks_in_group(&action.task_group_id)
            .into_iter()
            .filter(|id| {
                world.queue.task(id).is_some_and(|t| {
                    t["task"]["extra"]["parent"].as_str() == Some(action.task_id.as_str())
                        && t["task"]["tags"]["kind"].as_str() != Some("action-callback")
                })
            })
            .collect();
        for copy in copies {
            let _ = writeln!(out, "      made copy {copy} (extra.parent = the action task, listed in its public/task-graph.json)");
        }
    }
    out
}

/// The sandbox worker's script for the demo: the intermittent test's
/// copies mostly go green, the broken Windows build fails again, the rest
/// completes.
fn demo_worker() -> WorkerScript {
    let ms = Duration::from_millis;
    WorkerScript::default()
        .rule(
            "test-linux64/opt-mochitest-browser-chrome-1",
            vec![
                Step::completed(ms(300)),
                Step::failed(ms(900)),
                Step::completed(ms(1500)),
            ],
        )
        .rule("build-win64/opt", vec![Step::failed(ms(600))])
        .rule("*", vec![Step::completed(ms(400))])
}

/// The reply edits of one job until its final reaction (at most 20 s).
async fn follow_to_the_end(
    events: &mut broadcast::Receiver<FollowEvent>,
    job_id: i64,
) -> Vec<String> {
    edits_until(
        events,
        job_id,
        |e| matches!(e, FollowEvent::Reacted { job_id: j, .. } if *j == job_id),
    )
    .await
}

/// The reply edits of job `job_id`, the last one included, until `done`
/// holds for an event (at most 20 s).
async fn edits_until(
    events: &mut broadcast::Receiver<FollowEvent>,
    job_id: i64,
    done: impl Fn(&FollowEvent) -> bool,
) -> Vec<String> {
    let mut edits = Vec::new();
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let FollowEvent::ReplyEdited { job_id: j, body } = &event {
                        if *j == job_id {
                            edits.push(body.clone());
                        }
                    }
                    if done(&event) {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(20), wait).await;
    edits
}

/// The rows that changed from one version of the reply to the next, under
/// `heading`.
fn evolution(world: &World, heading: &str, first: Option<&str>, edits: &[String]) -> String {
    let mut out = format!("\n{heading} (edited in place):\n");
    let mut before: Vec<String> = first
        .map(|b| {
            visible(&world.normalize(b))
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut shown = 0;
    for edit in edits {
        let now: Vec<String> = visible(&world.normalize(edit))
            .lines()
            .map(str::to_owned)
            .collect();
        // An edit GitHub would show unchanged (a coalesced edit that
        // rewrote the same text) is not one the reader sees.
        if now == before {
            continue;
        }
        shown += 1;
        let changed: Vec<&String> = now.iter().filter(|l| !before.contains(l)).collect();
        let _ = writeln!(out, "    edit {shown}:");
        for line in changed {
            let _ = writeln!(out, "    │ {line}");
        }
        before = now;
    }
    out
}

fn plan_summary(stored: &str) -> String {
    let Ok(prepared) = serde_json::from_str::<Prepared>(stored) else {
        return "(unreadable)".to_owned();
    };
    match prepared.reply {
        PreparedReply::Text { .. } | PreparedReply::Refused { .. } => {
            "nothing to run (the reply explains why)".to_owned()
        }
        PreparedReply::Sections { sections } => sections
            .iter()
            .map(|s| match s {
                PreparedSection::Planned { command_text, plan } => {
                    crate::dry_run::plan_text(command_text, plan, prepared.force_role)
                }
                PreparedSection::Malformed { command_text, .. } => {
                    format!("{command_text}\n  malformed: answered with the fix")
                }
                PreparedSection::Help => "help".to_owned(),
            })
            .chain(routed_lines(&prepared.routed))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// One line per hook trigger of the routed rows.
fn routed_lines(routed: &[Routed]) -> impl Iterator<Item = String> + '_ {
    routed.iter().flat_map(|entry| {
        entry.triggers.iter().map(|t| {
            format!(
                "through in-tree action `{}` on {} (hook {}/{}, input {})",
                t.action,
                t.target.as_ref().map_or("the group", |id| id.as_str()),
                t.hook_group_id,
                t.hook_id,
                t.input
            )
        })
    })
}

/// The reply as GitHub renders it: without the invisible delivery marker.
fn visible(reply: &str) -> String {
    reply
        .lines()
        .filter(|l| !l.starts_with("<!-- rerunbot"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn indent(text: &str, prefix: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
