//! The deliveries' own writer on SQLite (`store::intake`): concurrent
//! deliveries are committed together, each acknowledged only once
//! committed, a GUID is stored once however its copies arrive, and a
//! writer that finds the write lock held waits for it instead of failing.

mod common;

use common::*;
use rerunbot::store::{EnqueueResult, NewJob};
use sqlx::Connection;
use std::collections::HashMap;
use std::time::Duration;

fn job<'a>(guid: &'a str) -> NewJob<'a> {
    NewJob {
        delivery_id: guid,
        event: "issue_comment",
        payload: "{}",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_are_each_stored_once_and_committed_when_answered() {
    let db = sqlite().await;
    // 200 deliveries, every fifth sent twice at once (a redelivery racing
    // the first copy).
    let guids: Vec<String> = (0..200).map(|i| format!("guid-{i}")).collect();
    let mut sends = tokio::task::JoinSet::new();
    for (i, guid) in guids.iter().enumerate() {
        let copies = if i % 5 == 0 { 2 } else { 1 };
        for _ in 0..copies {
            let (store, guid, url) = (db.store.clone(), guid.clone(), db.url.clone());
            sends.spawn(async move {
                let result = store.enqueue(job(&guid)).await.expect("enqueue");
                // Answered only once committed: another connection sees it.
                let mut other = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                let seen: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE delivery_id = ?")
                        .bind(&guid)
                        .fetch_one(&mut other)
                        .await
                        .expect("count");
                (guid, result, seen)
            });
        }
    }
    let mut inserted: HashMap<String, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    while let Some(sent) = sends.join_next().await {
        let (guid, result, seen) = sent.expect("task");
        assert_eq!(seen, 1, "{guid} acknowledged before it was committed");
        match result {
            EnqueueResult::Inserted(id) => {
                assert!(ids.insert(id), "job id {id} given twice");
                *inserted.entry(guid).or_default() += 1;
            }
            EnqueueResult::Duplicate => {}
        }
    }
    assert_eq!(inserted.len(), guids.len(), "every delivery stored");
    assert!(inserted.values().all(|n| *n == 1), "each stored once");
    assert_eq!(db.store.job_counts().await.expect("counts")[0], 200);
    // A later redelivery is a duplicate too.
    assert_eq!(
        db.store.enqueue(job("guid-7")).await.expect("enqueue"),
        EnqueueResult::Duplicate
    );
}

#[tokio::test]
async fn a_delivery_waits_for_a_write_lock_held_elsewhere_and_is_then_stored() {
    let db = sqlite().await;
    // Another connection (a worker, another process) holds the write lock.
    let mut holder = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("connect");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("lock");
    let store = db.store.clone();
    let delivery = tokio::spawn(async move { store.enqueue(job("held")).await });
    // The delivery cannot finish while the lock is held (polled, bounded).
    for _ in 0..20 {
        tokio::task::yield_now().await;
        assert!(!delivery.is_finished(), "stored through a held write lock");
    }
    sqlx::query("COMMIT")
        .execute(&mut holder)
        .await
        .expect("unlock");
    let stored = tokio::time::timeout(Duration::from_secs(10), delivery)
        .await
        .expect("stored once the lock is free")
        .expect("task")
        .expect("enqueue");
    assert!(matches!(stored, EnqueueResult::Inserted(_)));
    assert!(db
        .store
        .job_by_delivery("held")
        .await
        .expect("read")
        .is_some());
}
