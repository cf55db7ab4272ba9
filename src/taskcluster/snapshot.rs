//! Reading the queue's answers (`listTaskGroup` entries) into the task model
//! the rules judge ([`TaskSnapshot`], owned by `policy::task`): each entry is
//! folded into a compact snapshot as it is read ([`GroupFold`]), so a group
//! of tens of thousands of tasks never sits in memory as JSON.

use crate::policy::tags::{Interner, Tags};
use crate::policy::task::{artifact_sources, provenance_fields, TaskSnapshot, TaskState};
use crate::types::{TaskGroupId, TaskId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Why a `listTaskGroup` entry cannot be read as a task.
#[derive(Debug, thiserror::Error)]
#[error("task {task_id}: {reason}")]
pub struct SnapshotError {
    pub task_id: String,
    pub reason: String,
}

/// Reads one `{status, task}` entry of a `listTaskGroup` response.
/// `dependents` is left empty; [`snapshots_from_entries`] fills it.
pub fn snapshot_from_entry(
    status: &serde_json::Value,
    task: &serde_json::Value,
) -> Result<TaskSnapshot, SnapshotError> {
    snapshot_interned(status, task, &mut Interner::default())
}

/// [`snapshot_from_entry`], sharing tag strings through `interner`.
fn snapshot_interned(
    status: &serde_json::Value,
    task: &serde_json::Value,
    interner: &mut Interner,
) -> Result<TaskSnapshot, SnapshotError> {
    let task_id = status
        .get("taskId")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let fail = |reason: &str| SnapshotError {
        task_id: task_id.clone(),
        reason: reason.to_owned(),
    };
    if task_id.is_empty() {
        return Err(fail("status has no taskId"));
    }
    let state: TaskState = serde_json::from_value(status.get("state").cloned().unwrap_or_default())
        .map_err(|_| fail("unknown state"))?;
    let runs = status
        .get("runs")
        .and_then(|r| r.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_reason_resolved = runs
        .last()
        .and_then(|r| r.get("reasonResolved"))
        .and_then(|r| r.as_str())
        .map(str::to_owned);
    let text =
        |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
    let time = |key: &str| -> Result<DateTime<Utc>, SnapshotError> {
        text(task, key)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| fail(&format!("missing or invalid {key}")))
    };
    let metadata = task.get("metadata").cloned().unwrap_or_default();
    let name = text(&metadata, "name").unwrap_or_else(|| task_id.clone());
    let tags = Tags::interned(
        task.get("tags")
            .and_then(|t| t.as_object())
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        interner,
    );
    let label = tags
        .get("label")
        .map_or_else(|| name.clone(), str::to_owned);
    let task_group_id = text(status, "taskGroupId")
        .or_else(|| text(task, "taskGroupId"))
        .unwrap_or_default();
    let task_queue_id = text(task, "taskQueueId")
        .or_else(|| {
            Some(format!(
                "{}/{}",
                text(task, "provisionerId")?,
                text(task, "workerType")?
            ))
        })
        .unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        task.get(key)
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(TaskSnapshot {
        task_id: TaskId(task_id.clone()),
        label,
        name,
        provenance: (task_id == task_group_id).then(|| Box::new(provenance_fields(task))),
        task_group_id: TaskGroupId(task_group_id),
        state,
        runs: u32::try_from(runs.len()).unwrap_or(u32::MAX),
        last_reason_resolved,
        ran: runs.last().is_some_and(|r| r.get("started").is_some()),
        created: time("created")?,
        deadline: time("deadline")?,
        expires: time("expires")?,
        dependencies: strings("dependencies").into_iter().map(TaskId).collect(),
        consumes: artifact_sources(task),
        dependents: Vec::new(),
        task_queue_id,
        tags,
        job_kind: task
            .pointer("/extra/treeherder/jobKind")
            .and_then(|k| k.as_str())
            .map(str::to_owned),
    })
}

/// Reads every entry of one or more `listTaskGroup` pages and fills in each
/// task's dependents (within the tasks given). The first unreadable entry is
/// an error (for files a maintainer hands to `rerunbot plan`).
pub fn snapshots_from_entries<'a>(
    entries: impl IntoIterator<Item = &'a serde_json::Value>,
) -> Result<Vec<TaskSnapshot>, SnapshotError> {
    let (tasks, mut errors) = readable_snapshots(entries);
    match errors.is_empty() {
        true => Ok(tasks),
        false => Err(errors.swap_remove(0)),
    }
}

/// Like [`snapshots_from_entries`], but keeps every readable task and
/// returns the unreadable ones apart: one odd task in a live group of
/// thousands must not stop a command about the others.
pub fn readable_snapshots<'a>(
    entries: impl IntoIterator<Item = &'a serde_json::Value>,
) -> (Vec<TaskSnapshot>, Vec<SnapshotError>) {
    let mut fold = GroupFold::default();
    for entry in entries {
        fold.add(entry);
    }
    fold.finish()
}

/// Snapshots built one `{status, task}` entry at a time, as pages arrive;
/// each entry can be dropped once added.
#[derive(Default)]
pub struct GroupFold {
    tasks: Vec<TaskSnapshot>,
    errors: Vec<SnapshotError>,
    /// Tag strings recur on every task: one copy each.
    interner: Interner,
}

impl GroupFold {
    /// Reads one entry into a snapshot (or sets it apart as unreadable).
    pub fn add(&mut self, entry: &serde_json::Value) {
        let null = serde_json::Value::Null;
        let status = entry.get("status").unwrap_or(&null);
        let task = entry.get("task").unwrap_or(&null);
        match snapshot_interned(status, task, &mut self.interner) {
            Ok(snapshot) => self.tasks.push(snapshot),
            Err(e) => self.errors.push(e),
        }
    }

    /// The snapshots, each with its dependents within the tasks read, and
    /// the entries that could not be read.
    pub fn finish(self) -> (Vec<TaskSnapshot>, Vec<SnapshotError>) {
        let GroupFold {
            mut tasks, errors, ..
        } = self;
        let mut dependents: BTreeMap<TaskId, Vec<TaskId>> = BTreeMap::new();
        for task in &tasks {
            for dep in &task.dependencies {
                dependents
                    .entry(dep.clone())
                    .or_default()
                    .push(task.task_id.clone());
            }
        }
        for task in &mut tasks {
            if let Some(list) = dependents.remove(&task.task_id) {
                task.dependents = list;
            }
        }
        tasks.shrink_to_fit();
        (tasks, errors)
    }
}

/// Reads a whole `listTaskGroup` response body (`{"tasks": [...]}`).
pub fn snapshots_from_list(body: &serde_json::Value) -> Result<Vec<TaskSnapshot>, SnapshotError> {
    let entries = body
        .get("tasks")
        .and_then(|t| t.as_array())
        .ok_or_else(|| SnapshotError {
            task_id: String::new(),
            reason: "not a listTaskGroup response: no \"tasks\" array".to_owned(),
        })?;
    snapshots_from_entries(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, deps: &[&str], deadline: Option<&str>) -> serde_json::Value {
        let mut task = json!({
            "taskGroupId": "G", "created": "2026-11-22T10:00:00.000Z",
            "expires": "2027-11-22T10:00:00.000Z", "dependencies": deps,
            "metadata": {"name": id}, "tags": {"label": format!("label-{id}")},
            "taskQueueId": "proj/worker"
        });
        if let Some(deadline) = deadline {
            task["deadline"] = deadline.into();
        }
        json!({"status": {"taskId": id, "taskGroupId": "G", "state": "failed",
                          "runs": [{"runId": 0, "reasonResolved": "failed"}]}, "task": task})
    }

    #[test]
    fn an_unreadable_task_is_set_apart_and_the_rest_kept() {
        let deadline = Some("2026-11-23T10:00:00.000Z");
        let entries = [
            entry("A", &[], deadline),
            entry("B", &["A"], None),
            entry("C", &["A"], deadline),
        ];
        let (tasks, errors) = readable_snapshots(&entries);
        assert_eq!(
            tasks.iter().map(|t| t.task_id.as_str()).collect::<Vec<_>>(),
            ["A", "C"]
        );
        assert_eq!(tasks[0].dependents, vec![TaskId::from("C")]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .contains("task B: missing or invalid deadline"));
        assert!(
            snapshots_from_entries(&entries).is_err(),
            "strict reading refuses"
        );
        assert_eq!(tasks[0].label, "label-A");
        assert_eq!(tasks[0].last_reason_resolved.as_deref(), Some("failed"));
    }
}
