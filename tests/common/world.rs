//! What the end-to-end tests share about a `World`: its options (the
//! queue path, no retry budget, in-tree actions with a sandbox worker
//! that runs action tasks only; combined with struct update syntax, `..queue_mode()`) and
//! lookups in its store and its sandbox queue's calls.

use rerunbot::sandbox::taskcluster::worker::WorkerScript;
use rerunbot::sandbox::world::{World, WorldOptions};
use rerunbot::store::{DueReply, Job};
use rerunbot::worker::WorkerConfig;
use std::time::Duration;

/// For tests about the queue path (direct queue calls), which the
/// sandbox's decision tasks would otherwise replace with their in-tree
/// actions (`tests/hooks_dispatch.rs` covers those).
pub fn queue_mode() -> WorldOptions {
    WorldOptions {
        repo_config: Some("dispatch: queue\n".to_owned()),
        ..WorldOptions::default()
    }
}

/// The queue path with no retry budget: a job's first failure is its
/// last (the worker gives up and the reply says what is known).
pub fn no_retry_budget() -> WorldOptions {
    WorldOptions {
        workers: WorkerConfig {
            retry_budget: Duration::ZERO,
            ..WorldOptions::default().workers
        },
        ..queue_mode()
    }
}

/// The repository's in-tree actions (the default `dispatch: auto`; the
/// sandbox's decision tasks publish an `actions.json`) with a sandbox
/// worker that runs action tasks only.
pub fn in_tree_actions() -> WorldOptions {
    WorldOptions {
        sandbox_worker: Some(action_worker()),
        ..WorldOptions::default()
    }
}

/// A sandbox worker that runs action tasks only: every other task keeps
/// its state until the test resolves it, so what an action task does can
/// be seen.
pub fn action_worker() -> WorkerScript {
    WorkerScript {
        default: None,
        ..WorkerScript::default()
    }
}

/// The job a delivery queued (it must have queued one).
pub async fn job_of(world: &World, delivery: &str) -> Job {
    world
        .service
        .store
        .job_by_delivery(delivery)
        .await
        .expect("read")
        .expect("job")
}

/// The sandbox queue's calls (answered or failed) with `method` whose path
/// contains `part`.
pub fn queue_calls(world: &World, method: &str, part: &str) -> usize {
    world
        .queue
        .calls()
        .iter()
        .filter(|c| c.method == method && c.path.contains(part))
        .count()
}

/// Claims (1 s lease) up to ten replies due an edit: what the follow loop
/// would edit next.
pub async fn claim_due_replies(world: &World) -> Vec<DueReply> {
    world
        .service
        .store
        .claim_due_replies(Duration::from_secs(1), 10)
        .await
        .expect("claim")
}
