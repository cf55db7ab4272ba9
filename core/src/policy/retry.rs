//! What automatic reruns and `rerunbot supervise` share (DESIGN.md §13):
//! when a group has resolved, how large a share of it failed (the guard
//! above which nothing is rerun), which labels a glob list selects, and
//! whether a task has reruns left. Pure.

use super::task::{TaskSnapshot, TaskState};
use globset::{Glob, GlobMatcher};

/// Nothing is pending or running any more (tasks that are unscheduled
/// behind a failed dependency never start on their own).
pub fn group_resolved(tasks: &[TaskSnapshot]) -> bool {
    !tasks
        .iter()
        .any(|t| matches!(t.state, TaskState::Pending | TaskState::Running))
}

/// How many tasks of a group failed, of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureShare {
    pub failed: usize,
    pub total: usize,
}

impl FailureShare {
    pub fn of(tasks: &[TaskSnapshot]) -> Self {
        FailureShare {
            failed: tasks.iter().filter(|t| t.state.is_broken()).count(),
            total: tasks.len(),
        }
    }

    /// Whole percent, rounded down.
    pub fn percent(self) -> usize {
        self.failed * 100 / self.total.max(1)
    }

    /// More than `limit` percent failed: a real breakage, not flakiness.
    pub fn over(self, limit: u32) -> bool {
        self.percent() > limit as usize
    }
}

/// Labels selected by globs (an empty list selects every label; a glob
/// that does not compile selects nothing).
pub struct Selection(Vec<GlobMatcher>, bool);

impl Selection {
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Self {
        let matchers = globs
            .iter()
            .filter_map(|g| Glob::new(g.as_ref()).ok().map(|g| g.compile_matcher()))
            .collect();
        Selection(matchers, globs.is_empty())
    }

    pub fn selects(&self, label: &str) -> bool {
        self.1 || self.0.iter().any(|g| g.is_match(label))
    }
}

/// Reruns made so far below the limit.
pub fn attempts_left(made: u32, max: u32) -> bool {
    made < max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testutil::*;

    #[test]
    fn shares_and_selections_by_rule() {
        let t = |state| task("i", "l").state(state);
        let rows: Vec<(Vec<TaskState>, bool, usize, bool)> = vec![
            // tasks, resolved, percent, over 50
            (vec![TaskState::Completed], true, 0, false),
            (
                vec![TaskState::Running, TaskState::Failed],
                false,
                50,
                false,
            ),
            (vec![TaskState::Pending], false, 0, false),
            (
                vec![
                    TaskState::Failed,
                    TaskState::Exception,
                    TaskState::Completed,
                ],
                true,
                66,
                true,
            ),
            (
                vec![TaskState::Unscheduled, TaskState::Failed],
                true,
                50,
                false,
            ),
        ];
        for (states, resolved, percent, over) in rows {
            let tasks: Vec<_> = states.iter().map(|s| t(*s)).collect();
            assert_eq!(group_resolved(&tasks), resolved, "{states:?}");
            let share = FailureShare::of(&tasks);
            assert_eq!(
                (share.percent(), share.over(50)),
                (percent, over),
                "{states:?}"
            );
        }
        let none: [&str; 0] = [];
        assert!(Selection::new(&none).selects("anything"));
        let tests = Selection::new(&["test-*"]);
        assert!(tests.selects("test-linux64/opt-1") && !tests.selects("build-linux64"));
        assert!(!Selection::new(&["bad-["]).selects("bad-["));
        assert!(attempts_left(0, 1) && !attempts_left(1, 1));
    }
}
