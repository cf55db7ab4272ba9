//! World options shared by the end-to-end tests (`World::start`): the
//! queue path, and a sandbox worker that runs action tasks only. Tests
//! combine them with struct update syntax (`..queue_mode()`).

use rerunbot::sandbox::taskcluster::worker::WorkerScript;
use rerunbot::sandbox::world::WorldOptions;

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
