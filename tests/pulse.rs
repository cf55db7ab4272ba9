//! Follow-through over Pulse (DESIGN.md §8, §13) against the machine's real
//! RabbitMQ: the sandbox queue publishes Pulse-shaped messages as its
//! worker resolves runs, rerunbot's consumer binds per watched task group,
//! stores the resolution and the reply is edited; a redelivered message
//! changes nothing; a group nothing watches is unbound.
//!
//! Needs `RERUNBOT_TEST_AMQP_URL`; skipped (with a printed reason) without
//! it, a failure instead when `RERUNBOT_REQUIRE_AMQP=1` (CI). Each test has
//! its own exchange prefix and queue, so parallel runs do not collide.

mod common;

use common::follow_events::edited;
use common::pulse::{amqp_url, own_pulse, pulse_only_follow};
use common::world::claim_due_replies;
use common::world::job_of;
use common::{first_checks_done, next};

use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::BasicProperties;
use lapin::Confirmation;
use rerunbot::follow::pulse::{PulseConfig, QUEUE_EXCHANGE_PREFIX};
use rerunbot::follow::FollowEvent;
use rerunbot::sandbox::taskcluster::pulse::{message, routing_key};
use rerunbot::sandbox::taskcluster::worker::{Step, WorkerScript};
use rerunbot::sandbox::world::{guid, World, WorldOptions, PR_OPEN};
use std::collections::BTreeSet;
use std::time::Duration;

const TASK: &str = "test-linux64/opt-mochitest-browser-chrome-1";

/// A world following through Pulse; polling so slow that only Pulse can
/// resolve anything within the test.
async fn pulse_world(url: &str) -> World {
    pulse_world_with(url, None).await
}

/// [`pulse_world`] with a repository configuration.
async fn pulse_world_with(url: &str, repo_config: Option<&str>) -> World {
    let pulse = own_pulse(url, "rerunbot-test");
    assert_ne!(pulse.exchange_prefix, QUEUE_EXCHANGE_PREFIX);
    World::start(WorldOptions {
        follow: Some(pulse_only_follow()),
        pulse: Some(pulse),
        // Follows runs started directly (the queue path), whatever else
        // the configuration says.
        repo_config: Some(format!(
            "dispatch: queue\n{}",
            repo_config.unwrap_or_default()
        )),
        ..WorldOptions::default()
    })
    .await
    .expect("world")
}

/// Deletes the test's queue and exchanges.
async fn clean_up(mut w: World) {
    let pulse = w.pulse.take().expect("publisher");
    let queue = config(&w).queue.clone();
    w.shutdown().await;
    let _ = pulse
        .channel()
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = pulse.delete_exchanges().await;
}

fn config(w: &World) -> &PulseConfig {
    w.pulse_config().expect("pulse")
}

/// Waits (at most 30 s) until the bound groups satisfy `ok`.
async fn bindings_until(w: &World, ok: impl Fn(&BTreeSet<String>) -> bool) {
    let mut bound = w.service.pulse_bindings().expect("pulse");
    tokio::time::timeout(Duration::from_secs(30), bound.wait_for(|b| ok(b)))
        .await
        .expect("bindings in time")
        .expect("consumer running");
}

/// Waits (at most 30 s) until the metrics contain `line`.
async fn metric_until(w: &World, line: &str) {
    let wait = async {
        loop {
            if w.service.metrics.render([0; 4]).contains(line) {
                return;
            }
            // The metric is the state being waited on; re-read it shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("{line} in time"));
}

/// `/retrigger 1`: the one copy, its group, its reply's job.
async fn retrigger_one(w: &mut World) -> (String, String, i64) {
    w.comment(PR_OPEN, "bob", &format!("/retrigger 1 {TASK}"))
        .await
        .expect("answer");
    let job = job_of(w, &guid(1)).await;
    let watches = w.service.store.watches_of_job(job.id).await.expect("read");
    assert_eq!(watches.len(), 1, "{watches:?}");
    let copy = &watches[0];
    assert!(!copy.task_group_id.is_empty());
    (copy.task_id.clone(), copy.task_group_id.clone(), job.id)
}

/// The sandbox worker resolves exactly `task_id` (it was created before
/// the worker started, hence `include_existing`).
fn resolve_only(task_id: &str, step: Step) -> WorkerScript {
    WorkerScript {
        default: None,
        include_existing: true,
        ..WorkerScript::default()
    }
    .rule(task_id, vec![step])
}

/// The copy resolves through a Pulse message (polling waits an hour), the
/// reply is edited; the same message delivered again changes nothing.
#[tokio::test]
async fn watched_copy_resolves_through_pulse_and_a_redelivery_changes_nothing() {
    let Some(url) = amqp_url() else { return };
    let mut w = pulse_world(&url).await;
    let mut events = w.follow_events().expect("following");
    let (copy, group, job_id) = retrigger_one(&mut w).await;
    bindings_until(&w, |b| b.contains(&group)).await;
    first_checks_done(&w.service.store).await;

    let _worker = w
        .queue
        .start_worker(resolve_only(&copy, Step::failed(Duration::ZERO)));
    let resolved = next(&mut events, |e| match e {
        FollowEvent::Resolved {
            task_id,
            source,
            state,
            ..
        } if *task_id == copy => Some((*source, state.clone())),
        _ => None,
    })
    .await;
    assert_eq!(resolved, ("pulse", "failed".to_owned()));
    let body = next(&mut events, edited).await;
    assert_eq!(w.reply_for(PR_OPEN).as_deref(), Some(body.as_str()));
    insta::assert_snapshot!(w.normalize(&body));
    metric_until(
        &w,
        "rerunbot_follow_events_total{source=\"pulse\",effect=\"new\"} 1",
    )
    .await;
    let watches = w.service.store.watches_of_job(job_id).await.expect("read");

    // The broker delivers the same message again (straight into the queue).
    let status = w.queue.task(&copy).expect("copy")["status"].clone();
    let queue_name = config(&w).queue.clone();
    let pulse = w.pulse.as_ref().expect("publisher");
    let confirm = pulse
        .channel()
        .basic_publish(
            "".into(),
            queue_name.as_str().into(),
            BasicPublishOptions::default(),
            message(&status, 0).to_string().as_bytes(),
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert_eq!(confirm, Confirmation::Ack(None));
    metric_until(
        &w,
        "rerunbot_follow_events_total{source=\"pulse\",effect=\"duplicate\"} 1",
    )
    .await;
    // Nothing changed: the watch as it was, no reply due, no edit.
    assert_eq!(
        w.service.store.watches_of_job(job_id).await.expect("read"),
        watches
    );
    let due = claim_due_replies(&w).await;
    assert!(due.is_empty(), "{due:?}");
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, FollowEvent::ReplyEdited { .. }),
            "edited again: {e:?}"
        );
    }
    assert_eq!(w.reply_for(PR_OPEN).as_deref(), Some(body.as_str()));

    clean_up(w).await;
}

/// A group is bound while a watch in it is open and unbound once none is:
/// the broker then has no queue for the group's messages (a mandatory
/// publish comes back).
#[tokio::test]
async fn a_group_is_unbound_once_nothing_in_it_is_watched() {
    let Some(url) = amqp_url() else { return };
    let mut w = pulse_world(&url).await;
    let mut events = w.follow_events().expect("following");
    let (copy, group, _) = retrigger_one(&mut w).await;
    bindings_until(&w, |b| b.contains(&group)).await;
    assert!(routed(&w, &group).await, "bound group routes");

    let _worker = w
        .queue
        .start_worker(resolve_only(&copy, Step::completed(Duration::ZERO)));
    next(&mut events, |e| match e {
        FollowEvent::Resolved { task_id, .. } if *task_id == copy => Some(()),
        _ => None,
    })
    .await;
    bindings_until(&w, |b| b.is_empty()).await;
    assert!(!routed(&w, &group).await, "unbound group routes nowhere");

    clean_up(w).await;
}

/// Whether a message about `group` on the completed exchange reaches a
/// queue (published mandatory: an unroutable one is returned). The body is
/// no resolved run, so a consumer drops it.
async fn routed(w: &World, group: &str) -> bool {
    let pulse = w.pulse.as_ref().expect("publisher");
    let prefix = &config(w).exchange_prefix;
    let confirm = pulse
        .channel()
        .basic_publish(
            format!("{prefix}task-completed").as_str().into(),
            routing_key("probe", 0, group).as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            b"{\"probe\": true}",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    match confirm {
        Confirmation::Ack(returned) => returned.is_none(),
        other => panic!("unexpected {other:?}"),
    }
}

/// The broker drops the consumer (its queue is deleted): the consumer
/// reconnects after its backoff, declares the queue again, binds the
/// watched group again, and the copy still resolves through Pulse.
#[tokio::test]
async fn a_lost_queue_is_declared_and_bound_again() {
    let Some(url) = amqp_url() else { return };
    let mut w = pulse_world(&url).await;
    let mut events = w.follow_events().expect("following");
    let (copy, group, _) = retrigger_one(&mut w).await;
    bindings_until(&w, |b| b.contains(&group)).await;

    let queue = config(&w).queue.clone();
    let pulse = w.pulse.as_ref().expect("publisher");
    pulse
        .channel()
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete queue");
    bindings_until(&w, |b| b.is_empty()).await;
    bindings_until(&w, |b| b.contains(&group)).await;
    first_checks_done(&w.service.store).await;

    let _worker = w
        .queue
        .start_worker(resolve_only(&copy, Step::completed(Duration::ZERO)));
    let source = next(&mut events, |e| match e {
        FollowEvent::Resolved {
            task_id, source, ..
        } if *task_id == copy => Some(*source),
        _ => None,
    })
    .await;
    assert_eq!(source, "pulse");
    clean_up(w).await;
}

/// Automatic reruns over Pulse: a completed check suite reruns the group's
/// matching failures and binds the group on `task-group-resolved`; when the
/// reruns resolve (a claim expired again, a test failed again) the queue
/// announces the group resolved and the second attempts go out; the last
/// resolution finds the attempts spent. The same announcement redelivered,
/// and GitHub announcing it too, rerun nothing more.
#[tokio::test]
async fn group_resolutions_on_pulse_rerun_within_the_attempts_and_never_twice() {
    use rerunbot::sandbox::github::payloads::check_suite_completed;
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    use rerunbot::sandbox::world::{HEAD_SHA, INSTALLATION};
    let Some(url) = amqp_url() else { return };
    let config = "auto_rerun:\n  enabled: true\n  max_attempts: 2\n  opt_in_tag: retrigger\n  max_failure_percent: 50\n";
    let mut w = pulse_world_with(&url, Some(config)).await;
    let mut events = w.follow_events().expect("following");
    for task in [pr::TEST_DT1_RUNNING, pr::TEST_WPT5_PENDING] {
        assert!(w
            .queue
            .set_state(task, rerunbot::policy::task::TaskState::Completed, None));
    }
    let reruns = |w: &World, task: &str| w.queue.accepted("POST", &format!("{task}/rerun")).len();
    let suite = check_suite_completed(
        "mozilla/gecko-dev",
        INSTALLATION,
        HEAD_SHA,
        "taskcluster",
        "failure",
    );
    let (status, _) = w
        .post_event("check_suite", "suite-1", &suite)
        .await
        .expect("post");
    assert_eq!(status, 202);
    w.wait_for("suite-1").await.expect("job");
    let mut bound = w.service.pulse_group_bindings().expect("pulse");
    tokio::time::timeout(
        Duration::from_secs(30),
        bound.wait_for(|b| b.contains(pr::GROUP)),
    )
    .await
    .expect("bound in time")
    .expect("consumer running");
    // The reruns run once the group is bound (a message before that has
    // no queue to go to; GitHub's next suite would then be the event).
    let _worker = w.queue.start_worker(
        WorkerScript {
            default: None,
            include_existing: true,
            ..WorkerScript::default()
        }
        .rule(
            pr::TEST_XPCSHELL3_EXCEPTION,
            vec![
                Step::exception(Duration::from_millis(50), "claim-expired"),
                Step::completed(Duration::from_millis(50)),
            ],
        )
        .rule(
            pr::TEST_BC1_FAILED,
            vec![Step::failed(Duration::from_millis(80))],
        ),
    );

    // Two rounds through Pulse: the comment ends with both second attempts
    // resolved (the test green, the failed test failed again).
    let last = loop {
        let body = next(&mut events, edited).await;
        if body.contains("| 2 | ✅") && body.contains("| 2 | ❌") && !body.contains('⏳') {
            break body;
        }
    };
    assert_eq!(
        (
            reruns(&w, pr::TEST_XPCSHELL3_EXCEPTION),
            reruns(&w, pr::TEST_BC1_FAILED)
        ),
        (2, 2)
    );
    metric_until(&w, "rerunbot_auto_rerun_events_total{source=\"pulse\"}").await;

    // The group announced again by Pulse (a redelivery) and by GitHub.
    let pulse_jobs = |m: &str| {
        m.lines()
            .find(|l| {
                l.starts_with(
                    "rerunbot_handler_jobs_total{handler=\"task_group_resolved\",outcome=\"done\"}",
                )
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let done_before = pulse_jobs(&w.service.metrics.render([0; 4]));
    let pulse = w.pulse.as_ref().expect("publisher");
    pulse
        .publish_group_resolved(pr::GROUP)
        .await
        .expect("publish");
    let (status, _) = w
        .post_event("check_suite", "suite-2", &suite)
        .await
        .expect("post");
    assert_eq!(status, 202);
    w.wait_for("suite-2").await.expect("job");
    let wait = async {
        loop {
            let active = w.service.store.active_job_counts().await.expect("counts");
            if pulse_jobs(&w.service.metrics.render([0; 4])) > done_before
                && active[0] + active[1] == 0
            {
                return;
            }
            // The metric and the queue are the state being waited on.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the redelivery's job in time");
    assert_eq!(
        (
            reruns(&w, pr::TEST_XPCSHELL3_EXCEPTION),
            reruns(&w, pr::TEST_BC1_FAILED)
        ),
        (2, 2)
    );
    let comments: Vec<String> = w
        .replies(PR_OPEN)
        .into_iter()
        .filter(|b| b.starts_with("Automatic reruns"))
        .collect();
    assert_eq!(comments, vec![last.clone()]);
    insta::assert_snapshot!(w.normalize(&last));
    clean_up(w).await;
}
