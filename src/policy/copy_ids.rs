//! Retrigger copy ids for a plan. Ids must be deterministic (DESIGN.md §10):
//! a retried job recomputes the same ids and re-sends identical createTask
//! calls.

use crate::repo_config::HARD_MAX_RETRIGGER;
use crate::taskcluster::copy::copy_task_id;
use crate::types::{DeliveryId, TaskId};

/// `count` copy ids of `source` for the command at `command_index` of the
/// comment delivered as `delivery`. Copy indexes never collide between
/// commands: each command owns a block of `HARD_MAX_RETRIGGER` indexes.
pub fn copy_ids(
    delivery: &DeliveryId,
    source: &TaskId,
    command_index: usize,
    count: u32,
) -> Vec<TaskId> {
    let base = u32::try_from(command_index)
        .unwrap_or(u32::MAX)
        .saturating_mul(HARD_MAX_RETRIGGER);
    (0..count)
        .map(|i| copy_task_id(delivery, source, base.saturating_add(i)))
        .collect()
}
