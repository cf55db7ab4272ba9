//! Reading the queue's answers (`listTaskGroup` entries) into the task model
//! the rules judge ([`TaskSnapshot`], owned by `policy::task`): each entry is
//! folded into a compact snapshot as it is read ([`GroupFold`]), so a group
//! of tens of thousands of tasks never sits in memory as JSON.

use crate::policy::tags::{Interner, Tags};
use crate::policy::task::{artifact_sources, provenance_fields, TaskSnapshot, TaskState};
use crate::types::{TaskGroupId, TaskId};
use chrono::{DateTime, Utc};

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

/// [`snapshot_from_entry`], sharing ids and recurring strings (tags, the
/// label, the queue, the job kind, the last reason) through `interner`:
/// a dependency names the same id as the task it depends on.
fn snapshot_interned(
    status: &serde_json::Value,
    task: &serde_json::Value,
    interner: &mut Interner,
) -> Result<TaskSnapshot, SnapshotError> {
    let str_of = |v: &'_ serde_json::Value, key: &str| -> Option<String> {
        v.get(key).and_then(|x| x.as_str()).map(str::to_owned)
    };
    let id_text = status
        .get("taskId")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let fail = |reason: &str| SnapshotError {
        task_id: id_text.to_owned(),
        reason: reason.to_owned(),
    };
    if id_text.is_empty() {
        return Err(fail("status has no taskId"));
    }
    let state: TaskState = serde_json::from_value(status.get("state").cloned().unwrap_or_default())
        .map_err(|_| fail("unknown state"))?;
    let runs = status
        .get("runs")
        .and_then(|r| r.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let time = |key: &str| -> Result<DateTime<Utc>, SnapshotError> {
        task.get(key)
            .and_then(|t| t.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| fail(&format!("missing or invalid {key}")))
    };
    let (created, deadline, expires) = (time("created")?, time("deadline")?, time("expires")?);
    let task_id = TaskId(interner.intern(id_text));
    let name_text = task
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or(id_text);
    let tags = Tags::interned(
        task.get("tags")
            .and_then(|t| t.as_object())
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        interner,
    );
    let label = tags
        .get_shared("label")
        .unwrap_or_else(|| interner.intern(name_text));
    let name = (name_text != &*label).then(|| interner.intern(name_text));
    let group_text = status
        .get("taskGroupId")
        .or_else(|| task.get("taskGroupId"))
        .and_then(|g| g.as_str())
        .unwrap_or_default();
    let task_queue_id = match task.get("taskQueueId").and_then(|q| q.as_str()) {
        Some(queue) => interner.intern(queue),
        None => match (str_of(task, "provisionerId"), str_of(task, "workerType")) {
            (Some(p), Some(w)) => interner.intern(&format!("{p}/{w}")),
            _ => interner.intern(""),
        },
    };
    let ids = |list: Option<&serde_json::Value>, interner: &mut Interner| -> Vec<TaskId> {
        let mut out: Vec<TaskId> = list
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .map(|x| TaskId(interner.intern(x)))
            .collect();
        out.shrink_to_fit();
        out
    };
    let dependencies = ids(task.get("dependencies"), interner);
    let mut consumes: Vec<TaskId> = artifact_sources(task)
        .iter()
        .map(|t| TaskId(interner.intern(t.as_str())))
        .collect();
    consumes.shrink_to_fit();
    let last = runs.last();
    Ok(TaskSnapshot {
        provenance: (id_text == group_text).then(|| Box::new(provenance_fields(task))),
        task_id,
        label,
        name,
        task_group_id: TaskGroupId(interner.intern(group_text)),
        state,
        runs: u32::try_from(runs.len()).unwrap_or(u32::MAX),
        ran: last.is_some_and(|r| r.get("started").is_some()),
        last_reason_resolved: last
            .and_then(|r| r.get("reasonResolved"))
            .and_then(|r| r.as_str())
            .map(|r| interner.intern(r)),
        created,
        deadline,
        expires,
        dependencies,
        consumes,
        dependents: Vec::new(),
        task_queue_id,
        tags,
        job_kind: task
            .pointer("/extra/treeherder/jobKind")
            .and_then(|k| k.as_str())
            .map(|k| interner.intern(k)),
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
    /// the entries that could not be read. Dependents are found through
    /// the tasks' positions sorted by id (no map of id copies): counted
    /// first, so each list is allocated once at its size, then filled with
    /// shared ids.
    pub fn finish(self) -> (Vec<TaskSnapshot>, Vec<SnapshotError>) {
        let GroupFold {
            mut tasks, errors, ..
        } = self;
        let mut by_id: Vec<u32> = (0..u32::try_from(tasks.len()).unwrap_or(u32::MAX)).collect();
        by_id.sort_unstable_by(|a, b| tasks[*a as usize].task_id.cmp(&tasks[*b as usize].task_id));
        let position = |tasks: &[TaskSnapshot], id: &TaskId| -> Option<usize> {
            by_id
                .binary_search_by(|i| tasks[*i as usize].task_id.cmp(id))
                .ok()
                .map(|found| by_id[found] as usize)
        };
        let mut counts = vec![0u32; tasks.len()];
        for task in &tasks {
            for dep in &task.dependencies {
                if let Some(i) = position(&tasks, dep) {
                    counts[i] += 1;
                }
            }
        }
        for (task, count) in tasks.iter_mut().zip(&counts) {
            task.dependents = Vec::with_capacity(*count as usize);
        }
        for at in 0..tasks.len() {
            for d in 0..tasks[at].dependencies.len() {
                let dep = &tasks[at].dependencies[d];
                if let Some(i) = position(&tasks, dep) {
                    let id = tasks[at].task_id.clone();
                    tasks[i].dependents.push(id);
                }
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
    use std::sync::Arc;

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
        assert_eq!(&*tasks[0].label, "label-A");
        assert_eq!(tasks[0].last_reason_resolved.as_deref(), Some("failed"));
    }

    #[test]
    fn ids_and_strings_are_shared_and_a_name_equal_to_the_label_is_not_kept() {
        let deadline = Some("2026-11-23T10:00:00.000Z");
        // A's name is its label (taskgraph's usual case); B's is the id.
        let mut plain = entry("A", &[], deadline);
        plain["task"]["metadata"]["name"] = "label-A".into();
        let entries = [
            plain,
            entry("B", &["A"], deadline),
            entry("C", &["A", "B"], deadline),
        ];
        let (tasks, errors) = readable_snapshots(&entries);
        assert!(errors.is_empty(), "{errors:?}");
        let [a, b, c] = &tasks[..] else {
            panic!("three tasks: {tasks:?}")
        };
        assert_eq!(a.name, None, "a name equal to the label is not stored");
        assert_eq!(a.name(), "label-A");
        assert_eq!(b.name(), "B");
        assert_eq!(&*b.label, "label-B");
        assert_eq!(a.dependents, [TaskId::from("B"), TaskId::from("C")]);
        assert_eq!(b.dependents, [TaskId::from("C")]);
        assert!(c.dependents.is_empty());
        // The dependency, the dependent and the task name one string.
        assert!(Arc::ptr_eq(&a.task_id.0, &c.dependencies[0].0));
        assert!(Arc::ptr_eq(&c.task_id.0, &a.dependents[1].0));
        assert!(Arc::ptr_eq(&a.task_group_id.0, &c.task_group_id.0));
        assert!(Arc::ptr_eq(&a.task_queue_id, &c.task_queue_id));
        let reasons: Vec<_> = tasks
            .iter()
            .filter_map(|t| t.last_reason_resolved.clone())
            .collect();
        assert!(Arc::ptr_eq(&reasons[0], &reasons[2]));
        // The label is the label tag's own string.
        let tag = a.tags.get_shared("label").expect("label tag");
        assert!(Arc::ptr_eq(&a.label, &tag));
    }
}
