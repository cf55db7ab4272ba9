//! The hooks service's `triggerHook`, for in-tree action hooks:
//! `POST <root>/api/hooks/v1/hooks/<hookGroupId>/<hookId>/trigger`, the
//! hook id URL-encoded (`in-tree-action-3-generic%2F<hash>`) or raw.
//!
//! In the order services/hooks `triggerHook` checks it:
//! 1. Hawk authentication as for the queue (certificates and
//!    `authorizedScopes` included);
//! 2. the caller must hold `hooks:trigger-hook:<hookGroupId>/<hookId>`,
//!    else 403 `InsufficientScopes` (checked before the hook is looked up);
//! 3. an unknown hook answers 404 `ResourceNotFound` ("No such hook");
//! 4. the body must match the hook's `triggerSchema` (gecko's in-tree
//!    action schema: `additionalProperties: false`, `decision` and `user`
//!    required), else 400 `InputError` with ajv's message;
//! 5. the action task ([`super::action_task`]) is created with createTask
//!    under the hook's role, `assume:hook-id:<hookGroupId>/<hookId>`
//!    expanded through the role table — never with the caller's scopes. A
//!    403 from createTask answers 403 `InsufficientScopes` ("The role
//!    `hook-id:…` does not have sufficient scopes to create the task"),
//!    other createTask errors 400 `InputError` ("While calling createTask: …").
//!
//! The answer is the real `trigger-hook-response` shape:
//! `200 {"taskId": "<action task id>", "status": {"taskId": "<same>"}}`
//! (`status.taskId` is the pre-v42 location the schema still carries).
//!
//! Test controls: [`TriggerFault`] makes the next trigger answer 500 after
//! creating the action task, or without creating it; every trigger received
//! is kept ([`TriggerRecord`]), and the action tasks can be read back
//! ([`SandboxQueue::action_tasks`]).

use super::action_task::{self, ActionTask};
use super::json_schema;
use super::roles::expand;
use super::scopes::{authorize, ScopeExpr};
use super::state::{error_reply, Caller, Reply};
use super::{Inner, SandboxQueue};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The hook group of gecko's in-tree actions.
pub const GECKO_HOOK_GROUP: &str = "project-gecko";
/// The `.taskcluster.yml` hash in the fixtures' hook ids.
pub const TCYML_HASH: &str = "7d2c9a4b1e";

/// The generic in-tree action hook id of `level` (`"1"`, `"3"`).
pub fn generic_hook_id(level: &str) -> String {
    format!("in-tree-action-{level}-generic/{TCYML_HASH}")
}

/// A hook the sandbox knows.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxHook {
    pub hook_group_id: String,
    pub hook_id: String,
    pub trigger_schema: Value,
}

/// The trigger schema of gecko's in-tree action hooks (ci-configuration):
/// the `hookPayload` of `actions.json`, rendered.
pub fn in_tree_action_trigger_schema() -> Value {
    json!({
        "type": "object",
        "description": "Information required to trigger this hook, provided by the hookPayload template in actions.json.",
        "properties": {
            "decision": {
                "type": "object",
                "properties": {
                    "action": {"type": "object"},
                    "repository": {"type": "object"},
                    "push": {"type": "object"},
                    "parameters": {"type": "object"},
                    "scope_repository_url": {"type": ["string", "null"]},
                },
                "additionalProperties": false,
                "required": ["action", "repository", "push"],
            },
            "user": {
                "type": "object",
                "properties": {
                    "input": {},
                    "taskId": {"type": ["string", "null"]},
                    "taskGroupId": {"type": "string"},
                },
                "additionalProperties": false,
                "required": ["input", "taskId", "taskGroupId"],
            },
        },
        "additionalProperties": false,
        "required": ["decision", "user"],
    })
}

/// Gecko's generic in-tree action hooks of levels 1 and 3.
pub fn gecko_action_hooks() -> Vec<SandboxHook> {
    ["1", "3"]
        .into_iter()
        .map(|level| SandboxHook {
            hook_group_id: GECKO_HOOK_GROUP.to_owned(),
            hook_id: generic_hook_id(level),
            trigger_schema: in_tree_action_trigger_schema(),
        })
        .collect()
}

/// A fault the next trigger meets (test control).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerFault {
    /// The action task is created, then the call answers this status: the
    /// caller cannot know that the trigger went through.
    CreateThenFail(u16),
    /// The call answers this status and nothing is created.
    FailWithoutCreating(u16),
    /// The action task is created, then the answer is held back this long
    /// (a test stops rerunbot meanwhile: killed between the trigger and
    /// recording its answer).
    CreateThenStall(std::time::Duration),
}

/// One trigger the hooks service received.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRecord {
    pub hook_group_id: String,
    pub hook_id: String,
    /// The authenticated caller.
    pub client_id: String,
    pub payload: Value,
    pub status: u16,
    /// The action task created, if any (also when the answer was a fault).
    pub action_task_id: Option<String>,
}

/// The hooks service's state.
#[derive(Debug, Default)]
pub(crate) struct HooksState {
    pub(crate) triggers: Vec<TriggerRecord>,
    pub(crate) fault: Option<TriggerFault>,
    /// How long the answer being sent is held back (`CreateThenStall`).
    pub(crate) stall: Option<std::time::Duration>,
}

/// Routes under `/api/hooks/v1/`.
pub(crate) fn route(
    inner: &mut Inner,
    method: &str,
    rest: &str,
    body: Option<&Value>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Reply {
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["hooks", group, hook @ .., "trigger"]) if !hook.is_empty() => {
            let hook_id = super::artifacts::percent_decode(&hook.join("/"));
            let payload = body.cloned().unwrap_or(Value::Null);
            let (reply, created) = trigger(inner, group, &hook_id, &payload, caller, now);
            inner.hooks.triggers.push(TriggerRecord {
                hook_group_id: (*group).to_owned(),
                hook_id,
                client_id: caller.client_id.clone(),
                payload,
                status: reply.status,
                action_task_id: created,
            });
            reply
        }
        _ => error_reply(
            404,
            "ResourceNotFound",
            "sandbox",
            &format!("no such endpoint: {method} /api/hooks/v1/{rest}"),
            now,
        ),
    }
}

/// The answer, and the action task created (if any).
fn trigger(
    inner: &mut Inner,
    group: &str,
    hook_id: &str,
    payload: &Value,
    caller: &Caller,
    now: DateTime<Utc>,
) -> (Reply, Option<String>) {
    let method = "triggerHook";
    let required = ScopeExpr::Scope(format!("hooks:trigger-hook:{group}/{hook_id}"));
    if let Err(m) = authorize(&caller.client_id, &caller.scopes, &required) {
        return (
            error_reply(403, "InsufficientScopes", method, &m, now),
            None,
        );
    }
    let Some(hook) = inner
        .config
        .hooks
        .iter()
        .find(|h| h.hook_group_id == group && h.hook_id == hook_id)
        .cloned()
    else {
        return (
            error_reply(404, "ResourceNotFound", method, "No such hook", now),
            None,
        );
    };
    if let Err(m) = json_schema::validate(&hook.trigger_schema, payload) {
        return (error_reply(400, "InputError", method, &m, now), None);
    }
    let injected = |status: u16| {
        error_reply(
            status,
            "InternalServerError",
            method,
            "injected failure (sandbox)",
            now,
        )
    };
    let fault = inner.hooks.fault.take();
    if let Some(TriggerFault::FailWithoutCreating(status)) = fault {
        return (injected(status), None);
    }
    let task = match action_task::render(hook_id, payload, &caller.client_id, now) {
        Ok(task) => task,
        Err(e) => {
            let m = format!("While firing hook:\n\n{e}");
            return (error_reply(400, "InputError", method, &m, now), None);
        }
    };
    let hook_role = Caller {
        client_id: "static/taskcluster/hooks".to_owned(),
        scopes: expand(
            &[format!("assume:hook-id:{group}/{hook_id}")],
            &inner.config.roles,
        ),
    };
    let task_id = action_task::nice_slugid();
    let created = inner.data.create(&task_id, &task, &hook_role, now);
    if created.status >= 300 {
        let code = created.body["code"]
            .as_str()
            .unwrap_or("InternalServerError");
        let message = created.body["message"].as_str().unwrap_or_default();
        let reply = if code == "InsufficientScopes" {
            let m = format!("The role `hook-id:{group}/{hook_id}` does not have sufficient scopes to create the task:\n\n{message}");
            error_reply(403, "InsufficientScopes", method, &m, now)
        } else {
            let m = format!("While calling createTask: {code}\n\n{message}");
            error_reply(400, "InputError", method, &m, now)
        };
        return (reply, None);
    }
    if let Some(TriggerFault::CreateThenFail(status)) = fault {
        return (injected(status), Some(task_id));
    }
    if let Some(TriggerFault::CreateThenStall(length)) = fault {
        inner.hooks.stall = Some(length);
    }
    let body = json!({ "taskId": task_id, "status": { "taskId": task_id } });
    (Reply { status: 200, body }, Some(task_id))
}

impl SandboxQueue {
    /// The next hook trigger meets `fault` (once).
    pub fn fault_next_trigger(&self, fault: TriggerFault) {
        self.shared.lock().hooks.fault = Some(fault);
    }

    /// Every trigger received so far, in order.
    pub fn triggers(&self) -> Vec<TriggerRecord> {
        self.shared.lock().hooks.triggers.clone()
    }

    /// Every action task in the queue (made by a hook, or seeded), in the
    /// order they were added.
    pub fn action_tasks(&self) -> Vec<ActionTask> {
        let inner = self.shared.lock();
        let mut tasks: Vec<_> = inner.data.tasks.iter().collect();
        tasks.sort_by_key(|(_, t)| t.seq);
        tasks
            .into_iter()
            .filter_map(|(id, t)| ActionTask::read(id, &t.definition))
            .collect()
    }

    /// Adds (or replaces) a hook.
    pub fn set_hook(&self, hook: SandboxHook) {
        let mut inner = self.shared.lock();
        let hooks = &mut inner.config.hooks;
        hooks.retain(|h| !(h.hook_group_id == hook.hook_group_id && h.hook_id == hook.hook_id));
        hooks.push(hook);
    }
}
