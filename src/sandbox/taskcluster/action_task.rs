//! The action task an in-tree action hook creates, shaped as gecko's
//! `.taskcluster.yml` renders it for `tasks_for == "action"` from the hook's
//! JSON-e context (`payload` = the trigger body, `clientId` = the caller):
//!
//! - `taskGroupId` = `payload.decision.action.taskGroupId` (the decision
//!   task's group), `schedulerId` `gecko-level-<level>`, `taskQueueId`
//!   `gecko-<level>/decision-gcp`, `created` now, `deadline` +1 day,
//!   `expires` +1 year;
//! - `scopes` = `assume:repo:<repository url without https://>:action:<actionPerm>`
//!   (the hook id's `in-tree-action-<level>-<actionPerm>/<hash>`), held
//!   through the hook's role, not the caller's;
//! - `tags` = `{createdForUser, kind: "action-callback"}`;
//! - `extra.parent` = the decision task, `extra.action` = `{name, context:
//!   {taskGroupId, taskId, input, clientId}}`;
//! - `payload.env`: `ACTION_TASK_GROUP_ID`, `ACTION_TASK_ID` (JSON: a
//!   quoted id or `null`), `ACTION_INPUT` (JSON), `ACTION_CALLBACK` (the
//!   action's `cb_name`), which the sandbox worker reads to carry out the
//!   callback ([`super::callbacks`]).

use crate::taskcluster::timestamps::format_timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// A fresh "nice" slugid (UUID v4, first character in `[A-Za-f]`), as the
/// hooks service and taskgraph make task ids.
pub fn nice_slugid() -> String {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f;
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `in-tree-action-<level>-<actionPerm>/<hash>` → `actionPerm`.
pub fn action_perm(hook_id: &str) -> Option<&str> {
    let name = hook_id.strip_prefix("in-tree-action-")?.split('/').next()?;
    let (_level, perm) = name.split_once('-')?;
    Some(perm)
}

fn text<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, String> {
    v.pointer(pointer).and_then(Value::as_str).ok_or_else(|| {
        format!(
            "InterpreterError at template: payload{} is not a string",
            pointer.replace('/', ".")
        )
    })
}

/// Renders the action task for a validated trigger `payload`; `Err` is the
/// JSON-e rendering error (the hooks service answers it as InputError).
pub fn render(
    hook_id: &str,
    payload: &Value,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let group = text(payload, "/decision/action/taskGroupId")?;
    let cb_name = text(payload, "/decision/action/cb_name")?;
    let name = text(payload, "/decision/action/name")?;
    let title = text(payload, "/decision/action/title").unwrap_or(name);
    let symbol = text(payload, "/decision/action/symbol").unwrap_or("A");
    let url = text(payload, "/decision/repository/url")?;
    let project = text(payload, "/decision/repository/project").unwrap_or("unknown");
    let level = text(payload, "/decision/repository/level")?;
    let revision = text(payload, "/decision/push/revision")?;
    let owner = text(payload, "/decision/push/owner").unwrap_or("nobody@mozilla.com");
    let perm = action_perm(hook_id).unwrap_or("generic");
    let repo_path = url.strip_prefix("https://").unwrap_or(url);
    let user = payload.get("user").cloned().unwrap_or_default();
    let target = user.get("taskId").cloned().unwrap_or(Value::Null);
    let input = user.get("input").cloned().unwrap_or(Value::Null);
    Ok(json!({
        "provisionerId": format!("gecko-{level}"),
        "workerType": "decision-gcp",
        "taskQueueId": format!("gecko-{level}/decision-gcp"),
        "schedulerId": format!("gecko-level-{level}"),
        "projectId": "none",
        "taskGroupId": group,
        "dependencies": [],
        "requires": "all-completed",
        "routes": [format!("tc-treeherder.v2.{project}.{revision}")],
        "priority": "lowest",
        "retries": 5,
        "created": format_timestamp(now),
        "deadline": format_timestamp(now + Duration::days(1)),
        "expires": format_timestamp(now + Duration::days(365)),
        "scopes": [format!("assume:repo:{repo_path}:action:{perm}")],
        "payload": {
            "env": {
                "GECKO_HEAD_REPOSITORY": url,
                "GECKO_HEAD_REV": revision,
                "ACTION_TASK_GROUP_ID": group,
                "ACTION_TASK_ID": target.to_string(),
                "ACTION_INPUT": input.to_string(),
                "ACTION_CALLBACK": cb_name,
            },
            "command": ["/builds/worker/bin/run-task", "--", "bash", "-cx",
                "cd /builds/worker/checkouts/gecko && ./mach --log-no-times taskgraph action-callback"],
            "maxRunTime": 1800,
            "artifacts": {
                "public": {"type": "directory", "path": "/builds/worker/artifacts",
                    "expires": format_timestamp(now + Duration::days(365))},
            },
        },
        "metadata": {
            "name": format!("Action: {title}"),
            "description": text(payload, "/decision/action/description").unwrap_or(title),
            "owner": owner,
            "source": format!("{url}/raw/{revision}/.taskcluster.yml"),
        },
        "tags": {"createdForUser": owner, "kind": "action-callback"},
        "extra": {
            "treeherder": {"machine": {"platform": "gecko-decision"}, "groupName": "action-callback",
                "groupSymbol": "AC", "symbol": symbol},
            "parent": group,
            "action": {
                "name": name,
                "context": {"taskGroupId": group, "taskId": target, "input": input, "clientId": client_id},
            },
        },
    }))
}

/// An action task as the sandbox reads it back from its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionTask {
    pub task_id: String,
    pub task_group_id: String,
    /// `ACTION_CALLBACK` (the action's `cb_name`).
    pub callback: String,
    /// The action's name (`extra.action.name`).
    pub name: String,
    /// The target task (`null` for group actions).
    pub target: Option<String>,
    pub input: Value,
    /// `extra.action.context.clientId`: who triggered it.
    pub client_id: String,
    pub created: String,
}

impl ActionTask {
    /// `None` unless `def` is an action task (`tags.kind == "action-callback"`
    /// with `ACTION_CALLBACK` in its env).
    pub fn read(task_id: &str, def: &Value) -> Option<ActionTask> {
        if def.pointer("/tags/kind").and_then(Value::as_str) != Some("action-callback") {
            return None;
        }
        let env = def.pointer("/payload/env")?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let parse = |k: &str| {
            s(env, k)
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .unwrap_or(Value::Null)
        };
        Some(ActionTask {
            task_id: task_id.to_owned(),
            task_group_id: s(def, "taskGroupId").unwrap_or_default(),
            callback: s(env, "ACTION_CALLBACK")?,
            name: def
                .pointer("/extra/action/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            target: parse("ACTION_TASK_ID").as_str().map(str::to_owned),
            input: parse("ACTION_INPUT"),
            client_id: def
                .pointer("/extra/action/context/clientId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            created: s(def, "created").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_ids_name_their_action_perm() {
        let cases = [
            ("in-tree-action-3-generic/7d2c9a4b1e", Some("generic")),
            (
                "in-tree-action-1-release-promotion/7d2c9a4b1e",
                Some("release-promotion"),
            ),
            ("other-hook", None),
        ];
        for (hook, want) in cases {
            assert_eq!(action_perm(hook), want, "{hook}");
        }
        let id = nice_slugid();
        assert_eq!(id.len(), 22);
        assert!(!id.starts_with('-'), "{id}");
    }
}
