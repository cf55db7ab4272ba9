//! Retrigger copy ids for a plan. Ids must be deterministic (DESIGN.md §10):
//! a retried job recomputes the same ids and re-sends identical createTask
//! calls.

use crate::repo_config::HARD_MAX_RETRIGGER;
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

// PLACEHOLDER until `crate::taskcluster::copy::copy_task_id` lands: the lead
// replaces this function with a `use` of that one (same signature).
fn copy_task_id(delivery: &DeliveryId, source: &TaskId, index: u32) -> TaskId {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(delivery.as_str())
        .chain_update([0])
        .chain_update(source.as_str())
        .chain_update(index.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] &= 0x7f; // slugids start with [A-Za-f]
    TaskId(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
