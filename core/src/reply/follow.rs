//! The live part of a reply (DESIGN.md §13): how a followed run shows in
//! the result column while it runs and once it resolved, and the reaction
//! that sums up the results once every followed run resolved.

use super::markdown::code;
use super::Reaction;
use crate::outcome::ActionOutcome;
use crate::policy::task::TaskState;
use crate::policy::Action;
use crate::types::TaskId;
use std::collections::BTreeMap;

/// Where a followed run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunProgress {
    /// Not resolved yet.
    Open,
    /// Resolved as `state` (completed, failed or exception), with the
    /// queue's `reasonResolved`.
    Resolved {
        state: TaskState,
        reason: Option<String>,
    },
}

/// What the watches of a reply know.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Followed {
    /// Followed runs by (taskId, runId). A run missing here is not
    /// followed: its row reads as it did when the actions were sent.
    pub runs: BTreeMap<(String, u32), RunProgress>,
    /// What each action task made (by its taskId), once known.
    pub made: BTreeMap<String, Vec<Made>>,
}

/// A run an action task made: a copy's first run, or a rerun.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Made {
    pub task_id: String,
    pub run_id: u32,
    /// The label it was made for.
    pub label: String,
}

impl Followed {
    pub fn get(&self, run: &(String, u32)) -> Option<&RunProgress> {
        self.runs.get(run)
    }
}

/// The runs an action started, to follow: a rerun's new run (the run after
/// those it saw, when the queue's answer did not say), a cancel-then-rerun's
/// rerun, each retrigger copy's first run, each action task's first run.
/// Nothing for an action that failed.
pub fn started_runs(
    task_id: &TaskId,
    action: &Action,
    outcome: &ActionOutcome,
) -> Vec<(TaskId, u32)> {
    match (action, outcome) {
        (Action::Rerun { runs_seen }, ActionOutcome::Rerun { run_id })
        | (Action::CancelRerun { runs_seen }, ActionOutcome::CancelRerun { run_id }) => {
            vec![(task_id.clone(), run_id.unwrap_or(*runs_seen))]
        }
        (_, ActionOutcome::Retriggered { task_ids }) => {
            task_ids.iter().map(|id| (id.clone(), 0)).collect()
        }
        // In-tree actions: the action tasks (what they made shows once
        // they ran).
        (_, ActionOutcome::Triggered { actions }) => {
            actions.iter().map(|a| (a.task_id.clone(), 0)).collect()
        }
        _ => Vec::new(),
    }
}

/// The mark before a followed run: ⏳ open, ✅ completed, ❌ failed,
/// ⚠️ exception.
pub fn mark(progress: &RunProgress) -> &'static str {
    match progress {
        RunProgress::Open => "⏳",
        RunProgress::Resolved { state, .. } => match state {
            TaskState::Completed => "✅",
            TaskState::Failed => "❌",
            _ => "⚠️",
        },
    }
}

/// "✅ run 1 completed", "⚠️ run 2 exception (`claim-expired`)", or
/// `started` with ⏳ while open. `prefix` names what came before the run
/// ("canceled, " for a cancel-then-rerun).
pub fn run_result(prefix: &str, run_id: u32, progress: &RunProgress) -> String {
    let mark = mark(progress);
    match progress {
        RunProgress::Open => format!("{mark} {prefix}rerun started (run {run_id})"),
        RunProgress::Resolved { state, reason } => format!(
            "{mark} {prefix}run {run_id} {}{}",
            state.as_str(),
            reason_note(*state, reason.as_deref())
        ),
    }
}

/// A copy's link with its mark: "✅ [Ab1…](…)", "⚠️ [Ab1…](…) (`claim-expired`)".
pub fn copy_result(link: &str, progress: &RunProgress) -> String {
    let note = match progress {
        RunProgress::Resolved { state, reason } => reason_note(*state, reason.as_deref()),
        RunProgress::Open => String::new(),
    };
    format!("{} {link}{note}", mark(progress))
}

/// The reason of an exception, the one state whose reason says something
/// the state does not (claim-expired, worker-shutdown, canceled...).
fn reason_note(state: TaskState, reason: Option<&str>) -> String {
    match (state, reason) {
        (TaskState::Exception, Some(r)) => format!(" ({})", code(r)),
        _ => String::new(),
    }
}

/// The final reaction once every followed run resolved: 🎉 when all
/// completed, 👎 when any did not; `None` while any is open (or nothing is
/// followed).
pub fn final_reaction<'a>(runs: impl IntoIterator<Item = &'a RunProgress>) -> Option<Reaction> {
    let mut any = false;
    let mut all_green = true;
    for run in runs {
        any = true;
        match run {
            RunProgress::Open => return None,
            RunProgress::Resolved { state, .. } => all_green &= *state == TaskState::Completed,
        }
    }
    any.then_some(if all_green {
        Reaction::Hooray
    } else {
        Reaction::ThumbsDown
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(state: TaskState, reason: Option<&str>) -> RunProgress {
        RunProgress::Resolved {
            state,
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn run_results_one_row_per_state() {
        use TaskState::*;
        let rows: Vec<(&str, RunProgress, &str)> = vec![
            ("", RunProgress::Open, "⏳ rerun started (run 1)"),
            (
                "",
                resolved(Completed, Some("completed")),
                "✅ run 1 completed",
            ),
            ("", resolved(Failed, Some("failed")), "❌ run 1 failed"),
            (
                "",
                resolved(Exception, Some("claim-expired")),
                "⚠️ run 1 exception (`claim-expired`)",
            ),
            ("", resolved(Exception, None), "⚠️ run 1 exception"),
            (
                "canceled, ",
                resolved(Completed, None),
                "✅ canceled, run 1 completed",
            ),
            (
                "canceled, ",
                RunProgress::Open,
                "⏳ canceled, rerun started (run 1)",
            ),
        ];
        for (prefix, progress, expected) in rows {
            assert_eq!(run_result(prefix, 1, &progress), expected, "{progress:?}");
        }
    }

    #[test]
    fn copy_results_one_row_per_state() {
        use TaskState::*;
        let rows: Vec<(RunProgress, &str)> = vec![
            (RunProgress::Open, "⏳ L"),
            (resolved(Completed, None), "✅ L"),
            (resolved(Failed, Some("failed")), "❌ L"),
            (
                resolved(Exception, Some("worker-shutdown")),
                "⚠️ L (`worker-shutdown`)",
            ),
        ];
        for (progress, expected) in rows {
            assert_eq!(copy_result("L", &progress), expected);
        }
    }

    #[test]
    fn final_reaction_one_row_per_case() {
        use TaskState::*;
        let rows: Vec<(Vec<RunProgress>, Option<Reaction>)> = vec![
            (vec![], None),
            (vec![RunProgress::Open], None),
            (vec![resolved(Completed, None), RunProgress::Open], None),
            (vec![resolved(Completed, None)], Some(Reaction::Hooray)),
            (
                vec![resolved(Completed, None), resolved(Failed, None)],
                Some(Reaction::ThumbsDown),
            ),
            (
                vec![resolved(Exception, Some("canceled"))],
                Some(Reaction::ThumbsDown),
            ),
        ];
        for (runs, expected) in rows {
            assert_eq!(final_reaction(&runs), expected, "{runs:?}");
        }
    }
}
