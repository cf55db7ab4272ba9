//! What the rules need looked up beyond the pull request's task groups
//! before they can judge a comment's commands (DESIGN.md §6): the states of
//! the *selected* tasks' dependencies that live outside the groups, and the
//! dependents in any group of the selected non-test tasks (is it a leaf?).
//! The pipeline does the lookups and hands the answers back as
//! [`Outside`](super::Outside).

use super::plan::{CommandKind, TaskClass};
use super::select::pick;
use crate::command::Command;
use crate::policy::task::TaskSnapshot;
use crate::repo_config::{Classifier, RepoConfig};
use crate::types::TaskId;
use std::collections::BTreeSet;

/// At most this many outside dependencies are looked up per comment.
pub const MAX_STATUS_LOOKUPS: usize = 50;
/// At most this many tasks get a `listDependentTasks` per comment.
pub const MAX_DEPENDENT_LOOKUPS: usize = 20;

/// The task ids to look up, deduplicated, each list capped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    /// `GET /task/<id>/status` of each.
    pub statuses: Vec<TaskId>,
    /// `GET /task/<id>/dependents` of each.
    pub dependents: Vec<TaskId>,
}

/// The lookups `commands` need against `tasks`.
pub fn lookups<'a>(
    commands: impl IntoIterator<Item = &'a Command>,
    tasks: &[TaskSnapshot],
    config: &RepoConfig,
) -> Lookups {
    let classifier = Classifier::new(config);
    let classes: Vec<TaskClass> = tasks.iter().map(|t| classifier.classify(t)).collect();
    let known: BTreeSet<&TaskId> = tasks.iter().map(|t| &t.task_id).collect();
    let mut statuses = BTreeSet::new();
    let mut dependents = BTreeSet::new();
    for command in commands {
        let (kind, selectors) = match command {
            Command::Rerun { selectors, .. } => (CommandKind::Rerun, selectors),
            Command::Retrigger { selectors, .. } => (CommandKind::Retrigger, selectors),
            Command::Help => continue,
        };
        for i in pick(kind, selectors, tasks, &classes).picked {
            let task = &tasks[i];
            statuses.extend(
                task.dependencies
                    .iter()
                    .filter(|d| !known.contains(d))
                    .cloned(),
            );
            if classes[i] != TaskClass::Test {
                dependents.insert(task.task_id.clone());
            }
        }
    }
    Lookups {
        statuses: statuses.into_iter().take(MAX_STATUS_LOOKUPS).collect(),
        dependents: dependents.into_iter().take(MAX_DEPENDENT_LOOKUPS).collect(),
    }
}
