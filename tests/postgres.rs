//! The queue on Postgres: the same code path as SQLite, shared by several
//! processes. Needs RERUNBOT_TEST_POSTGRES_URL (set by .ci/run).

mod common;

use common::*;
use rerunbot::store::{EnqueueResult, NewJob, Store};
use rerunbot::worker::{JobEventKind, JobFuture, JobHandler};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Counter {
    runs: Mutex<HashMap<String, u32>>,
}

impl JobHandler for Counter {
    fn handle(&self, _store: Store, claim: rerunbot::store::Claim) -> JobFuture {
        *self
            .runs
            .lock()
            .expect("lock")
            .entry(claim.job.delivery_id.clone())
            .or_default() += 1;
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_one_database_process_each_job_exactly_once() {
    let Some(url) = postgres_url().await else {
        return;
    };
    // Two "processes": separate stores (pools), separate services and workers.
    let store_a = Store::connect(&url).await.expect("store a");
    let store_b = Store::connect(&url)
        .await
        .expect("store b (migrations are idempotent)");
    let counter = Arc::new(Counter::default());
    let a = start(store_a.clone(), counter.clone(), fast_workers(4)).await;
    let b = start(store_b.clone(), counter.clone(), fast_workers(4)).await;
    let (mut events_a, mut events_b) = (a.subscribe(), b.subscribe());

    let clients: Vec<_> = (0..200)
        .map(|n| {
            let url = if n % 2 == 0 {
                a.webhook_url()
            } else {
                b.webhook_url()
            };
            tokio::spawn(async move {
                let body = comment_payload("created", "/rerun", "bob");
                post(
                    &url,
                    Some("issue_comment"),
                    Some(&format!("pg-{n}")),
                    Some(SECRET),
                    &body,
                )
                .await
                .0
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.expect("join"), 202);
    }
    // A redelivery to the other process is still a duplicate.
    let body = comment_payload("created", "/rerun", "bob");
    assert_eq!(
        post(
            &b.webhook_url(),
            Some("issue_comment"),
            Some("pg-0"),
            Some(SECRET),
            &body
        )
        .await
        .0,
        200
    );

    let done = tokio::time::timeout(Duration::from_secs(60), async {
        let mut done = 0usize;
        while done < 200 {
            tokio::select! {
                Ok(e) = events_a.recv() => if e.outcome == JobEventKind::Done { done += 1 },
                Ok(e) = events_b.recv() => if e.outcome == JobEventKind::Done { done += 1 },
            }
        }
        done
    })
    .await
    .expect("200 jobs done");
    assert_eq!(done, 200);
    let runs = counter.runs.lock().expect("lock").clone();
    assert_eq!(runs.len(), 200);
    assert!(runs.values().all(|&n| n == 1), "some job ran twice");
    assert_eq!(store_a.job_counts().await.expect("counts"), [0, 0, 200, 0]);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn postgres_queue_semantics_match_sqlite() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let store = Store::connect(&url).await.expect("store");
    let job = NewJob {
        delivery_id: "x",
        event: "issue_comment",
        payload: "{}",
    };
    assert!(matches!(
        store.enqueue(job.clone()).await.expect("enqueue"),
        EnqueueResult::Inserted(_)
    ));
    assert_eq!(
        store.enqueue(job).await.expect("enqueue"),
        EnqueueResult::Duplicate
    );
    let first = store
        .claim(Duration::from_millis(50))
        .await
        .expect("claim")
        .expect("job");
    assert!(store
        .claim(Duration::from_secs(30))
        .await
        .expect("claim")
        .is_none());
    tokio::time::sleep(Duration::from_millis(80)).await; // let the short lease expire
    let second = store
        .claim(Duration::from_secs(30))
        .await
        .expect("claim")
        .expect("re-taken");
    assert_eq!((second.job.id, second.job.attempts), (first.job.id, 2));
    assert!(!store.complete(&first).await.expect("stale"));
    store
        .save_plan(&second, "{\"rows\":[]}")
        .await
        .expect("plan");
    store.save_reply_comment(&second, 99).await.expect("reply");
    assert!(store.complete(&second).await.expect("complete"));
    let stored = store.job(second.job.id).await.expect("read").expect("job");
    assert_eq!(stored.plan.as_deref(), Some("{\"rows\":[]}"));
    assert_eq!(stored.reply_comment_id, Some(99));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_pipeline_runs_on_postgres() {
    use rerunbot::sandbox::taskcluster::fixtures::pr;
    use rerunbot::sandbox::world::{World, WorldOptions, PR_OPEN};
    let Some(url) = postgres_url().await else {
        return;
    };
    let mut w = World::start(WorldOptions {
        database_url: Some(url),
        // The queue path (direct calls), as the other pipeline suites.
        repo_config: Some("dispatch: queue\nlimits:\n  max_reruns_per_task: 1\n".to_owned()),
        ..WorldOptions::default()
    })
    .await
    .expect("world");
    let first = w.comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint\n/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1").await.expect("comment");
    assert_eq!(first.reactions, vec!["eyes", "rocket"]);
    assert_eq!(w.queue.tasks_in_group(pr::GROUP).len(), 12 + 2);
    // The ledger (on Postgres) remembers the rerun: the per-task limit of 1 refuses a second.
    assert!(w.queue.set_state(
        pr::LINT_ESLINT_FAILED,
        rerunbot::policy::task::TaskState::Failed,
        Some("failed")
    ));
    let second = w
        .comment(PR_OPEN, "bob", "/rerun source-test-mozlint-eslint")
        .await
        .expect("comment");
    assert_eq!(second.reactions, vec!["eyes", "confused"]);
    let reruns = w.queue.accepted("POST", "/rerun").len();
    assert_eq!(reruns, 1);
    w.shutdown().await;
}
