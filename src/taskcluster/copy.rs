//! Retrigger copies (DESIGN.md §8, §10): the exact definition each copy is
//! created with. Its deterministic taskId is derived by the pure core
//! (`policy::copy_ids`).
//!
//! The definition is returned as a `serde_json::Value` for the store to keep;
//! a retried job re-sends it unchanged. `serde_json` here does not preserve
//! key order (no `preserve_order` feature), so keys are sent sorted. That is
//! harmless: the queue's createTask idempotency compares parsed JSON
//! (`_.isEqual` in the old queue, the stored row in the new one), never bytes.

use super::timestamps::{format_timestamp, parse_timestamp, truncate_millis};
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

/// The definition of a retrigger copy of `original`, created at `now`
/// (DESIGN.md §8): `created` = now; `deadline`, `expires` and each payload
/// artifact's `expires` shifted by now − created, at millisecond precision.
/// No other string is touched: a timestamp-shaped value elsewhere in the
/// payload (a `release_eta`, a `--since=` argument) means what it says.
/// `index.*` and `notify.*` routes are dropped: a copy must not repoint
/// index entries nor send the original's notifications again. Everything
/// else is kept (taskGroupId, dependencies, other routes, scopes, tags).
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
    let delta = now - created;
    let mut copy = original.clone();
    let Some(map) = copy.as_object_mut() else {
        return Err(CopyError::NotAnObject);
    };
    map.insert("created".to_owned(), Value::String(format_timestamp(now)));
    for key in ["deadline", "expires"] {
        if let Some(value) = map.get_mut(key) {
            shift_one(value, delta);
        }
    }
    if let Some(Value::Array(routes)) = map.get_mut("routes") {
        routes.retain(|r| {
            r.as_str()
                .is_none_or(|r| !r.starts_with("index.") && !r.starts_with("notify."))
        });
    }
    // docker-worker: `{name: {expires}}`; generic-worker: `[{name, expires}]`.
    match copy.pointer_mut("/payload/artifacts") {
        Some(Value::Object(artifacts)) => {
            artifacts.values_mut().for_each(|a| shift_expires(a, delta))
        }
        Some(Value::Array(artifacts)) => artifacts.iter_mut().for_each(|a| shift_expires(a, delta)),
        _ => {}
    }
    Ok(copy)
}

fn shift_expires(artifact: &mut Value, delta: chrono::Duration) {
    if let Some(expires) = artifact.get_mut("expires") {
        shift_one(expires, delta);
    }
}

/// Shifts `value` when it is a timestamp; anything else stays.
fn shift_one(value: &mut Value, delta: chrono::Duration) {
    if let Some(t) = value.as_str().and_then(parse_timestamp) {
        *value = Value::String(format_timestamp(t + delta));
    }
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
            "routes": ["tc-treeherder.v2.try.abc", "index.gecko.v2.try.latest.x", "notify.email.a@b.c.on-failed", "checks"],
            "tags": {"label": "test-linux64/opt-mochitest-1", "retrigger": "true"},
            "payload": {
                "command": ["run", "--since=2017-10-10T18:33:03.460Z"],
                "release_eta": "2017-10-12T00:00:00.000Z",
                "env": {"BUILD_DATE": "2017-10-10T18:33:03.460Z"},
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
        for key in ["taskGroupId", "dependencies", "scopes", "tags"] {
            assert_eq!(copy[key], original[key], "{key}");
        }
        assert_eq!(
            copy["routes"],
            json!(["tc-treeherder.v2.try.abc", "checks"]),
            "index.* and notify.* routes are dropped"
        );
        for key in ["command", "release_eta", "env"] {
            assert_eq!(
                copy["payload"][key], original["payload"][key],
                "{key} stays"
            );
        }
        assert_eq!(
            copy["payload"]["artifacts"]["public"]["type"],
            json!("directory")
        );
    }

    #[test]
    fn generic_worker_artifact_lists_are_shifted() {
        let original = json!({
            "created": "2017-10-10T18:33:03.000Z",
            "deadline": "2017-10-11T18:33:03.000Z",
            "payload": {"artifacts": [
                {"name": "public/logs", "expires": "2017-10-20T18:33:03.000Z"},
                {"name": "public/build"}
            ]}
        });
        let now = "2017-10-10T19:33:03Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let copy = retrigger_definition(&original, now).expect("copies");
        assert_eq!(
            copy["payload"]["artifacts"][0]["expires"],
            json!("2017-10-20T19:33:03.000Z")
        );
        assert_eq!(
            copy["payload"]["artifacts"][1],
            json!({"name": "public/build"})
        );
        assert_eq!(copy["deadline"], json!("2017-10-11T19:33:03.000Z"));
        assert_eq!(copy.get("expires"), None, "absent stays absent");
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
