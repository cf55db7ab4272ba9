//! The task model the rules judge: one task's identity, where it stands,
//! and its exact definition (kept so a retrigger copy can be made from it).
//! Pure data; `taskcluster::snapshot` builds it from what the queue answers.

use crate::types::{TaskGroupId, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// One task of a pull request's task groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub task_id: TaskId,
    /// `tags.label`, else `metadata.name`.
    pub label: String,
    /// `metadata.name`.
    pub name: String,
    pub task_group_id: TaskGroupId,
    pub state: TaskState,
    /// Number of runs so far (0 for an unscheduled task).
    pub runs: u32,
    /// `reasonResolved` of the last run, if it resolved.
    pub last_reason_resolved: Option<String>,
    pub created: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub dependencies: Vec<TaskId>,
    /// Tasks of the same group that depend on this one.
    pub dependents: Vec<TaskId>,
    /// `taskQueueId`, or `provisionerId/workerType` for older definitions.
    pub task_queue_id: String,
    pub tags: BTreeMap<String, String>,
    /// `extra.treeherder`, when present.
    pub treeherder: Option<serde_json::Value>,
    pub routes: Vec<String>,
    /// The task definition exactly as the queue returned it.
    pub definition: serde_json::Value,
}
