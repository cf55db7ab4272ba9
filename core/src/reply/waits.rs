//! How a waiting action reads in a reply (DESIGN.md §13): the row says what
//! it waits for, then is edited when the wait fires (the rerun's result, as
//! for any rerun) or is dropped (and why). Task labels only in code spans.

use super::markdown::code;
use super::wording;
use crate::policy::plan::{Dropped, Wait, WaitKind};

/// The action column: "rerun after `part-1`".
pub fn action(wait: &Wait) -> String {
    format!("{} after {}", wording::action(&wait.action), labels(wait))
}

/// The result column while it waits: "⏸️ waits for `part-1` (run 1) to
/// complete, then reruns".
pub fn waiting(wait: &Wait) -> String {
    let runs: Vec<String> = wait
        .on
        .iter()
        .map(|on| format!("{} (run {})", code(&on.label), on.run_id))
        .collect();
    let then = match wait.kind {
        WaitKind::AfterRerun => "to complete, then starts; not at all if it fails",
        WaitKind::ForcedCancel => {
            "to resolve, then cancel-then-rerun is judged again (not if it needs artifacts of a failed one)"
        }
    };
    format!("⏸️ waits for {} {then}", runs.join(", "))
}

/// The result column once dropped.
pub fn dropped(reason: &Dropped) -> String {
    match reason {
        Dropped::DependencyFailed {
            dependency,
            run_id,
            state,
            reason,
        } => {
            let why = match reason.as_deref() {
                Some(r) if r != state.as_str() => format!(" ({})", code(r)),
                _ => String::new(),
            };
            format!(
                "dropped: run {run_id} of {} ended {}{why}, so this task was not rerun; rerun {} first, then this task",
                code(dependency),
                state.as_str(),
                code(dependency)
            )
        }
        Dropped::DependencyNotRerun { dependency } => format!(
            "dropped: the rerun of {} did not start, so this task was not rerun",
            code(dependency)
        ),
        Dropped::ConsumesArtifacts { dependency } => format!(
            "dropped: {} failed and this task uses its artifacts, so a cancel-then-rerun would fail too; rerun {} first",
            code(dependency),
            code(dependency)
        ),
        Dropped::Expired { waiting_for } if waiting_for.is_empty() => {
            "dropped: the task's deadline passed while it waited; the queue cannot rerun it any more"
                .to_owned()
        }
        Dropped::Expired { waiting_for } => {
            let list: Vec<String> = waiting_for.iter().map(|l| code(l)).collect();
            format!(
                "dropped: the task's deadline passed while it waited for {}; the queue cannot rerun it any more",
                list.join(", ")
            )
        }
        Dropped::CancelNotInEffect {
            action_task,
            waited_secs,
        } => format!(
            "dropped: the cancel action task {} had not canceled this task after {}, so the rerun was not sent; once it is canceled, ask for the rerun again",
            code(action_task.as_str()),
            waited(*waited_secs)
        ),
        Dropped::CancelWithoutEffect { action_task, state } => format!(
            "dropped: {}, so the rerun was not sent; see the action task's log for why, then ask for the rerun again if this task still needs one",
            wording::cancel_without_effect(action_task, state)
        ),
    }
}

/// "45 s", "30 min".
fn waited(secs: u64) -> String {
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    }
}

fn labels(wait: &Wait) -> String {
    let list: Vec<String> = wait.on.iter().map(|on| code(&on.label)).collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::plan::{Action, WaitOn};
    use crate::policy::task::TaskState;

    fn wait(kind: WaitKind, labels: &[&str]) -> Wait {
        Wait {
            action: match kind {
                WaitKind::AfterRerun => Action::Rerun { runs_seen: 1 },
                WaitKind::ForcedCancel => Action::CancelRerun { runs_seen: 0 },
            },
            kind,
            on: labels
                .iter()
                .map(|l| WaitOn {
                    task_id: crate::types::TaskId::new(l.to_uppercase()),
                    label: (*l).to_owned(),
                    run_id: 1,
                    consumed: false,
                })
                .collect(),
            deadline: chrono::DateTime::<chrono::Utc>::default(),
        }
    }

    #[test]
    fn waiting_rows_one_per_kind() {
        let rows = [
            wait(WaitKind::AfterRerun, &["notarization-part-1"]),
            wait(WaitKind::ForcedCancel, &["build", "@team <b>"]),
        ];
        let text: Vec<String> = rows
            .iter()
            .map(|w| format!("{} | {}", action(w), waiting(w)))
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }

    #[test]
    fn dropped_rows_one_per_reason() {
        let reasons = [
            Dropped::DependencyFailed {
                dependency: "part-1".into(),
                run_id: 1,
                state: TaskState::Failed,
                reason: Some("failed".into()),
            },
            Dropped::DependencyFailed {
                dependency: "part-1".into(),
                run_id: 2,
                state: TaskState::Exception,
                reason: Some("claim-expired".into()),
            },
            Dropped::DependencyNotRerun {
                dependency: "part-1".into(),
            },
            Dropped::ConsumesArtifacts {
                dependency: "poller".into(),
            },
            Dropped::Expired {
                waiting_for: vec!["build".into()],
            },
            Dropped::Expired {
                waiting_for: Vec::new(),
            },
            Dropped::CancelNotInEffect {
                action_task: crate::types::TaskId::new("fXxW0rkNRpmx5aTx3LmPZA"),
                waited_secs: 1800,
            },
            Dropped::CancelNotInEffect {
                action_task: crate::types::TaskId::new("fXxW0rkNRpmx5aTx3LmPZA"),
                waited_secs: 2,
            },
            Dropped::CancelWithoutEffect {
                action_task: crate::types::TaskId::new("fXxW0rkNRpmx5aTx3LmPZA"),
                state: "completed".into(),
            },
            Dropped::CancelWithoutEffect {
                action_task: crate::types::TaskId::new("fXxW0rkNRpmx5aTx3LmPZA"),
                state: "failed".into(),
            },
        ];
        let text: Vec<String> = reasons.iter().map(dropped).collect();
        insta::assert_snapshot!(text.join("\n"));
    }
}
