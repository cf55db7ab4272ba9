//! Follow-through (DESIGN.md §13) end to end: watches stored by the
//! pipeline, the poller reading the sandbox queue, live edits of the reply
//! as runs resolve, the final reaction, restarts; and the watch store's
//! leases, deduplication and edit coalescing on their own.

mod common;

use common::world::{job_of, queue_mode};

use common::follow_events::{edited, reacted};
use common::next;

use rerunbot::follow::FollowConfig;
use rerunbot::policy::task::TaskState;
use rerunbot::sandbox::taskcluster::worker::{Step, WorkerScript};
use rerunbot::sandbox::world::{guid, World, WorldOptions, PR_OPEN};
use rerunbot::store::{NewWatch, Store};
use std::time::Duration;

async fn following_world(worker: Option<WorkerScript>) -> World {
    World::start(WorldOptions {
        follow: Some(common::fast_follow()),
        sandbox_worker: worker,
        ..queue_mode()
    })
    .await
    .expect("world")
}

/// The copies the first command's retrigger created, in the reply's order.
async fn created(world: &World) -> Vec<String> {
    let job = job_of(world, &guid(1)).await;
    let outcome: serde_json::Value =
        serde_json::from_str(job.outcome.as_deref().expect("outcome")).expect("json");
    outcome[0][0]["task_ids"]
        .as_array()
        .expect("copies")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect()
}

/// Each copy resolves in turn; the reply is edited after each with the
/// copy's mark, and the comment gets 👎 once all resolved with a failure.
#[tokio::test]
async fn retrigger_reply_evolves_as_copies_resolve() {
    let mut w = following_world(None).await;
    let mut events = w.follow_events().expect("following");
    let answer = w
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 3 test-linux64/opt-mochitest-browser-chrome-1",
        )
        .await
        .expect("answer");
    let mut bodies = vec![w.normalize(answer.reply.as_deref().expect("reply"))];
    let copies = created(&w).await;
    assert_eq!(copies.len(), 3);
    let steps = [
        (TaskState::Completed, None),
        (TaskState::Failed, None),
        (TaskState::Exception, Some("claim-expired")),
    ];
    for (copy, (state, reason)) in copies.iter().zip(steps) {
        assert!(w.queue.set_state(copy, state, reason));
        let body = next(&mut events, edited).await;
        bodies.push(w.normalize(&body));
    }
    assert_eq!(next(&mut events, reacted).await, "-1");
    assert_eq!(
        w.github
            .reactions(rerunbot::types::CommentId(w.last_comment_id())),
        vec!["eyes", "rocket", "-1"]
    );
    // The comment on GitHub is the last edit.
    assert_eq!(
        w.normalize(&w.reply_for(PR_OPEN).expect("reply")),
        *bodies.last().expect("bodies")
    );
    insta::assert_snapshot!(bodies.join("\n\n════════ edited ════════\n\n"));
    // Metrics: three resolutions polled, three edits.
    let metrics = w.service.metrics.render([0; 4]);
    for line in [
        "rerunbot_reply_edits_total 3",
        "rerunbot_follow_events_total{source=\"poll\",effect=\"new\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    w.shutdown().await;
}

/// The sandbox worker resolves the reruns as scripted: the broken build
/// fails again, the lint goes green; the final reply says so.
#[tokio::test]
async fn rerun_progresses_with_the_sandbox_worker() {
    let script = WorkerScript::default()
        .rule("build-*", vec![Step::failed(Duration::from_millis(100))])
        .rule(
            "source-test-*",
            vec![Step::completed(Duration::from_millis(300))],
        );
    let mut w = following_world(Some(script)).await;
    let mut events = w.follow_events().expect("following");
    w.comment(
        PR_OPEN,
        "bob",
        "/rerun build-win64/opt source-test-mozlint-eslint",
    )
    .await
    .expect("answer");
    assert_eq!(next(&mut events, reacted).await, "-1");
    let reply = w.normalize(&w.reply_for(PR_OPEN).expect("reply"));
    assert!(reply.contains("❌ run 1 failed"), "{reply}");
    assert!(reply.contains("✅ run 1 completed"), "{reply}");
    w.shutdown().await;
}

/// A watch outlives the process that made it: after a restart, the new
/// process polls it and edits the reply.
#[tokio::test]
async fn watches_survive_a_restart() {
    let mut w = following_world(None).await;
    w.comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("answer");
    w.restart().await.expect("restart");
    let mut events = w.follow_events().expect("following");
    assert!(w
        .queue
        .set_state("TxgWoRUhTFKZ9WHavgWL9w", TaskState::Completed, None));
    let body = next(&mut events, edited).await;
    assert!(body.contains("✅ run 1 completed"), "{body}");
    assert_eq!(next(&mut events, reacted).await, "hooray");
    w.shutdown().await;
}

fn watch(task: &str, run: u32) -> NewWatch {
    NewWatch {
        task_id: task.to_owned(),
        run_id: run,
        task_group_id: "G".to_owned(),
        ..NewWatch::default()
    }
}

/// Leases, deduplication and coalescing of the watch store, on one backend.
async fn watch_store_rules(store: &Store) {
    let lease = Duration::from_secs(60);
    store
        .add_watches(1, &[watch("A", 1), watch("B", 0)], Duration::ZERO)
        .await
        .expect("add");
    // Adding again (a retried job) adds nothing.
    store
        .add_watches(1, &[watch("A", 1)], Duration::ZERO)
        .await
        .expect("add again");
    assert_eq!(store.open_watches().await.expect("count"), 2);

    // A claim leases the due watches; a second claim finds none.
    let batch = store.claim_due_watches(lease, 10).await.expect("claim");
    assert_eq!(batch.watches.len(), 2);
    assert!(store
        .claim_due_watches(lease, 10)
        .await
        .expect("claim")
        .watches
        .is_empty());
    // Postponed: not due until the interval passed.
    let ids: Vec<i64> = batch.watches.iter().map(|w| w.id).collect();
    store
        .postpone_watches(&batch, &ids, Duration::from_secs(60))
        .await
        .expect("postpone");
    assert!(store
        .claim_due_watches(lease, 10)
        .await
        .expect("claim")
        .watches
        .is_empty());

    // A resolution is recorded once; the same event again changes nothing.
    assert_eq!(
        store
            .resolve_run("A", 1, "completed", None)
            .await
            .expect("resolve"),
        vec![1]
    );
    assert!(store
        .resolve_run("A", 1, "completed", None)
        .await
        .expect("resolve again")
        .is_empty());
    // Another run of the same task is not ours.
    assert!(store
        .resolve_run("A", 2, "failed", None)
        .await
        .expect("other run")
        .is_empty());

    // The reply is due once; after an edit, the next waits for the window.
    let due = store.claim_due_replies(lease, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    store
        .reply_edited(&due[0], Duration::from_secs(10), false)
        .await
        .expect("edited");
    store
        .resolve_run("B", 0, "failed", None)
        .await
        .expect("resolve B");
    assert!(store
        .claim_due_replies(lease, 10)
        .await
        .expect("due")
        .is_empty());
    // Without a window it would be due at once.
    let due_now = {
        store
            .add_watches(2, &[watch("C", 0)], Duration::ZERO)
            .await
            .expect("add C");
        store
            .resolve_run("C", 0, "completed", None)
            .await
            .expect("C");
        store.claim_due_replies(lease, 10).await.expect("due")
    };
    assert_eq!(
        due_now.iter().map(|d| d.job_id).collect::<Vec<_>>(),
        vec![2]
    );
    let watches = store.watches_of_job(1).await.expect("watches");
    let results: Vec<_> = watches
        .iter()
        .map(|w| (w.task_id.as_str(), w.result.as_deref()))
        .collect();
    assert_eq!(
        results,
        vec![("A", Some("completed")), ("B", Some("failed"))]
    );

    // An action task's expectation is looked at once it completed, and
    // met once: what it made is watched, however often it is met.
    let action = NewWatch {
        expect: Some(r#"{"kind":"copies"}"#.to_owned()),
        ..watch("ACT", 0)
    };
    store
        .add_watches(3, &[action], Duration::ZERO)
        .await
        .expect("add action");
    assert!(store.due_expectations(10).await.expect("due").is_empty());
    // Looked at once and put off for long (Pulse configured): its
    // resolution still makes the expectation due at once.
    let batch = store.claim_due_watches(lease, 10).await.expect("claim");
    let ids: Vec<i64> = batch.watches.iter().map(|w| w.id).collect();
    assert_eq!(ids.len(), 1);
    store
        .postpone_watches(&batch, &ids, Duration::from_secs(3600))
        .await
        .expect("postpone");
    store
        .resolve_run("ACT", 0, "completed", None)
        .await
        .expect("resolve action");
    let due = store.due_expectations(10).await.expect("due");
    assert_eq!(due.len(), 1);
    let copy = NewWatch {
        made_by: Some("ACT".to_owned()),
        label: Some("test-a".to_owned()),
        ..watch("COPY", 0)
    };
    for _ in 0..2 {
        store
            .expectation_met(&due[0], std::slice::from_ref(&copy))
            .await
            .expect("met");
    }
    assert!(store.due_expectations(10).await.expect("due").is_empty());
    let watches = store.watches_of_job(3).await.expect("watches");
    let rows: Vec<_> = watches
        .iter()
        .map(|w| {
            (
                w.task_id.as_str(),
                w.expect.is_some(),
                w.made_by.as_deref(),
                w.label.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("ACT", false, None, None),
            ("COPY", false, Some("ACT"), Some("test-a"))
        ]
    );
}

#[tokio::test]
async fn watch_store_on_sqlite() {
    let db = common::sqlite().await;
    watch_store_rules(&db.store).await;
}

#[tokio::test]
async fn watch_store_on_postgres() {
    let Some(store) = common::postgres_store().await else {
        return;
    };
    watch_store_rules(&store).await;
}

/// Many watched tasks of one group are read with listTaskGroup, not one
/// status call each.
#[tokio::test]
async fn many_watches_of_one_group_are_read_with_one_listing() {
    let mut w = World::start(WorldOptions {
        follow: Some(FollowConfig {
            list_group_from: 2,
            ..common::fast_follow()
        }),
        ..queue_mode()
    })
    .await
    .expect("world");
    let mut events = w.follow_events().expect("following");
    w.comment(
        PR_OPEN,
        "bob",
        "/retrigger 3 test-linux64/opt-mochitest-browser-chrome-1",
    )
    .await
    .expect("answer");
    let copies = created(&w).await;
    for copy in &copies {
        assert!(w.queue.set_state(copy, TaskState::Completed, None));
    }
    assert_eq!(next(&mut events, reacted).await, "hooray");
    let calls = w.queue.calls();
    let status_calls = calls
        .iter()
        .filter(|c| {
            copies
                .iter()
                .any(|id| c.path.contains(&format!("/task/{id}/status")))
        })
        .count();
    assert_eq!(status_calls, 0);
    assert!(calls.iter().any(|c| c.path.contains(&format!(
        "/task-group/{}/list",
        rerunbot::sandbox::taskcluster::fixtures::pr::GROUP
    ))));
    w.shutdown().await;
}
