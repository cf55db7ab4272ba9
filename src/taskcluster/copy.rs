//! Retrigger copies (DESIGN.md §8, §10): the deterministic taskId of each
//! copy and the exact definition it is created with.
//!
//! The definition is returned as a `serde_json::Value` for the store to keep;
//! a retried job re-sends it unchanged. `serde_json` here does not preserve
//! key order (no `preserve_order` feature), so keys are sent sorted. That is
//! harmless: the queue's createTask idempotency compares parsed JSON
//! (`_.isEqual` in the old queue, the stored row in the new one), never bytes.

use super::timestamps::{format_timestamp, parse_timestamp, shift_all, truncate_millis};
use crate::types::{DeliveryId, TaskId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a definition cannot be copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("the task definition is not a JSON object")]
    NotAnObject,
    #[error("the task definition has no valid `created` timestamp")]
    NoCreated,
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
    TaskId(URL_SAFE_NO_PAD.encode(bytes))
}

/// The definition of a retrigger copy of `original`, created at `now`:
/// `created` = now and every timestamp in the definition (deadline, expires,
/// payload artifact expiries, anything nested) shifted by now − created, at
/// millisecond precision. Everything else is kept as it was (taskGroupId,
/// dependencies, routes, scopes, payload, tags, ...).
pub fn retrigger_definition(original: &Value, now: DateTime<Utc>) -> Result<Value, CopyError> {
    if !original.is_object() {
        return Err(CopyError::NotAnObject);
    }
    let created = original
        .get("created")
        .and_then(Value::as_str)
        .and_then(parse_timestamp)
        .ok_or(CopyError::NoCreated)?;
    let now = truncate_millis(now);
    let mut copy = original.clone();
    shift_all(&mut copy, now - created);
    if let Some(map) = copy.as_object_mut() {
        map.insert("created".to_owned(), Value::String(format_timestamp(now)));
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$`
    pub(crate) fn matches_queue_pattern(id: &str) -> bool {
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
                let source = TaskId(format!("source{s}"));
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

    #[test]
    fn issue_test_vector() {
        let original = json!({
            "created": "2017-10-10T18:33:03.460Z",
            "deadline": "2017-10-11T18:33:03.461Z",
            "expires": "2018-10-10T18:33:04.461Z",
            "taskGroupId": "Xd7Hdl6JSpq7v8K0jF5XMw",
            "dependencies": ["Xd7Hdl6JSpq7v8K0jF5XMw"],
            "scopes": ["secrets:get:project/x"],
            "routes": ["tc-treeherder.v2.try.abc"],
            "tags": {"label": "test-linux64/opt-mochitest-1", "retrigger": "true"},
            "payload": {
                "command": ["run", "--since=2017-10-10T18:33:03.460Z"],
                "artifacts": {"public": {"type": "directory", "expires": "2018-10-10T18:33:03.463Z"}}
            }
        });
        let now = "2026-11-22T10:00:00.123456Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let copy = retrigger_definition(&original, now).expect("copies");
        let at = |p: &str| {
            copy.pointer(p)
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
                .expect(p)
        };
        let created = at("/created");
        assert_eq!(copy["created"], json!("2026-11-22T10:00:00.123Z"));
        assert_eq!((at("/deadline") - created).num_milliseconds(), 86_400_001);
        assert_eq!(
            (at("/expires") - created).num_milliseconds(),
            31_536_001_001
        );
        assert_eq!(
            (at("/payload/artifacts/public/expires") - created).num_milliseconds(),
            31_536_000_003
        );
        assert_eq!(copy["deadline"], json!("2026-11-23T10:00:00.124Z"));
        // Everything that is not a whole timestamp is kept.
        for key in ["taskGroupId", "dependencies", "scopes", "routes", "tags"] {
            assert_eq!(copy[key], original[key], "{key}");
        }
        assert_eq!(copy["payload"]["command"], original["payload"]["command"]);
        assert_eq!(
            copy["payload"]["artifacts"]["public"]["type"],
            json!("directory")
        );
    }

    #[test]
    fn refuses_definitions_without_created() {
        let now = Utc::now();
        assert_eq!(
            retrigger_definition(&json!([]), now),
            Err(CopyError::NotAnObject)
        );
        assert_eq!(
            retrigger_definition(&json!({"deadline": "x"}), now),
            Err(CopyError::NoCreated)
        );
    }
}
