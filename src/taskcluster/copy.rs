//! Retrigger copies (DESIGN.md §8, §10): the exact definition each copy is
//! created with. Its deterministic taskId is derived by the pure core
//! (`policy::copy_ids`).
//!
//! The definition is returned as a `serde_json::Value` for the store to keep;
//! a retried job re-sends it unchanged. `serde_json` here does not preserve
//! key order (no `preserve_order` feature), so keys are sent sorted. That is
//! harmless: the queue's createTask idempotency compares parsed JSON
//! (`_.isEqual` in the old queue, the stored row in the new one), never bytes.

use super::timestamps::{format_timestamp, parse_timestamp, shift_all, truncate_millis};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Why a definition cannot be copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("the task definition is not a JSON object")]
    NotAnObject,
    #[error("the task definition has no valid `created` timestamp")]
    NoCreated,
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
