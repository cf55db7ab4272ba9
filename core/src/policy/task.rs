//! The task model the rules judge: one task's identity, where it stands,
//! and the few fields of its definition the rules and the classification
//! read. Pure data; `taskcluster::snapshot` folds what the queue answers
//! into it page by page. Whole definitions are not kept: a group holds up
//! to 50,000 tasks of a few KB each, and only the tasks to be copied need
//! theirs (fetched with `GET /task/<id>` once the plan names them).

pub use super::tags::Tags;
use crate::types::{TaskGroupId, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A task's state as the queue reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Unscheduled,
    Pending,
    Running,
    Completed,
    Failed,
    Exception,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Unscheduled => "unscheduled",
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Exception => "exception",
        }
    }

    /// Failed or exception: the states a bare `/rerun` takes.
    pub fn is_broken(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Exception)
    }

    /// Completed, failed or exception.
    pub fn is_resolved(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Exception
        )
    }
}

/// One task of a pull request's task groups. Kept for every task of a
/// listing (tens of thousands), so its text is shared: ids are reference
/// counted ([`TaskId`]), and the label, queue, job kind and last reason are
/// the listing's shared strings (`taskcluster::snapshot` interns them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub task_id: TaskId,
    /// `tags.label`, else `metadata.name` (the same string as the tag's).
    #[serde(with = "crate::types::shared_str")]
    pub label: Arc<str>,
    /// `metadata.name`, only when it differs from the label (it rarely
    /// does); see [`TaskSnapshot::name`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::types::opt_shared_str"
    )]
    pub name: Option<Arc<str>>,
    pub task_group_id: TaskGroupId,
    pub state: TaskState,
    /// Number of runs so far (0 for an unscheduled task).
    pub runs: u32,
    /// The last run was started by a worker. A task canceled while
    /// unscheduled, or whose deadline passed while it waited, resolved
    /// without running (DESIGN.md §6).
    #[serde(default)]
    pub ran: bool,
    /// `reasonResolved` of the last run, if it resolved.
    #[serde(default, with = "crate::types::opt_shared_str")]
    pub last_reason_resolved: Option<Arc<str>>,
    pub created: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub dependencies: Vec<TaskId>,
    /// The tasks whose artifacts this one downloads ([`artifact_sources`]).
    #[serde(default)]
    pub consumes: Vec<TaskId>,
    /// Tasks of the same group that depend on this one.
    pub dependents: Vec<TaskId>,
    /// `taskQueueId`, or `provisionerId/workerType` for older definitions.
    #[serde(with = "crate::types::shared_str")]
    pub task_queue_id: Arc<str>,
    pub tags: Tags,
    /// `extra.treeherder.jobKind`, when present.
    #[serde(default, with = "crate::types::opt_shared_str")]
    pub job_kind: Option<Arc<str>>,
    /// For a decision task (taskId = taskGroupId) only: the parts of its
    /// definition the provenance check reads ([`provenance_fields`]).
    #[serde(default)]
    pub provenance: Option<Box<serde_json::Value>>,
}

impl TaskSnapshot {
    /// `metadata.name` (the label when no different name was stored).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.label)
    }

    /// `tags.kind` (taskgraph's kind, e.g. `beetmover-repackage`), if any.
    pub fn kind(&self) -> Option<&str> {
        self.tags.get("kind")
    }

    /// A decision or action task: it builds or changes the graph rather
    /// than being part of what the pull request tests.
    pub fn is_decision_or_action(&self) -> bool {
        self.task_id.as_str() == self.task_group_id.as_str()
            || matches!(self.kind(), Some("decision" | "action-callback"))
            || self.tags.contains_key("action")
    }

    /// Resolved `exception` without running: canceled while unscheduled,
    /// or its deadline passed while it waited. When a dependency is not
    /// completed, what is broken is that dependency, not the task, so the
    /// rules judge it as unscheduled (DESIGN.md §6).
    pub fn never_ran(&self) -> bool {
        self.state.is_broken()
            && !self.ran
            && matches!(
                self.last_reason_resolved.as_deref(),
                Some("canceled" | "deadline-exceeded")
            )
    }
}

/// The parts of a decision task's definition that say where its group
/// came from (`policy::provenance` judges them): `metadata.source`, the
/// `*_REPOSITORY`, `*_REV` and `*PULL_REQUEST_NUMBER` strings of
/// `payload.env`, the scopes (the `assume:repo:` role the check reads, and
/// all the others that in-tree actions expand as the decision task's) and
/// `extra.tasks_for`, in the definition's own shape.
pub fn provenance_fields(definition: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Map, Value};
    let wanted = |k: &str| {
        k.ends_with("_REPOSITORY") || k.ends_with("_REV") || k.ends_with("PULL_REQUEST_NUMBER")
    };
    let env: Map<String, Value> = definition
        .pointer("/payload/env")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, v)| wanted(k) && v.is_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let scopes: Vec<Value> = definition
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.is_string())
        .cloned()
        .collect();
    let mut out = serde_json::json!({"payload": {"env": env}, "scopes": scopes});
    if let Some(source) = definition.pointer("/metadata/source") {
        out["metadata"] = serde_json::json!({ "source": source });
    }
    if let Some(tasks_for) = definition.pointer("/extra/tasks_for") {
        out["extra"] = serde_json::json!({ "tasks_for": tasks_for });
    }
    out
}

/// The tasks whose artifacts a definition downloads: the `taskId` of every
/// `payload.upstreamArtifacts` entry (scriptworker), and the `task` of every
/// `MOZ_FETCHES` entry (`payload.env.MOZ_FETCHES`, a JSON string in a final
/// definition) or `fetches` entry (`payload.fetches`, `extra.fetches`).
/// Sorted, without duplicates.
pub fn artifact_sources(definition: &serde_json::Value) -> Vec<TaskId> {
    use serde_json::Value;
    let mut out = std::collections::BTreeSet::new();
    let payload = definition.get("payload");
    let upstream = payload
        .and_then(|p| p.get("upstreamArtifacts"))
        .and_then(Value::as_array);
    for entry in upstream.into_iter().flatten() {
        if let Some(id) = entry.get("taskId").and_then(Value::as_str) {
            out.insert(id.to_owned());
        }
    }
    let mut fetch_lists: Vec<Value> = Vec::new();
    match payload
        .and_then(|p| p.get("env"))
        .and_then(|e| e.get("MOZ_FETCHES"))
    {
        Some(Value::String(text)) => fetch_lists.extend(serde_json::from_str::<Value>(text).ok()),
        Some(list) => fetch_lists.push(list.clone()),
        None => {}
    }
    for holder in [payload, definition.get("extra")].into_iter().flatten() {
        if let Some(list) = holder.get("fetches") {
            fetch_lists.push(list.clone());
        }
    }
    for list in &fetch_lists {
        // `fetches` may be a list, or a map of kind → list (taskgraph's form).
        let entries: Vec<&Value> = match list {
            Value::Array(a) => a.iter().collect(),
            Value::Object(m) => m.values().filter_map(Value::as_array).flatten().collect(),
            _ => Vec::new(),
        };
        for entry in entries {
            if let Some(id) = entry.get("task").and_then(Value::as_str) {
                out.insert(id.to_owned());
            }
        }
    }
    out.into_iter().map(TaskId::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn artifact_sources_of_scriptworker_and_fetch_definitions() {
        let rows: &[(&str, serde_json::Value, &[&str])] = &[
            ("none", json!({"payload": {}}), &[]),
            (
                "upstreamArtifacts",
                json!({"payload": {"upstreamArtifacts": [
                {"taskId": "B", "taskType": "build", "paths": ["a"]},
                {"taskId": "A", "taskType": "signing", "paths": ["b"]},
                {"taskId": "B", "taskType": "build", "paths": ["c"]}]}}),
                &["A", "B"],
            ),
            (
                "MOZ_FETCHES as a JSON string",
                json!({"payload": {"env": {"MOZ_FETCHES":
                "[{\"artifact\": \"public/build/target.tar.bz2\", \"extract\": true, \"task\": \"F\"}]"}}}),
                &["F"],
            ),
            (
                "MOZ_FETCHES unparsable",
                json!({"payload": {"env": {"MOZ_FETCHES": "{task-reference"}}}),
                &[],
            ),
            (
                "fetches map",
                json!({"extra": {"fetches": {"toolchain": [{"task": "T", "artifact": "x"}]}}}),
                &["T"],
            ),
            ("not a definition", json!("x"), &[]),
        ];
        for (name, def, want) in rows {
            let got: Vec<String> = artifact_sources(def)
                .into_iter()
                .map(|t| t.to_string())
                .collect();
            assert_eq!(got, *want, "{name}");
        }
    }
}
