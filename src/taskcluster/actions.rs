//! In-tree actions (DESIGN.md §8): the decision task's `public/actions.json`,
//! choosing an action by name and task context, rendering its `hookPayload`
//! with JSON-e after validating the input against the action's schema, the
//! `in-tree:hook-action` check, and recognising the action task a trigger
//! made (a resumed job looks for it before triggering again, §10).
//!
//! Pure: the calls that fetch `actions.json`, expand scopes and trigger
//! hooks live in `client` and `hooks`.

use crate::policy::tags::Tags;
use crate::types::TaskId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the decision task publishes its actions.
pub const ACTIONS_ARTIFACT: &str = "public/actions.json";
/// Where an action task lists the tasks it created (taskgraph).
pub const TASK_GRAPH_ARTIFACT: &str = "public/task-graph.json";

/// `public/actions.json`, version 1.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ActionsJson {
    pub version: u64,
    #[serde(default)]
    pub variables: Map<String, Value>,
    pub actions: Vec<ActionDef>,
}

/// One entry of `actions`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionDef {
    pub name: String,
    #[serde(default)]
    pub title: String,
    pub kind: String,
    /// Tag-sets: the action applies to a task whose tags hold every
    /// key/value of one of them. `[]`: a group action (no task).
    #[serde(default)]
    pub context: Vec<Map<String, Value>>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub hook_group_id: Option<String>,
    #[serde(default)]
    pub hook_id: Option<String>,
    #[serde(default)]
    pub hook_payload: Option<Value>,
}

/// A hook trigger, rendered and checked, ready to send (stored with the
/// plan, so a resumed job sends exactly this or finds what it made).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookTrigger {
    /// The action's `name` (`rerun`, `retrigger`, ...).
    pub action: String,
    /// The callback the action task runs (`hookPayload.decision.action.cb_name`
    /// in taskgraph's actions), when the payload names it.
    #[serde(default)]
    pub callback: Option<String>,
    pub hook_group_id: String,
    pub hook_id: String,
    /// The decision task's id: the group the action task runs in.
    pub task_group_id: String,
    /// The task acted on; `None` for a group action.
    pub target: Option<TaskId>,
    pub input: Value,
    /// The rendered `hookPayload`: the body of `triggerHook`.
    pub payload: Value,
}

impl HookTrigger {
    /// The scope the decision task's scopes must satisfy for this hook.
    pub fn in_tree_scope(&self) -> String {
        in_tree_scope(&self.hook_group_id, &self.hook_id)
    }
}

/// Why an action cannot be triggered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("actions.json is not usable: {0}")]
    Unreadable(String),
    #[error("actions.json version {0} is not supported (only version 1)")]
    Version(u64),
    #[error("action `{0}` is of kind `{1}`, not `hook`")]
    NotHook(String, String),
    #[error("action `{0}` has no {1}")]
    Incomplete(String, &'static str),
    #[error("input rejected by the action's schema: {0}")]
    InvalidInput(String),
    #[error("cannot render the action's hookPayload: {0}")]
    Render(String),
}

/// Reads `actions.json`.
pub fn parse_actions(bytes: &[u8]) -> Result<ActionsJson, ActionError> {
    let actions: ActionsJson =
        serde_json::from_slice(bytes).map_err(|e| ActionError::Unreadable(e.to_string()))?;
    if actions.version != 1 {
        return Err(ActionError::Version(actions.version));
    }
    Ok(actions)
}

impl ActionsJson {
    /// The action `name` that applies to a task with `tags` (`None`: a
    /// group action): among actions of that name, the first whose context
    /// applies wins (taskgraph lists the specific ones first, e.g.
    /// `retrigger` for `retrigger: "true"` tasks before the one that needs
    /// `force` for the rest).
    pub fn select(&self, name: &str, tags: Option<&Tags>) -> Option<&ActionDef> {
        self.actions
            .iter()
            .filter(|a| a.name == name)
            .find(|a| applies(&a.context, tags))
    }

    /// Renders `action` for `target` in the group of `task_group_id`, after
    /// checking `input` against the action's schema.
    pub fn render(
        &self,
        action: &ActionDef,
        task_group_id: &str,
        target: Option<&TaskId>,
        input: Value,
    ) -> Result<HookTrigger, ActionError> {
        if action.kind != "hook" {
            return Err(ActionError::NotHook(
                action.name.clone(),
                action.kind.clone(),
            ));
        }
        let missing = |what| ActionError::Incomplete(action.name.clone(), what);
        let hook_group_id = action.hook_group_id.clone().ok_or(missing("hookGroupId"))?;
        let hook_id = action.hook_id.clone().ok_or(missing("hookId"))?;
        let template = action.hook_payload.as_ref().ok_or(missing("hookPayload"))?;
        if let Some(schema) = &action.schema {
            validate_input(schema, &input)?;
        }
        // The variables come first: they may not replace what identifies
        // the action task (taskGroupId, taskId, input), which a resumed job
        // compares.
        let mut context = self.variables.clone();
        context.insert("taskGroupId".into(), Value::from(task_group_id));
        context.insert(
            "taskId".into(),
            target.map_or(Value::Null, |t| Value::from(t.as_str())),
        );
        context.insert("input".into(), input.clone());
        let payload = json_e::render(template, &Value::Object(context))
            .map_err(|e| ActionError::Render(e.to_string()))?;
        let callback = payload
            .pointer("/decision/action/cb_name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(HookTrigger {
            action: action.name.clone(),
            callback,
            hook_group_id,
            hook_id,
            task_group_id: task_group_id.to_owned(),
            target: target.cloned(),
            input,
            payload,
        })
    }
}

/// Whether a context (list of tag-sets) applies to a task with `tags`.
fn applies(context: &[Map<String, Value>], tags: Option<&Tags>) -> bool {
    match tags {
        None => context.is_empty(),
        Some(tags) => context.iter().any(|set| {
            set.iter()
                .all(|(k, v)| tags.get(k).is_some_and(|t| v.as_str() == Some(t)))
        }),
    }
}

fn validate_input(schema: &Value, input: &Value) -> Result<(), ActionError> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| ActionError::InvalidInput(format!("the schema is invalid: {e}")))?;
    let errors: Vec<String> = validator
        .iter_errors(input)
        .take(3)
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ActionError::InvalidInput(errors.join("; ")))
    }
}

/// `in-tree:hook-action:<hookGroupId>/<hookId>`.
pub fn in_tree_scope(hook_group_id: &str, hook_id: &str) -> String {
    format!("in-tree:hook-action:{hook_group_id}/{hook_id}")
}

/// Whether `granted` (expanded) satisfies `required`: an exact match, or a
/// granted scope ending in `*` whose prefix starts it.
pub fn scope_satisfied(granted: &[String], required: &str) -> bool {
    granted.iter().any(|g| match g.strip_suffix('*') {
        Some(prefix) => required.starts_with(prefix),
        None => g == required,
    })
}

/// Margin for the clocks of the hooks service and ours: an action task
/// created this long before the intent was recorded still counts as the
/// one the trigger made. Adopting an identical action task someone else
/// triggered a moment earlier does the same work; missing ours would
/// trigger it twice.
pub const CLOCK_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// Whether `definition` is the action task `trigger` would make, created
/// at or after `intent` (less [`CLOCK_MARGIN`]): same group, callback (or
/// action name), target and input. Read from `extra.action` (taskgraph's
/// `.taskcluster.yml`), else from the `ACTION_*` environment variables.
pub fn is_action_task_for(
    definition: &Value,
    trigger: &HookTrigger,
    intent: DateTime<Utc>,
) -> bool {
    let created = definition
        .get("created")
        .and_then(Value::as_str)
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok());
    let Some(created) = created else {
        return false;
    };
    if created.with_timezone(&Utc) < intent - CLOCK_MARGIN {
        return false;
    }
    if definition.get("taskGroupId").and_then(Value::as_str) != Some(trigger.task_group_id.as_str())
    {
        return false;
    }
    let Some(seen) = ActionTaskFacts::of(definition) else {
        return false;
    };
    let same_callback = match (&seen.callback, &trigger.callback) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => seen.name.as_deref() == Some(trigger.action.as_str()),
    };
    let target = trigger
        .target
        .as_ref()
        .map_or(Value::Null, |t| Value::from(t.as_str()));
    same_callback && seen.target == target && seen.input == trigger.input
}

/// Whether `definition` looks like an action task at all (`extra.action`,
/// or the `ACTION_*` environment variables): the only definitions kept
/// when a group is searched for one.
pub fn is_action_task(definition: &Value) -> bool {
    ActionTaskFacts::of(definition).is_some()
}

/// What an action task says about the action it carries out.
struct ActionTaskFacts {
    name: Option<String>,
    callback: Option<String>,
    target: Value,
    input: Value,
}

impl ActionTaskFacts {
    fn of(definition: &Value) -> Option<Self> {
        let env = definition.pointer("/payload/env");
        let env_json = |key: &str| {
            env.and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
        };
        let callback = env
            .and_then(|e| e.get("ACTION_CALLBACK"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match definition.pointer("/extra/action") {
            Some(action) => Some(Self {
                name: action
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                callback,
                target: action
                    .pointer("/context/taskId")
                    .cloned()
                    .unwrap_or(Value::Null),
                input: action
                    .pointer("/context/input")
                    .cloned()
                    .unwrap_or(Value::Null),
            }),
            None => Some(Self {
                name: None,
                callback: Some(callback?),
                target: env_json("ACTION_TASK_ID")?,
                input: env_json("ACTION_INPUT")?,
            }),
        }
    }
}

/// A task an action task created, as its `public/task-graph.json` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTask {
    pub task_id: TaskId,
    /// taskgraph's `label` (empty when the entry has none).
    pub label: String,
    /// The created task's `taskGroupId` (empty when the entry has none).
    pub task_group_id: String,
}

/// The tasks an action task created, from its `public/task-graph.json`
/// (taskgraph: an object keyed by taskId), in key order, at most `limit`
/// (the artifact is the action task's to write, so its size is not ours to
/// trust). Keys that are not taskIds are left out.
pub fn created_tasks(task_graph: &Value, limit: usize) -> Vec<CreatedTask> {
    let Some(tasks) = task_graph.as_object() else {
        return Vec::new();
    };
    tasks
        .iter()
        .filter(|(id, _)| is_slugid(id))
        .take(limit)
        .map(|(id, entry)| CreatedTask {
            task_id: TaskId::new(id.as_str()),
            label: text(entry, "/label"),
            task_group_id: text(entry, "/task/taskGroupId"),
        })
        .collect()
}

fn text(entry: &Value, pointer: &str) -> String {
    entry
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A Taskcluster slugid: 22 characters of URL-safe base64.
fn is_slugid(id: &str) -> bool {
    id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
