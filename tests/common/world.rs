//! What the end-to-end tests share about a `World`: its options (the
//! queue path, a sandbox worker that runs action tasks only; combined
//! with struct update syntax, `..queue_mode()`) and lookups in its store.

use rerunbot::sandbox::taskcluster::worker::WorkerScript;
use rerunbot::sandbox::world::{World, WorldOptions};
use rerunbot::store::Job;

/// For tests about the queue path (direct queue calls), which the
/// sandbox's decision tasks would otherwise replace with their in-tree
/// actions (`tests/hooks_dispatch.rs` covers those).
pub fn queue_mode() -> WorldOptions {
    WorldOptions {
        repo_config: Some("dispatch: queue\n".to_owned()),
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
