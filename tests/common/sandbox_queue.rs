//! The sandbox queue alone (no world) for the Taskcluster client tests.

use rerunbot::sandbox::taskcluster::fixtures;
use rerunbot::sandbox::taskcluster::{SandboxQueue, SandboxQueueConfig};

/// A sandbox queue seeded with the fixtures' pull-request and release
/// task groups.
pub async fn seeded_queue() -> SandboxQueue {
    let queue = SandboxQueue::start(SandboxQueueConfig::default())
        .await
        .expect("sandbox starts");
    queue.seed_fixture(&fixtures::parse(fixtures::PR_GROUP));
    queue.seed_fixture(&fixtures::parse(fixtures::RELEASE_GROUP));
    queue
}
