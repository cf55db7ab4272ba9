//! Retrigger copy ids for a plan. Ids must be deterministic (DESIGN.md §10):
//! a retried job recomputes the same ids and re-sends identical createTask
//! calls.

use crate::repo_config::HARD_MAX_RETRIGGER;
use crate::types::{DeliveryId, TaskId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

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

/// The taskId of copy `index` of `source` made for `delivery`: the same
/// inputs always give the same id, so a retried job re-creates (idempotently)
/// rather than duplicates.
///
/// SHA-256 over the length-prefixed inputs, the first 16 bytes shaped like a
/// slugid "nice" id: UUID v4 version and variant bits, and the top bit
/// cleared so the id never starts with `-`. Encoded base64url without
/// padding: 22 characters matching the queue's taskId pattern.
pub fn copy_task_id(delivery: &DeliveryId, source: &TaskId, index: u32) -> TaskId {
    let mut hasher = Sha256::new();
    hasher.update(b"rerunbot-retrigger-v1\0");
    for part in [delivery.as_str(), source.as_str()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(index.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    bytes[0] &= 0x7f; // slugid.nice(): first character in [A-Za-f]
    TaskId::new(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$`
    fn matches_queue_pattern(id: &str) -> bool {
        let b = id.as_bytes();
        let any = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
        b.len() == 22
            && b.iter().all(|&c| any(c))
            && (b'Q'..=b'T').contains(&b[8])
            && b"CGKOSWaeimquy26-".contains(&b[10])
            && b"AQgw".contains(&b[21])
    }

    #[test]
    fn copy_ids_match_the_pattern_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for d in 0..50 {
            let delivery = DeliveryId(format!("6c3f1a40-{d:04}-11ee-8c90-0242ac120002"));
            for s in 0..20 {
                let source = TaskId::new(format!("source{s}"));
                for i in 0..5 {
                    let id = copy_task_id(&delivery, &source, i);
                    assert!(matches_queue_pattern(id.as_str()), "{id}");
                    assert!(
                        !id.as_str().starts_with('-') && !id.as_str().starts_with('_'),
                        "{id}"
                    );
                    assert!(seen.insert(id), "duplicate");
                }
            }
        }
    }

    #[test]
    fn copy_ids_are_deterministic() {
        let d = DeliveryId::from("72d3162e-cc78-11e3-81ab-4c9367dc0958");
        let s = TaskId::from("fQpVbmtAQ8uBNO5UBWS2LA");
        assert_eq!(copy_task_id(&d, &s, 0), copy_task_id(&d, &s, 0));
        assert_ne!(copy_task_id(&d, &s, 0), copy_task_id(&d, &s, 1));
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(
            copy_task_id(&DeliveryId::from("ab"), &TaskId::from("c"), 0),
            copy_task_id(&DeliveryId::from("a"), &TaskId::from("bc"), 0)
        );
    }
}
