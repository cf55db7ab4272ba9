//! The rules matrix (DESIGN.md §6), pure: who asked, which tasks, which
//! configuration → one decision per selected task. Wording lives in `reply`.

pub mod auto_rerun;
pub mod copy_ids;
mod deps;
mod engine;
mod lookups;
pub mod plan;
pub mod provenance;
pub mod retry;
mod select;
mod suggest;
pub mod supervise;
pub mod tags;
pub mod task;
pub mod waits;

#[cfg(test)]
mod tests;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;

pub use copy_ids::copy_ids;
pub use engine::plan;
pub use lookups::{lookups, Lookups};
pub use plan::*;

use crate::command::Command;
use crate::repo_config::RepoConfig;
use crate::types::{DeliveryId, Login, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use task::{TaskSnapshot, TaskState};

/// Who wrote the command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub login: Login,
    pub role: Role,
    pub is_pr_author: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrState {
    Open,
    Closed,
    /// Merged: the pipeline passes the merge commit's tasks; plans as open.
    Merged,
}

/// Earlier actions of the app for this pull request's head SHA. The
/// pipeline builds it from the store, and adds what the earlier commands of
/// the same comment planned before planning the next one (so a repeated
/// identical command counts again).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Reruns by the app, by taskId: each task (an original or one of its
    /// copies) has its own `max_reruns_per_task` budget.
    pub reruns_by_task: BTreeMap<String, u32>,
    /// Retrigger copies made for this head SHA (`max_retriggers_per_sha`).
    pub copies: u32,
    /// Tasks created by the earlier commands of this comment
    /// (`max_new_tasks` is per comment).
    pub new_tasks_in_comment: u32,
    /// Tasks the earlier commands of this comment rerun (now, or once a
    /// wait fires): a task depending on one waits for its new run.
    #[serde(default)]
    pub rerun_in_comment: std::collections::BTreeSet<String>,
}

impl Ledger {
    /// Counts the actions of `plan` (for the next command of a comment).
    pub fn record(&mut self, plan: &Plan) {
        for (row, _) in plan.reruns() {
            *self
                .reruns_by_task
                .entry(row.task_id.to_string())
                .or_default() += 1;
            self.rerun_in_comment.insert(row.task_id.to_string());
        }
        let made = u32::try_from(plan.new_tasks()).unwrap_or(u32::MAX);
        self.copies = self.copies.saturating_add(made);
        self.new_tasks_in_comment = self.new_tasks_in_comment.saturating_add(made);
    }
}

/// What the pipeline looked up beyond the pull request's task groups, as
/// [`lookups`] asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outside {
    /// States of dependencies that live outside the tasks (cached
    /// docker-image or toolchain tasks of older groups, an earlier
    /// release-promotion phase); a dependency in neither counts as unknown.
    pub states: BTreeMap<TaskId, TaskState>,
    /// The queue's `listDependentTasks` for a task: its dependents in any
    /// group, later phases included.
    pub dependents: BTreeMap<TaskId, Vec<TaskId>>,
}

/// Everything one command is judged on.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    pub command: &'a Command,
    pub command_text: &'a str,
    /// The tasks of the pull request's latest task groups (of the merge
    /// commit for a merged pull request).
    pub tasks: &'a [TaskSnapshot],
    pub actor: &'a Actor,
    pub config: &'a RepoConfig,
    pub ledger: &'a Ledger,
    pub pr: PrState,
    pub delivery: &'a DeliveryId,
    /// What was looked up beyond `tasks`.
    pub outside: &'a Outside,
    /// 0-based position of this command among the comment's commands; it
    /// keeps copy ids of two commands of one comment (same delivery) apart.
    pub command_index: usize,
    pub now: DateTime<Utc>,
}
