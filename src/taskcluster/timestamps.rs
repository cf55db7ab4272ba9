//! Finding and shifting the RFC 3339 timestamps inside task definitions and
//! statuses. Used by the retrigger copy and by fixture rebasing.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

/// Parses `s` when the whole string is an RFC 3339 date-time
/// (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`). Strings that merely contain a
/// date (`--date=2020-...`, `2020-01-01`) are not timestamps.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let shaped = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shaped {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The queue's timestamp format: UTC, millisecond precision, `Z`
/// (JavaScript's `Date.toJSON()`).
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Shifts every timestamp string anywhere in `value` (object values and
/// array items, at any depth; never object keys) by `delta`, rewriting it in
/// the queue's format. Returns how many were shifted.
pub fn shift_all(value: &mut Value, delta: Duration) -> usize {
    match value {
        Value::String(s) => match parse_timestamp(s) {
            Some(t) => {
                *s = format_timestamp(t + delta);
                1
            }
            None => 0,
        },
        Value::Array(items) => items.iter_mut().map(|v| shift_all(v, delta)).sum(),
        Value::Object(map) => map.values_mut().map(|v| shift_all(v, delta)).sum(),
        _ => 0,
    }
}

/// Rebases a fixture (a `listTaskGroup` response) so that the moment it was
/// captured becomes `now`. That moment is its latest event: the latest task
/// `created` or run `scheduled` / `started` / `resolved`. Every timestamp
/// moves by the same delta, so relative times are kept: deadlines that had
/// passed when the fixture was captured (a deadline-exceeded task) stay in
/// the past, the others land in the future. Returns the delta applied.
pub fn rebase_times(list: &mut Value, now: DateTime<Utc>) -> Duration {
    let mut events: Vec<DateTime<Utc>> = Vec::new();
    for entry in list
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let created = entry.pointer("/task/created").and_then(Value::as_str);
        events.extend(created.and_then(parse_timestamp));
        let runs = entry.pointer("/status/runs").and_then(Value::as_array);
        for run in runs.into_iter().flatten() {
            for key in ["scheduled", "started", "resolved"] {
                events.extend(
                    run.get(key)
                        .and_then(Value::as_str)
                        .and_then(parse_timestamp),
                );
            }
        }
    }
    let Some(latest) = events.into_iter().max() else {
        return Duration::zero();
    };
    let delta = truncate_millis(now) - latest;
    shift_all(list, delta);
    delta
}

/// `t` without sub-millisecond digits, so shifted values are exact.
pub fn truncate_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognizes_only_whole_timestamps() {
        let cases = [
            ("2017-10-10T18:33:03.460Z", true),
            ("2017-10-10T18:33:03Z", true),
            ("2017-10-10T18:33:03.460+02:00", true),
            ("2017-10-10", false),
            ("--date=2017-10-10T18:33:03Z", false),
            ("2017-10-10T18:33:03.460Z ", false),
            ("2017-13-10T18:33:03.460Z", false),
            ("not a date at all, long enough", false),
            ("ééééééééééééééééééééé", false),
        ];
        for (s, expected) in cases {
            assert_eq!(parse_timestamp(s).is_some(), expected, "{s}");
        }
    }

    #[test]
    fn shifts_nested_values_not_keys() {
        let mut v = json!({
            "2017-10-10T18:33:03.460Z": "2017-10-10T18:33:03.460Z",
            "list": ["2017-10-10T18:33:03Z", 5, "x"],
            "deep": {"a": {"b": "2017-10-10T20:33:03.460+02:00"}}
        });
        let n = shift_all(&mut v, Duration::seconds(1));
        assert_eq!(n, 3);
        assert_eq!(
            v,
            json!({
                "2017-10-10T18:33:03.460Z": "2017-10-10T18:33:04.460Z",
                "list": ["2017-10-10T18:33:04.000Z", 5, "x"],
                "deep": {"a": {"b": "2017-10-10T18:33:04.460Z"}}
            })
        );
    }

    #[test]
    fn rebase_moves_latest_created_to_now() {
        let mut list = json!({"tasks": [
            {"task": {"created": "2020-01-01T00:00:00.000Z", "deadline": "2020-01-02T00:00:00.000Z"}},
            {"task": {"created": "2020-01-03T00:00:00.000Z", "deadline": "2020-01-04T00:00:00.000Z"}}
        ]});
        let now = "2026-01-01T12:00:00.000Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        rebase_times(&mut list, now);
        assert_eq!(
            list.pointer("/tasks/1/task/created"),
            Some(&json!("2026-01-01T12:00:00.000Z"))
        );
        assert_eq!(
            list.pointer("/tasks/0/task/deadline"),
            Some(&json!("2025-12-31T12:00:00.000Z"))
        );
        assert_eq!(
            list.pointer("/tasks/1/task/deadline"),
            Some(&json!("2026-01-02T12:00:00.000Z"))
        );
    }
}
