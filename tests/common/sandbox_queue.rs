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

/// The id of the task [`grow_past_kept_pages`] adds.
pub const PADDING_TASK: &str = "PaddingTaskAAAAAAAAAAA";

/// Adds to the pull-request group a completed task whose definition alone
/// is larger than a listing keeps pages of (`taskcluster::kept`), so the
/// group's definitions are no longer kept.
pub fn grow_past_kept_pages(queue: &SandboxQueue) {
    let padding = "x".repeat(rerunbot::taskcluster::kept::KEPT_PAGES_BUDGET);
    let mut big = queue
        .task(fixtures::pr::LINT_CLIPPY_COMPLETED)
        .expect("exists");
    big["task"]["extra"]["padding"] = padding.into();
    big["status"]["taskId"] = PADDING_TASK.into();
    queue.add_task(PADDING_TASK, big["task"].clone(), big["status"].clone());
}
