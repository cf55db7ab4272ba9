//! When a waiting action fires (DESIGN.md §6, §13), pure: given where each
//! run it waits on stands, the wait keeps waiting, fires its action, or is
//! dropped (and why). Follow-through asks this each time a run it waits on
//! resolves, and once more at the task's deadline. A fired
//! cancel-then-rerun whose cancel has not taken effect yet is looked at
//! again until [`cancel_overdue`] says it is no use waiting any more.

use super::plan::{Dropped, Wait, WaitKind};
use super::task::TaskState;
use crate::types::TaskId;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Where one waited-on run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not resolved yet.
    Open,
    /// The rerun meant to make this run was not started (it failed).
    NotStarted,
    /// Resolved as `state`, with the queue's `reasonResolved`.
    Resolved {
        state: TaskState,
        reason: Option<String>,
    },
}

/// What to do with a wait now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    /// Send the wait's action.
    Fire,
    Drop(Dropped),
}

/// Judges `wait` given `seen`, one entry per `wait.on` (in order; a missing
/// entry counts as open).
pub fn verdict(wait: &Wait, seen: &[Seen], now: DateTime<Utc>) -> Verdict {
    let at = |i: usize| seen.get(i).unwrap_or(&Seen::Open);
    for (i, on) in wait.on.iter().enumerate() {
        let (state, reason) = match at(i) {
            Seen::Open => continue,
            Seen::NotStarted => {
                return Verdict::Drop(Dropped::DependencyNotRerun {
                    dependency: on.label.clone(),
                })
            }
            Seen::Resolved { state, reason } => (*state, reason),
        };
        if !state.is_broken() {
            continue;
        }
        match wait.kind {
            // The new run it waited for did not complete: rerunning now
            // would run it against the same broken inputs.
            WaitKind::AfterRerun => {
                return Verdict::Drop(Dropped::DependencyFailed {
                    dependency: on.label.clone(),
                    run_id: on.run_id,
                    state,
                    reason: reason.clone(),
                })
            }
            // Judged again by the cancel-then-rerun rule: a failed
            // dependency is fine unless the task uses its artifacts.
            WaitKind::ForcedCancel if on.consumed => {
                return Verdict::Drop(Dropped::ConsumesArtifacts {
                    dependency: on.label.clone(),
                })
            }
            WaitKind::ForcedCancel => {}
        }
    }
    let open: Vec<String> = wait
        .on
        .iter()
        .enumerate()
        .filter(|(i, _)| *at(*i) == Seen::Open)
        .map(|(_, on)| on.label.clone())
        .collect();
    if now > wait.deadline {
        // The queue refuses a rerun past the deadline, fired or not.
        Verdict::Drop(Dropped::Expired { waiting_for: open })
    } else if open.is_empty() {
        Verdict::Fire
    } else {
        Verdict::Waiting
    }
}

/// A fired cancel-then-rerun whose cancel (action task `action_task`,
/// triggered at `since`) has not canceled the task yet: dropped once
/// `patience` has passed (the cancel action task is stuck, or did
/// nothing), else `None` and it is looked at again.
pub fn cancel_overdue(
    action_task: &TaskId,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    patience: Duration,
) -> Option<Dropped> {
    let waited = (now - since).to_std().unwrap_or_default();
    (waited >= patience).then(|| Dropped::CancelNotInEffect {
        action_task: action_task.clone(),
        waited_secs: waited.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::plan::{Action, WaitOn};
    use chrono::Duration;

    fn on(label: &str, consumed: bool) -> WaitOn {
        WaitOn {
            task_id: crate::types::TaskId::new(label.to_uppercase()),
            label: label.to_owned(),
            run_id: 1,
            consumed,
        }
    }

    fn wait(kind: WaitKind, on: Vec<WaitOn>) -> Wait {
        Wait {
            action: Action::Rerun { runs_seen: 1 },
            kind,
            on,
            deadline: now() + Duration::hours(1),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn done(state: TaskState, reason: Option<&str>) -> Seen {
        Seen::Resolved {
            state,
            reason: reason.map(str::to_owned),
        }
    }

    /// Name, wait, where its runs stand, now, expected verdict.
    type Row = (&'static str, Wait, Vec<Seen>, DateTime<Utc>, Verdict);

    #[test]
    fn one_row_per_rule() {
        use TaskState::*;
        use WaitKind::*;
        let late = now() + Duration::hours(2);
        let rows: Vec<Row> = vec![
            (
                "after a rerun: still running, keeps waiting",
                wait(AfterRerun, vec![on("part-1", false)]),
                vec![Seen::Open],
                now(),
                Verdict::Waiting,
            ),
            (
                "after a rerun: the new run completed, fires",
                wait(AfterRerun, vec![on("part-1", false)]),
                vec![done(Completed, Some("completed"))],
                now(),
                Verdict::Fire,
            ),
            (
                "after a rerun: the new run failed, dropped naming it",
                wait(AfterRerun, vec![on("part-1", false)]),
                vec![done(Failed, Some("failed"))],
                now(),
                Verdict::Drop(Dropped::DependencyFailed {
                    dependency: "part-1".into(),
                    run_id: 1,
                    state: Failed,
                    reason: Some("failed".into()),
                }),
            ),
            (
                "after a rerun: an exception drops it with the reason",
                wait(AfterRerun, vec![on("part-1", false)]),
                vec![done(Exception, Some("claim-expired"))],
                now(),
                Verdict::Drop(Dropped::DependencyFailed {
                    dependency: "part-1".into(),
                    run_id: 1,
                    state: Exception,
                    reason: Some("claim-expired".into()),
                }),
            ),
            (
                "after a rerun: one of two failed drops it at once, the other still running",
                wait(AfterRerun, vec![on("a", false), on("b", false)]),
                vec![Seen::Open, done(Failed, None)],
                now(),
                Verdict::Drop(Dropped::DependencyFailed {
                    dependency: "b".into(),
                    run_id: 1,
                    state: Failed,
                    reason: None,
                }),
            ),
            (
                "after a rerun: the rerun it waited on never started",
                wait(AfterRerun, vec![on("part-1", false)]),
                vec![Seen::NotStarted],
                now(),
                Verdict::Drop(Dropped::DependencyNotRerun {
                    dependency: "part-1".into(),
                }),
            ),
            (
                "forced cancel: another dependency still running, keeps waiting",
                wait(ForcedCancel, vec![on("a", false), on("b", false)]),
                vec![done(Completed, None), Seen::Open],
                now(),
                Verdict::Waiting,
            ),
            (
                "forced cancel: the others completed, fires",
                wait(ForcedCancel, vec![on("a", false)]),
                vec![done(Completed, None)],
                now(),
                Verdict::Fire,
            ),
            (
                "forced cancel: another failed but its artifacts are not used, fires (the rule)",
                wait(ForcedCancel, vec![on("a", false)]),
                vec![done(Failed, None)],
                now(),
                Verdict::Fire,
            ),
            (
                "forced cancel: a failed dependency whose artifacts it uses drops it",
                wait(ForcedCancel, vec![on("a", true)]),
                vec![done(Failed, None)],
                now(),
                Verdict::Drop(Dropped::ConsumesArtifacts {
                    dependency: "a".into(),
                }),
            ),
            (
                "past the task's deadline while waiting: expired, naming what it waited for",
                wait(AfterRerun, vec![on("a", false), on("b", false)]),
                vec![done(Completed, None), Seen::Open],
                late,
                Verdict::Drop(Dropped::Expired {
                    waiting_for: vec!["b".into()],
                }),
            ),
            (
                "resolved, but past the deadline: expired (the queue would refuse the rerun)",
                wait(AfterRerun, vec![on("a", false)]),
                vec![done(Completed, None)],
                late,
                Verdict::Drop(Dropped::Expired {
                    waiting_for: Vec::new(),
                }),
            ),
        ];
        for (name, wait, seen, at, expected) in rows {
            assert_eq!(verdict(&wait, &seen, at), expected, "{name}");
        }
    }

    #[test]
    fn a_cancel_not_in_effect_is_dropped_once_patience_ran_out() {
        let task = crate::types::TaskId::new("ACTION");
        let patience = std::time::Duration::from_secs(600);
        let rows: Vec<(&str, DateTime<Utc>, Option<Dropped>)> = vec![
            ("just triggered: look again", now(), None),
            (
                "a minute short: look again",
                now() + Duration::seconds(540),
                None,
            ),
            (
                "patience ran out: dropped, saying how long it waited",
                now() + Duration::seconds(600),
                Some(Dropped::CancelNotInEffect {
                    action_task: task.clone(),
                    waited_secs: 600,
                }),
            ),
            (
                "a clock behind the trigger's: look again",
                now() - Duration::seconds(30),
                None,
            ),
        ];
        for (name, at, expected) in rows {
            assert_eq!(
                cancel_overdue(&task, now(), at, patience),
                expected,
                "{name}"
            );
        }
    }
}
