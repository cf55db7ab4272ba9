//! Waits (DESIGN.md §6, §13) end to end, through the real router against
//! the sandboxes: the notarization sequence (part 1 forced, the poller
//! waiting for part 1's new run) fires once part 1 completes and is dropped
//! when it fails, in one comment; a restart, a redelivered event and a lost
//! answer mid-fire never rerun twice; the wait fires through Pulse as
//! through polling; the wait store's leases on SQLite and Postgres; a
//! forced cancel-then-rerun fired through in-tree actions whose cancel
//! has not taken effect holds up no other reply, reruns once when it does,
//! and is dropped when it never does: at once when its action task
//! finished without canceling the task.

mod common;

use common::follow_events::{edited, reacted};
use common::poll::eventually;
use common::pulse::{amqp_url, own_pulse, pulse_only_follow};
use common::world::queue_mode;
use common::{first_checks_done, next};

use lapin::options::QueueDeleteOptions;
use rerunbot::follow::{FollowConfig, FollowEvent};
use rerunbot::policy::task::TaskState;
use rerunbot::sandbox::taskcluster::fixtures::release::{
    self, NOTARIZATION_PART_1_COMPLETED as PART_1, NOTARIZATION_POLLER_FAILED as POLLER,
};
use rerunbot::sandbox::taskcluster::worker::{Step, WorkerScript};
use rerunbot::sandbox::world::{World, WorldOptions, PR_MERGED};
use rerunbot::store::{NewWait, NewWatch, Store, StoreError, WaitEnd};
use rerunbot::taskcluster::RetryPolicy;
use std::time::Duration;

const NOTARIZATION: &str = "/rerun --force notarization-part-1-macosx64-shippable/opt\n/rerun notarization-poller-macosx64-shippable/opt";

fn options() -> WorldOptions {
    WorldOptions {
        follow: Some(common::fast_follow()),
        // Waits and their fires here are the queue path (direct calls).
        repo_config: Some("dispatch: queue\n".to_owned()),
        ..WorldOptions::default()
    }
}

fn decided(e: &FollowEvent) -> Option<(String, bool)> {
    match e {
        FollowEvent::WaitDecided { task_id, fired, .. } => Some((task_id.clone(), *fired)),
        _ => None,
    }
}

/// mia's forced cancel-then-rerun of the unscheduled Windows test on the
/// open pull request: its reply, normalized.
async fn force_windows_rerun(w: &mut World) -> String {
    let answer = w
        .comment(
            rerunbot::sandbox::world::PR_OPEN,
            "mia",
            "/rerun --force test-windows11-64/opt-mochitest-plain-1",
        )
        .await
        .expect("answer");
    w.normalize(answer.reply.as_deref().expect("reply"))
}

fn reruns_of(w: &World, task: &str) -> usize {
    w.queue
        .accepted("POST", "/rerun")
        .iter()
        .filter(|p| p.contains(task))
        .count()
}

/// The reply as first posted and after each edit, normalized.
async fn notarization(w: &mut World) -> String {
    let answer = w
        .comment(PR_MERGED, "mia", NOTARIZATION)
        .await
        .expect("answer");
    let reply = w.normalize(answer.reply.as_deref().expect("reply"));
    assert!(
        reply.contains("⏸️ waits for `notarization-part-1-macosx64-shippable/opt` (run 1)"),
        "{reply}"
    );
    // Part 1 started, the poller did not.
    assert_eq!(reruns_of(w, PART_1), 1);
    assert_eq!(reruns_of(w, POLLER), 0);
    reply
}

#[tokio::test]
async fn the_poller_waits_for_part_1_then_starts_in_one_comment() {
    let mut w = World::start(options()).await.expect("world");
    let mut events = w.follow_events().expect("following");
    let mut bodies = vec![notarization(&mut w).await];
    assert!(w.queue.set_state(PART_1, TaskState::Completed, None));
    assert_eq!(next(&mut events, decided).await, (POLLER.to_owned(), true));
    assert_eq!(reruns_of(&w, POLLER), 1);
    let started = next(&mut events, |e| {
        edited(e).filter(|b| b.contains("⏳ rerun started (run 1)"))
    })
    .await;
    bodies.push(w.normalize(&started));
    assert!(w.queue.set_state(POLLER, TaskState::Completed, None));
    let done = next(&mut events, |e| {
        edited(e).filter(|b| !b.contains("⏳") && !b.contains("⏸️"))
    })
    .await;
    bodies.push(w.normalize(&done));
    assert_eq!(next(&mut events, reacted).await, "hooray");
    // One comment, edited in place; each rerun sent once.
    assert_eq!(w.replies(PR_MERGED).len(), 1);
    assert_eq!((reruns_of(&w, PART_1), reruns_of(&w, POLLER)), (1, 1));
    let metrics = w.service.metrics.render([0; 4]);
    for line in [
        "rerunbot_waits_fired_total 1",
        "rerunbot_waits_dropped_total 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    insta::assert_snapshot!(bodies.join("\n\n════════ edited ════════\n\n"));
    w.shutdown().await;
}

#[tokio::test]
async fn part_1_fails_and_the_poller_is_dropped_saying_why() {
    let mut w = World::start(options()).await.expect("world");
    let mut events = w.follow_events().expect("following");
    notarization(&mut w).await;
    // `max_reruns_per_task` counts what the ledger holds: the poller's
    // rerun counts from when it starts waiting; dropped, it never ran, so
    // it stops counting (the ledger keeps it, marked).
    let ledger = |w: &World| {
        let (store, repo) = (w.service.store.clone(), w.repo.to_string());
        async move {
            let sha = rerunbot::sandbox::world::MERGE_SHA;
            store
                .recorded(&repo, sha)
                .await
                .expect("ledger")
                .reruns_by_task
        }
    };
    let before = ledger(&w).await;
    assert_eq!(before.get(POLLER), Some(&1), "{before:?}");
    assert!(w.queue.set_state(PART_1, TaskState::Failed, None));
    assert_eq!(next(&mut events, decided).await, (POLLER.to_owned(), false));
    let after = ledger(&w).await;
    assert_eq!((after.get(PART_1), after.get(POLLER)), (Some(&1), None));
    assert_eq!(next(&mut events, reacted).await, "-1");
    let reply = w.normalize(&w.reply_for(PR_MERGED).expect("reply"));
    insta::assert_snapshot!(reply);
    assert!(
        reply.contains(
            "dropped: run 1 of `notarization-part-1-macosx64-shippable/opt` ended failed"
        ),
        "{reply}"
    );
    assert_eq!(reruns_of(&w, POLLER), 0);
    assert!(one_wait_dropped(&w));
    w.shutdown().await;
}

/// Waits live in the database: a new process on the same store fires it,
/// once; a redelivered resolution changes nothing.
async fn survives_a_restart(mut w: World) {
    notarization(&mut w).await;
    w.restart().await.expect("restart");
    let mut events = w.follow_events().expect("following");
    assert!(w.queue.set_state(PART_1, TaskState::Completed, None));
    assert_eq!(next(&mut events, decided).await, (POLLER.to_owned(), true));
    // The same resolution again (a redelivered Pulse message): nothing.
    let again = w
        .service
        .store
        .resolve_run(PART_1, 1, "completed", None)
        .await
        .expect("redelivered");
    assert!(again.is_empty());
    assert!(w.queue.set_state(POLLER, TaskState::Completed, None));
    assert_eq!(next(&mut events, reacted).await, "hooray");
    assert_eq!((reruns_of(&w, PART_1), reruns_of(&w, POLLER)), (1, 1));
    w.shutdown().await;
}

#[tokio::test]
async fn a_wait_survives_a_restart_and_fires_once() {
    survives_a_restart(World::start(options()).await.expect("world")).await;
}

#[tokio::test]
async fn a_wait_survives_a_restart_and_fires_once_on_postgres() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let world = World::start(WorldOptions {
        database_url: Some(url),
        ..options()
    })
    .await
    .expect("world");
    survives_a_restart(world).await;
}

/// The fired rerun went through but its answer was lost (as when the
/// process is killed right after sending): the wait stays `firing`, and the
/// next attempt reads the task's runs before sending — one rerun in all.
#[tokio::test]
async fn a_fire_whose_answer_was_lost_is_not_sent_twice() {
    let mut w = World::start(WorldOptions {
        queue_retry: RetryPolicy {
            retries: 0,
            base: Duration::from_millis(10),
            max: Duration::from_millis(10),
        },
        ..options()
    })
    .await
    .expect("world");
    let mut events = w.follow_events().expect("following");
    notarization(&mut w).await;
    w.queue.lose_answer_next("POST", 502);
    assert!(w.queue.set_state(PART_1, TaskState::Completed, None));
    assert_eq!(next(&mut events, decided).await, (POLLER.to_owned(), true));
    let body = next(&mut events, |e| {
        edited(e).filter(|b| b.contains("⏳ rerun started (run 1)"))
    })
    .await;
    assert!(body.contains("notarization-poller"), "{body}");
    assert_eq!(reruns_of(&w, POLLER), 1);
    w.shutdown().await;
}

fn new_wait(row: usize) -> NewWait {
    NewWait {
        plan_index: 1,
        row_index: row,
        task_id: "POLLER".to_owned(),
        spec: "{}".to_owned(),
    }
}

/// Leases and idempotence of the wait store, on one backend.
async fn wait_store_rules(store: &Store) {
    let lease = Duration::from_secs(60);
    store.add_waits(7, &[new_wait(0)]).await.expect("add");
    // A retried job adds nothing twice.
    store.add_waits(7, &[new_wait(0)]).await.expect("add again");
    let claimed = store.claim_due_waits(lease, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].state, "waiting");
    // Leased: nobody else gets it.
    assert!(store
        .claim_due_waits(lease, 10)
        .await
        .expect("claim")
        .is_empty());
    // Postponed, then made due again by a resolution of its job.
    store
        .postpone_wait(&claimed[0], Duration::from_secs(600))
        .await
        .expect("postpone");
    assert!(store
        .claim_due_waits(lease, 10)
        .await
        .expect("claim")
        .is_empty());
    store.nudge_waits(&[7]).await.expect("nudge");
    let claimed = store.claim_due_waits(lease, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    store.wait_firing(&claimed[0]).await.expect("firing");
    let end = WaitEnd {
        state: "fired",
        outcome: r#"{"status":"rerun","run_id":1}"#,
        unit: Some((
            "wait:1:0",
            r#"{"result":"run","run_id":1,"canceled":false}"#,
        )),
        watches: vec![NewWatch {
            task_id: "POLLER".to_owned(),
            run_id: 1,
            task_group_id: String::new(),
            ..NewWatch::default()
        }],
    };
    store.end_wait(&claimed[0], &end).await.expect("end");
    // Ended once: the same claim cannot end it again.
    assert!(matches!(
        store.end_wait(&claimed[0], &end).await,
        Err(StoreError::LeaseLost)
    ));
    let waits = store.waits_of_job(7).await.expect("waits");
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[0].state, "fired");
    assert!(store
        .claim_due_waits(lease, 10)
        .await
        .expect("claim")
        .is_empty());
    let units = store.unit_results(7).await.expect("units");
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].0, "wait:1:0");
    let watches = store.watches_of_job(7).await.expect("watches");
    assert_eq!(watches.len(), 1);
    assert_eq!(
        (watches[0].task_id.as_str(), watches[0].run_id),
        ("POLLER", 1)
    );
}

#[tokio::test]
async fn wait_store_on_sqlite() {
    let db = common::sqlite().await;
    wait_store_rules(&db.store).await;
}

#[tokio::test]
async fn wait_store_on_postgres() {
    let Some(store) = common::postgres_store().await else {
        return;
    };
    wait_store_rules(&store).await;
}

/// The wait fires through Pulse too: polling waits an hour, so part 1's
/// resolution can only arrive as a Pulse message (the same event path).
#[tokio::test]
async fn the_wait_fires_through_pulse() {
    let Some(url) = amqp_url() else {
        return;
    };
    let mut w = World::start(WorldOptions {
        follow: Some(pulse_only_follow()),
        pulse: Some(own_pulse(&url, "rerunbot-waits")),
        ..queue_mode()
    })
    .await
    .expect("world");
    let mut events = w.follow_events().expect("following");
    notarization(&mut w).await;
    let mut bound = w.service.pulse_bindings().expect("pulse");
    tokio::time::timeout(
        Duration::from_secs(30),
        bound.wait_for(|b| b.contains(release::GROUP)),
    )
    .await
    .expect("bound in time")
    .expect("consumer running");
    let script = WorkerScript {
        default: None,
        include_existing: true,
        ..WorkerScript::default()
    }
    .rule(PART_1, vec![Step::completed(Duration::ZERO)])
    .rule(POLLER, vec![Step::completed(Duration::ZERO)]);
    first_checks_done(&w.service.store).await;
    let _worker = w.queue.start_worker(script);
    let source = next(&mut events, |e| match e {
        FollowEvent::Resolved {
            task_id, source, ..
        } if task_id == PART_1 => Some(*source),
        _ => None,
    })
    .await;
    assert_eq!(source, "pulse");
    assert_eq!(next(&mut events, decided).await, (POLLER.to_owned(), true));
    assert_eq!(next(&mut events, reacted).await, "hooray");
    assert_eq!((reruns_of(&w, PART_1), reruns_of(&w, POLLER)), (1, 1));
    let queue = w.pulse_config().expect("pulse").queue.clone();
    let publisher = w.pulse.take().expect("publisher");
    w.shutdown().await;
    let _ = publisher
        .channel()
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = publisher.delete_exchanges().await;
}

/// A forced cancel-then-rerun of a task behind a failed build while its
/// other dependency still runs waits for that run, then is judged again
/// and carried out: cancel, then rerun — in the same reply.
#[tokio::test]
async fn a_forced_cancel_waits_for_the_other_dependency_then_runs() {
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    use rerunbot::sandbox::world::PR_OPEN;
    let mut w = World::start(options()).await.expect("world");
    let mut events = w.follow_events().expect("following");
    assert!(w.queue.set_state(pr::DECISION, TaskState::Running, None));
    let reply = force_windows_rerun(&mut w).await;
    assert!(reply.contains("⏸️ waits for"), "{reply}");
    assert!(
        reply.contains("cancel-then-rerun is judged again"),
        "{reply}"
    );
    assert!(w.queue.accepted_writes().is_empty());
    assert!(w.queue.set_state(pr::DECISION, TaskState::Completed, None));
    assert_eq!(
        next(&mut events, decided).await,
        (pr::TEST_WIN_UNSCHEDULED.to_owned(), true)
    );
    let id = pr::TEST_WIN_UNSCHEDULED;
    assert_eq!(
        w.queue.accepted_writes(),
        vec![
            format!("POST /api/queue/v1/task/{id}/cancel"),
            format!("POST /api/queue/v1/task/{id}/rerun")
        ]
    );
    let body = next(&mut events, |e| {
        edited(e).filter(|b| b.contains("canceled, rerun started"))
    })
    .await;
    assert!(!body.contains("⏸️"), "{body}");
    assert_eq!(w.replies(PR_OPEN).len(), 1);
    w.shutdown().await;
}

/// With the repository's in-tree actions (the default `dispatch: auto`
/// and an `actions.json`), the waiting poller fires through its `rerun`
/// action, once: the hook is triggered when part 1 completed, the action
/// task reruns the poller, and the reply follows that run to the end.
#[tokio::test]
async fn a_wait_fires_through_the_repositorys_rerun_action() {
    let mut w = World::start(in_tree_actions(common::fast_follow()))
        .await
        .expect("world");
    let mut events = w.follow_events().expect("following");
    // Part 1 is completed: a forced rerun is not something taskgraph's
    // `rerun` does, so it goes to the queue; the poller waits.
    notarization(&mut w).await;
    assert!(
        w.queue.triggers().is_empty(),
        "nothing triggered before the wait fires"
    );
    assert!(w.queue.set_state(PART_1, TaskState::Completed, None));
    assert_eq!(next(&mut events, decided).await, (POLLER.to_owned(), true));
    let triggers = w.queue.triggers();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].payload["user"]["taskId"], POLLER);
    // The action task reran the poller: run 1 is followed.
    let started = next(&mut events, |e| {
        edited(e).filter(|b| b.contains("→ ⏳ rerun started (run 1)"))
    })
    .await;
    assert!(started.contains("in-tree action `rerun` ✅ ["), "{started}");
    assert!(w.queue.set_state(POLLER, TaskState::Completed, None));
    assert_eq!(next(&mut events, reacted).await, "hooray");
    let reply = w.normalize(&w.reply_for(PR_MERGED).expect("reply"));
    assert!(reply.contains("→ ✅ run 1 completed"), "{reply}");
    // Sent once each: part 1 by the queue, the poller by its action only.
    assert_eq!((reruns_of(&w, PART_1), reruns_of(&w, POLLER)), (1, 0));
    assert_eq!(w.queue.triggers().len(), 1);
    w.shutdown().await;
}

/// How each run of `target` resolved, in order (`reasonResolved`).
fn run_reasons(w: &World, target: &str) -> Vec<String> {
    let status = w.queue.task(target).expect("target")["status"].clone();
    let runs = status["runs"].as_array().expect("runs").clone();
    runs.iter()
        .map(|r| r["reasonResolved"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Whether the metrics count exactly one dropped wait.
fn one_wait_dropped(w: &World) -> bool {
    w.service
        .metrics
        .render([0; 4])
        .contains("rerunbot_waits_dropped_total 1")
}

/// The callbacks of the action tasks made for `target`, in order.
fn actions_on(w: &World, target: &str) -> Vec<String> {
    w.queue
        .action_tasks()
        .into_iter()
        .filter(|a| a.target.as_deref() == Some(target))
        .map(|a| a.callback)
        .collect()
}

/// With the repository's in-tree actions and a worker that runs action
/// tasks only, the forced cancel-then-rerun of the unscheduled Windows
/// test (behind the failed Windows build) waits for its other dependency,
/// a Linux build still running (the decision task, completed, publishes
/// the actions); the build completes: the wait fires, and its cancel
/// action task is triggered — the sandbox holds `cancel` callbacks back,
/// so it has not taken effect. The first job. Returns the cancel action
/// task's id.
async fn forced_cancel_fired_but_not_in_effect(w: &mut World) -> String {
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    let target = pr::TEST_WIN_UNSCHEDULED;
    let fixture = w.queue.task(target).expect("fixture");
    let mut task = fixture["task"].clone();
    task["dependencies"]
        .as_array_mut()
        .expect("dependencies")
        .push(pr::BUILD_LINUX64_OPT.into());
    w.queue.add_task(target, task, fixture["status"].clone());
    assert!(w
        .queue
        .set_state(pr::BUILD_LINUX64_OPT, TaskState::Running, None));
    w.queue.hold_callback("cancel");
    let reply = force_windows_rerun(w).await;
    assert!(reply.contains("⏸️ waits for"), "{reply}");
    assert!(w.queue.triggers().is_empty(), "{reply}");
    assert!(w
        .queue
        .set_state(pr::BUILD_LINUX64_OPT, TaskState::Completed, None));
    eventually("the cancel action task", || {
        actions_on(w, target) == ["cancel"]
    })
    .await;
    let waits = w.service.store.waits_of_job(1).await.expect("waits");
    assert_eq!(waits.len(), 1);
    assert_eq!(
        (waits[0].task_id.as_str(), waits[0].state.as_str()),
        (target, "firing")
    );
    w.queue
        .action_tasks()
        .into_iter()
        .find(|a| a.target.as_deref() == Some(target))
        .expect("the cancel action task")
        .task_id
}

/// [`forced_cancel_fired_but_not_in_effect`] in a world that drops such a
/// wait after `cancel_effect_wait`, following its events: the world, the
/// events and the cancel action task's id.
async fn cancel_held(
    cancel_effect_wait: Duration,
) -> (World, tokio::sync::broadcast::Receiver<FollowEvent>, String) {
    let mut w = World::start(in_tree_actions(FollowConfig {
        cancel_effect_wait,
        ..common::fast_follow()
    }))
    .await
    .expect("world");
    let events = w.follow_events().expect("following");
    let cancel = forced_cancel_fired_but_not_in_effect(&mut w).await;
    (w, events, cancel)
}

fn in_tree_actions(follow: FollowConfig) -> WorldOptions {
    // The worker runs action tasks only; the test resolves the rest.
    WorldOptions {
        follow: Some(follow),
        ..common::world::in_tree_actions()
    }
}

/// A fired wait whose cancel has not taken effect does not stall the
/// follow loop: another comment's rerun, on another pull request, is
/// followed to its end meanwhile (the loop once waited up to 30 s inline
/// per such wait, per step). Once the cancel takes effect, the rerun is
/// triggered, once, and the wait ends fired.
#[tokio::test]
async fn a_waited_cancel_not_in_effect_holds_up_no_other_reply() {
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    let mut w = World::start(in_tree_actions(common::fast_follow()))
        .await
        .expect("world");
    let mut events = w.follow_events().expect("following");
    forced_cancel_fired_but_not_in_effect(&mut w).await;
    let target = pr::TEST_WIN_UNSCHEDULED;

    // Another reply, followed while the cancel is held back: the poller's
    // rerun (through its `rerun` action) starts, then completes.
    let answer = w
        .comment(
            PR_MERGED,
            "mia",
            "/rerun notarization-poller-macosx64-shippable/opt",
        )
        .await
        .expect("answer");
    assert!(answer.reply.is_some());
    // Well within the 30 s one look at the cancel used to take.
    let quickly = Duration::from_secs(10);
    let started = tokio::time::timeout(
        quickly,
        next(&mut events, |e| {
            edited(e).filter(|b| b.contains("→ ⏳ rerun started (run 1)") && b.contains("poller"))
        }),
    )
    .await
    .expect("the other reply edited while the cancel is not in effect");
    assert!(started.contains("in-tree action `rerun` ✅ ["), "{started}");
    assert!(w.queue.set_state(POLLER, TaskState::Completed, None));
    let reaction = tokio::time::timeout(quickly, next(&mut events, reacted))
        .await
        .expect("the other reply finished while the cancel is not in effect");
    assert_eq!(reaction, "hooray");
    // Meanwhile the wait looked again and again, and sent nothing more.
    assert_eq!(actions_on(&w, target), ["cancel"]);
    let waits = w.service.store.waits_of_job(1).await.expect("waits");
    assert_eq!(waits[0].state, "firing");

    // The cancel takes effect: the rerun follows, once.
    w.queue.release_callback("cancel");
    assert_eq!(next(&mut events, decided).await, (target.to_owned(), true));
    assert_eq!(actions_on(&w, target), ["cancel", "rerun"]);
    let body = next(&mut events, |e| {
        edited(e).filter(|b| b.contains("→ ⏳ rerun started (run 1)") && b.contains("windows11"))
    })
    .await;
    assert!(!body.contains("⏸️"), "{body}");
    let reasons = run_reasons(&w, target);
    assert_eq!(
        reasons.len(),
        2,
        "the canceled run and the rerun: {reasons:?}"
    );
    assert_eq!(reasons[0], "canceled");
    let waits = w.service.store.waits_of_job(1).await.expect("waits");
    assert_eq!(waits[0].state, "fired");
    assert_eq!(actions_on(&w, target), ["cancel", "rerun"]);
    w.shutdown().await;
}

/// A cancel that never takes effect ends its wait once
/// `cancel_effect_wait` has passed: dropped, the reply says why, and no
/// rerun is triggered.
#[tokio::test]
async fn a_waited_cancel_that_never_takes_effect_is_dropped_saying_why() {
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    use rerunbot::sandbox::world::PR_OPEN;
    let (w, mut events, cancel) = cancel_held(Duration::from_secs(1)).await;
    let target = pr::TEST_WIN_UNSCHEDULED;
    assert_eq!(next(&mut events, decided).await, (target.to_owned(), false));
    assert_eq!(next(&mut events, reacted).await, "-1");
    let reply = w.normalize(&w.reply_for(PR_OPEN).expect("reply"));
    // After a second or a little more, as the loop looked.
    let said =
        format!("dropped: the cancel action task `{cancel}` had not canceled this task after ");
    assert!(reply.contains(&said), "{reply}");
    assert!(
        reply.contains(
            " s, so the rerun was not sent; once it is canceled, ask for the rerun again"
        ),
        "{reply}"
    );
    assert_eq!(actions_on(&w, target), ["cancel"]);
    assert!(one_wait_dropped(&w));
    w.shutdown().await;
}

/// A waited cancel whose action task finished without canceling the task
/// ends its wait at once, long before `cancel_effect_wait`: the task
/// resolved on its own before the held cancel ran (the queue's cancel of a
/// resolved task changes nothing), so the action task completed and the
/// task is not canceled. Dropped, the reply says why, no rerun triggered.
#[tokio::test]
async fn a_waited_cancel_whose_action_task_did_nothing_is_dropped_at_once() {
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    use rerunbot::sandbox::world::PR_OPEN;
    let (w, mut events, cancel) = cancel_held(Duration::from_secs(3600)).await;
    let target = pr::TEST_WIN_UNSCHEDULED;
    // The task resolves on its own; then the cancel runs, and does nothing.
    assert!(w.queue.set_state(target, TaskState::Completed, None));
    w.queue.release_callback("cancel");
    let decision = tokio::time::timeout(Duration::from_secs(10), next(&mut events, decided))
        .await
        .expect("dropped at once, not after cancel_effect_wait");
    assert_eq!(decision, (target.to_owned(), false));
    assert_eq!(next(&mut events, reacted).await, "-1");
    let action_state = w.queue.task(&cancel).expect("action task")["status"]["state"].clone();
    assert_eq!(action_state, "completed");
    let reply = w.normalize(&w.reply_for(PR_OPEN).expect("reply"));
    let said = format!(
        "dropped: the cancel action task `{cancel}` finished (`completed`) without canceling this task, so the rerun was not sent; see the action task's log for why"
    );
    assert!(reply.contains(&said), "{reply}");
    assert_eq!(actions_on(&w, target), ["cancel"]);
    // Its own run only.
    assert_eq!(run_reasons(&w, target), ["completed"]);
    let waits = w.service.store.waits_of_job(1).await.expect("waits");
    assert_eq!(waits[0].state, "dropped");
    assert!(one_wait_dropped(&w));
    w.shutdown().await;
}
