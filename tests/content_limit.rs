//! GitHub's content-creation limit (80 per minute per installation) as one
//! budget shared by every process on the database: two processes (two
//! stores, two limiters) together stay within it, a restart does not reset
//! it, and a waiter holds up neither other installations nor the database.

mod common;

use rerunbot::github::ContentLimiter;
use rerunbot::store::Store;
use rerunbot::types::InstallationId;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_millis(1500);
/// The database clock's millisecond rounding.
const SLACK: Duration = Duration::from_millis(5);

fn limiter(store: &Store, max: u32) -> Arc<ContentLimiter> {
    let limiter = ContentLimiter::new(max, WINDOW);
    limiter.share(store.clone());
    Arc::new(limiter)
}

/// When one acquisition was asked for and when it returned: its grant, stamped
/// on the database's clock, lies somewhere in between.
#[derive(Clone, Copy)]
struct Grant {
    asked: Instant,
    returned: Instant,
}

/// `n` acquisitions spread over `tasks` concurrent tasks.
async fn hammer(limiter: Arc<ContentLimiter>, tasks: usize, n: usize) -> Vec<Grant> {
    let granted = Arc::new(Mutex::new(Vec::new()));
    let mut running = Vec::new();
    for t in 0..tasks {
        let (limiter, granted) = (limiter.clone(), granted.clone());
        let mine = n / tasks + usize::from(t < n % tasks);
        running.push(tokio::spawn(async move {
            for _ in 0..mine {
                let asked = Instant::now();
                limiter.acquire(InstallationId(7)).await;
                let returned = Instant::now();
                granted
                    .lock()
                    .expect("lock")
                    .push(Grant { asked, returned });
            }
        }));
    }
    for r in running {
        r.await.expect("task");
    }
    let granted = granted.lock().expect("lock").clone();
    granted
}

/// No `max + 1` grants fit in one `WINDOW`. A grant happened between its
/// `asked` and `returned`, so a set of grants spans at most (latest
/// `returned` − earliest `asked`); the assertion fails only when even that
/// upper bound is shorter than the window — a real breach, never a
/// scheduling delay of a loaded machine. For each earliest-asked grant the
/// tightest set takes the `max` others that returned first among those asked
/// no earlier.
fn assert_within(mut granted: Vec<Grant>, max: usize) {
    granted.sort_by_key(|g| g.asked);
    for (i, first) in granted.iter().enumerate() {
        let mut later: Vec<Instant> = granted[i + 1..].iter().map(|g| g.returned).collect();
        if later.len() < max {
            break;
        }
        later.sort();
        let last = later[max - 1].max(first.returned);
        let span = last - first.asked;
        assert!(span + SLACK >= WINDOW, "{} grants within {span:?}", max + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_stay_within_80_per_window_together() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let (one, two) = (
        Store::connect(&url).await.expect("store"),
        Store::connect(&url).await.expect("store"),
    );
    let started = Instant::now();
    let (a, b) = tokio::join!(
        hammer(limiter(&one, 80), 4, 100),
        hammer(limiter(&two, 80), 4, 100)
    );
    let mut granted = a;
    granted.extend(b);
    assert_eq!(granted.len(), 200, "every request served");
    // 200 at 80 per window: the last 40 wait two windows.
    assert!(started.elapsed() + SLACK >= WINDOW * 2);
    assert_within(granted, 80);
}

#[tokio::test]
async fn a_restart_does_not_reset_the_budget() {
    let db = common::sqlite().await;
    // Before the first grant: the window they fill ends a WINDOW after it.
    let started = Instant::now();
    hammer(limiter(&db.store, 3), 1, 3).await;
    // A new process (a new limiter) on the same database.
    limiter(&db.store, 3).acquire(InstallationId(7)).await;
    assert!(
        started.elapsed() + SLACK >= WINDOW,
        "waited for the window: {:?}",
        started.elapsed()
    );
}

async fn a_waiter_blocks_nothing_else(store: Store) {
    let shared = limiter(&store, 2);
    let before_grants = Instant::now();
    hammer(shared.clone(), 1, 2).await;
    let started = Instant::now();
    let waiting = tokio::spawn({
        let shared = shared.clone();
        async move { shared.acquire(InstallationId(7)).await }
    });
    // Let the waiter find the window full and start waiting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    shared.acquire(InstallationId(8)).await;
    store.job_counts().await.expect("a read");
    let other_store_write = store.take_content_slot(9, 2, WINDOW).await.expect("write");
    assert_eq!(other_store_write, None);
    assert!(
        started.elapsed() < WINDOW / 2,
        "another installation and the database went on: {:?}",
        started.elapsed()
    );
    assert!(!waiting.is_finished(), "installation 7 still waits");
    waiting.await.expect("served in the end");
    assert!(before_grants.elapsed() + SLACK >= WINDOW);
}

#[tokio::test]
async fn a_waiter_blocks_neither_other_installations_nor_the_database() {
    let db = common::sqlite().await;
    a_waiter_blocks_nothing_else(db.store.clone()).await;
}

#[tokio::test]
async fn a_waiter_blocks_neither_other_installations_nor_the_database_on_postgres() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    a_waiter_blocks_nothing_else(Store::connect(&url).await.expect("store")).await;
}
