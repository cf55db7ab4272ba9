//! Scope satisfaction as the queue checks it, and the 403 message text in
//! the style of taskcluster-lib-api's InsufficientScopes error.

use serde_json::{json, Value};

/// A required scope expression: every item (AllOf) or any item (AnyOf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeExpr {
    Scope(String),
    AllOf(Vec<ScopeExpr>),
    AnyOf(Vec<ScopeExpr>),
}

impl ScopeExpr {
    fn to_json(&self) -> Value {
        match self {
            ScopeExpr::Scope(s) => json!(s),
            ScopeExpr::AllOf(items) => {
                json!({ "AllOf": items.iter().map(Self::to_json).collect::<Vec<_>>() })
            }
            ScopeExpr::AnyOf(items) => {
                json!({ "AnyOf": items.iter().map(Self::to_json).collect::<Vec<_>>() })
            }
        }
    }

    /// The part of the expression `granted` does not satisfy, or `None`.
    fn missing(&self, granted: &[String]) -> Option<ScopeExpr> {
        match self {
            ScopeExpr::Scope(s) => (!satisfies(granted, s)).then(|| self.clone()),
            ScopeExpr::AllOf(items) => {
                let missing: Vec<ScopeExpr> =
                    items.iter().filter_map(|i| i.missing(granted)).collect();
                match missing.len() {
                    0 => None,
                    1 => missing.into_iter().next(),
                    _ => Some(ScopeExpr::AllOf(missing)),
                }
            }
            ScopeExpr::AnyOf(items) => {
                if items.is_empty() || items.iter().any(|i| i.missing(granted).is_none()) {
                    None
                } else {
                    Some(self.clone())
                }
            }
        }
    }
}

/// Whether `granted` satisfies `required`: an exact match, or a granted
/// scope ending in `*` that is a prefix of it.
pub fn satisfies(granted: &[String], required: &str) -> bool {
    granted.iter().any(|g| match g.strip_suffix('*') {
        Some(prefix) => required.starts_with(prefix),
        None => g == required,
    })
}

/// `Ok` when satisfied, else the queue's InsufficientScopes message.
pub fn authorize(client_id: &str, granted: &[String], required: &ScopeExpr) -> Result<(), String> {
    let Some(missing) = required.missing(granted) else {
        return Ok(());
    };
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    Err(format!(
        "Client ID {client_id} does not have sufficient scopes and is missing the following scopes:\n\n```\n{}\n```\n\nThis request requires the client to satisfy the following scope expression:\n\n```\n{}\n```",
        pretty(&missing.to_json()),
        pretty(&required.to_json()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> ScopeExpr {
        ScopeExpr::Scope(x.to_owned())
    }

    #[test]
    fn star_matches_prefixes_only_at_the_end() {
        let granted = vec!["queue:rerun-task:*".to_owned(), "secrets:get:a".to_owned()];
        let cases = [
            ("queue:rerun-task:x/y/z", true),
            ("queue:rerun-task:", true),
            ("queue:rerun-tas", false),
            ("secrets:get:a", true),
            ("secrets:get:ab", false),
        ];
        for (req, expected) in cases {
            assert_eq!(satisfies(&granted, req), expected, "{req}");
        }
    }

    #[test]
    fn message_names_only_the_missing_scopes() {
        let expr = ScopeExpr::AllOf(vec![s("a"), s("b:1"), s("c")]);
        let err = authorize("me", &["a".into()], &expr).expect_err("missing");
        assert!(
            err.starts_with("Client ID me does not have sufficient scopes"),
            "{err}"
        );
        let (missing, _) = err.split_once("This request requires").expect("two parts");
        assert!(
            missing.contains("\"b:1\"") && missing.contains("\"c\"") && !missing.contains("\"a\""),
            "{missing}"
        );
        assert_eq!(authorize("me", &["*".into()], &expr), Ok(()));
        let any = ScopeExpr::AnyOf(vec![s("x"), s("y")]);
        assert_eq!(authorize("me", &["y".into()], &any), Ok(()));
        assert!(authorize("me", &[], &any).is_err());
    }
}
