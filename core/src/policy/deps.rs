//! The graph around a task, as the rules see it (DESIGN.md §6): where its
//! dependencies stand (in the pull request's groups, or looked up outside
//! them), who depends on it in any group, and which phase it belongs to.

use super::task::{TaskSnapshot, TaskState};
use super::Outside;
use crate::types::TaskId;
use std::collections::{BTreeMap, BTreeSet};

/// One dependency, named for the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DepRef {
    pub task_id: TaskId,
    /// Its label when it is among the tasks, else its taskId.
    pub label: String,
    /// Its state, when known.
    pub state: Option<TaskState>,
    /// Its run count, when it is among the tasks.
    pub runs: Option<u32>,
}

/// A task's dependencies by where they stand.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deps {
    /// Failed or exception.
    pub failed: Vec<DepRef>,
    /// Unscheduled, pending or running.
    pub unresolved: Vec<DepRef>,
    /// Outside the tasks and not looked up (or the lookup failed).
    pub unknown: Vec<DepRef>,
    /// Completed.
    pub completed: Vec<DepRef>,
}

impl Deps {
    pub fn all_completed(&self) -> bool {
        self.failed.is_empty() && self.unresolved.is_empty() && self.unknown.is_empty()
    }

    pub fn labels_failed(&self) -> Vec<String> {
        self.failed.iter().map(|d| d.label.clone()).collect()
    }

    /// Unresolved and unknown: neither can be counted on.
    pub fn labels_unresolved(&self) -> Vec<String> {
        self.unresolved
            .iter()
            .chain(&self.unknown)
            .map(|d| d.label.clone())
            .collect()
    }
}

pub(crate) struct Graph<'a> {
    by_id: BTreeMap<&'a str, &'a TaskSnapshot>,
    outside: &'a Outside,
}

impl<'a> Graph<'a> {
    pub fn new(tasks: &'a [TaskSnapshot], outside: &'a Outside) -> Self {
        Graph {
            by_id: tasks.iter().map(|t| (t.task_id.as_str(), t)).collect(),
            outside,
        }
    }

    pub fn deps(&self, task: &TaskSnapshot) -> Deps {
        let mut deps = Deps::default();
        for id in &task.dependencies {
            let (state, label, runs) = match self.by_id.get(id.as_str()) {
                Some(t) => (Some(t.state), t.label.to_string(), Some(t.runs)),
                None => (self.outside.states.get(id).copied(), id.to_string(), None),
            };
            let dep = DepRef {
                task_id: id.clone(),
                label,
                state,
                runs,
            };
            match state {
                Some(TaskState::Completed) => deps.completed.push(dep),
                Some(s) if s.is_broken() => deps.failed.push(dep),
                Some(_) => deps.unresolved.push(dep),
                None => deps.unknown.push(dep),
            }
        }
        deps
    }

    /// How many tasks depend on `task`: in its group, and in any group as
    /// the queue's `listDependentTasks` answered (when looked up).
    pub fn dependents(&self, task: &TaskSnapshot) -> usize {
        let mut all: BTreeSet<&TaskId> = task.dependents.iter().collect();
        if let Some(list) = self.outside.dependents.get(&task.task_id) {
            all.extend(list);
        }
        all.len()
    }

    /// A dependency in another group than the task's own (or outside the
    /// tasks altogether): artifacts of an earlier release-promotion phase.
    pub fn depends_outside_group(&self, task: &TaskSnapshot) -> bool {
        task.dependencies
            .iter()
            .any(|id| match self.by_id.get(id.as_str()) {
                Some(dep) => dep.task_group_id != task.task_group_id,
                None => true,
            })
    }

    /// A task of a post-build release phase (promote, push, ship): its
    /// group was made by an action (release promotion), or it takes
    /// artifacts from another group.
    pub fn post_build_phase(&self, task: &TaskSnapshot) -> bool {
        let root = self.by_id.get(task.task_group_id.as_str());
        root.is_some_and(|r| r.kind() == Some("action-callback"))
            || self.depends_outside_group(task)
    }
}
