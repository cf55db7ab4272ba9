//! The auth service's `expandScopes`, as far as the sandbox needs it:
//! `POST <root>/api/auth/v1/scopes/expand` with `{scopes: [...]}` answers
//! `{scopes: [...]}`, the set expanded through the sandbox's role table
//! ([`super::roles`]) and normalized as the auth service does (sorted, no
//! duplicates, no scope that a `*` scope of the set already covers).
//!
//! Like the real endpoint it requires no scope (services/auth `expandScopes`
//! declares none); the caller must still authenticate if it sends a Hawk
//! header. A body that is not `{scopes: [string]}` answers 400 InputError.

use super::roles::{expand, SandboxRole};
use super::scopes::satisfies;
use super::state::{error_reply, Reply};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The auth API routes the sandbox serves (path after `/api/auth/v1/`).
pub fn route(
    method: &str,
    rest: &str,
    body: Option<&Value>,
    roles: &[SandboxRole],
    now: DateTime<Utc>,
) -> Reply {
    match (method, rest) {
        ("POST", "scopes/expand") => expand_scopes(body, roles, now),
        _ => error_reply(
            404,
            "ResourceNotFound",
            "sandbox",
            &format!("no such endpoint: {method} /api/auth/v1/{rest}"),
            now,
        ),
    }
}

fn expand_scopes(body: Option<&Value>, roles: &[SandboxRole], now: DateTime<Utc>) -> Reply {
    let scopes: Option<Vec<String>> = body
        .and_then(|b| b.get("scopes"))
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect());
    match scopes {
        Some(scopes) => Reply {
            status: 200,
            body: json!({ "scopes": normalize(expand(&scopes, roles)) }),
        },
        None => error_reply(
            400,
            "InputError",
            "expandScopes",
            "Input body must be `{\"scopes\": [string]}`",
            now,
        ),
    }
}

/// Sorted, without duplicates, and without scopes another (star) scope of
/// the set satisfies.
pub fn normalize(mut scopes: Vec<String>) -> Vec<String> {
    scopes.sort();
    scopes.dedup();
    let stars: Vec<String> = scopes
        .iter()
        .filter(|s| s.ends_with('*'))
        .cloned()
        .collect();
    scopes
        .into_iter()
        .filter(|s| {
            !stars
                .iter()
                .any(|star| star != s && satisfies(std::slice::from_ref(star), s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn normalize_drops_covered_scopes() {
        let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
            (vec!["b", "a", "b"], vec!["a", "b"]),
            (
                vec!["queue:*", "queue:rerun-task:x", "z"],
                vec!["queue:*", "z"],
            ),
            (vec!["a:*", "a:b:*"], vec!["a:*"]),
            (vec!["*", "anything"], vec!["*"]),
        ];
        for (given, want) in cases {
            assert_eq!(normalize(owned(&given)), owned(&want), "{given:?}");
        }
    }

    #[test]
    fn a_body_without_scopes_is_an_input_error() {
        let now = Utc::now();
        for body in [json!({}), json!({"scopes": "x"}), json!({"scopes": [1]})] {
            let reply = route("POST", "scopes/expand", Some(&body), &[], now);
            assert_eq!(reply.status, 400, "{body}");
            assert_eq!(reply.body["code"], "InputError");
        }
        let roles = vec![SandboxRole::new("r", &["x:1"])];
        let reply = route(
            "POST",
            "scopes/expand",
            Some(&json!({"scopes": ["assume:r"]})),
            &roles,
            now,
        );
        assert_eq!(reply.body, json!({"scopes": ["assume:r", "x:1"]}));
    }
}
