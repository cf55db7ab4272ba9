//! The rules of `rerunbot supervise` (DESIGN.md §13, ReSim's `batches
//! supervise`), pure: given a task group's tasks and the reruns made so
//! far, wait, rerun the matching failures, or stop with an exit code. The
//! guard and the selection are shared with automatic reruns
//! ([`super::retry`]).

use super::retry::{attempts_left, group_resolved, FailureShare, Selection};
use super::task::{TaskSnapshot, TaskState};
use crate::types::TaskId;
use std::collections::BTreeMap;

/// What supervise may rerun.
#[derive(Clone, Debug)]
pub struct SuperviseRules {
    /// Reruns of one task at most (`--max-rerun-attempts`).
    pub max_attempts: u32,
    /// No rerun at all when more than this share of the group's tasks
    /// failed (`--rerun-max-failure-percent`, 1–100).
    pub max_failure_percent: u32,
    /// The failure states rerun (`--rerun-on-states`).
    pub on_states: Vec<TaskState>,
    /// Globs over labels (`--tasks`); empty: every task.
    pub tasks: Vec<String>,
}

impl Default for SuperviseRules {
    fn default() -> Self {
        SuperviseRules {
            max_attempts: 1,
            max_failure_percent: 50,
            on_states: vec![TaskState::Failed, TaskState::Exception],
            tasks: Vec::new(),
        }
    }
}

/// How supervise ends (its process exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: every task completed.
    Completed,
    /// 1: supervise itself failed (the queue unreachable, a bad group).
    Internal,
    /// 2: failures remain after the reruns allowed.
    FailuresRemain,
    /// 5: a task was canceled.
    Canceled,
    /// 6: the group did not resolve within `--wait-timeout`.
    TimedOut,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Completed => 0,
            Exit::Internal => 1,
            Exit::FailuresRemain => 2,
            Exit::Canceled => 5,
            Exit::TimedOut => 6,
        }
    }
}

/// What to do after one look at the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Tasks are still pending or running.
    Wait,
    /// Rerun these tasks (each once more).
    Rerun(Vec<TaskId>),
    /// Stop, and why.
    Stop(Exit, String),
}

/// Counts of the group's tasks by state, for the report.
pub fn counts(tasks: &[TaskSnapshot]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for t in tasks {
        *out.entry(t.state.as_str()).or_default() += 1;
    }
    out
}

fn canceled(t: &TaskSnapshot) -> bool {
    t.state == TaskState::Exception && t.last_reason_resolved.as_deref() == Some("canceled")
}

/// Judges the group once. `attempts`: reruns made so far per task.
pub fn judge(
    tasks: &[TaskSnapshot],
    attempts: &BTreeMap<TaskId, u32>,
    rules: &SuperviseRules,
) -> Verdict {
    if tasks.is_empty() {
        return Verdict::Stop(Exit::Internal, "the task group has no tasks".to_owned());
    }
    if !group_resolved(tasks) {
        return Verdict::Wait;
    }
    if let Some(t) = tasks.iter().find(|t| canceled(t)) {
        return Verdict::Stop(Exit::Canceled, format!("{} was canceled", t.label));
    }
    let share = FailureShare::of(tasks);
    if share.failed == 0 {
        let blocked = tasks
            .iter()
            .filter(|t| t.state == TaskState::Unscheduled)
            .count();
        return if blocked == 0 {
            Verdict::Stop(Exit::Completed, "every task completed".to_owned())
        } else {
            Verdict::Stop(
                Exit::FailuresRemain,
                format!("{blocked} tasks never started"),
            )
        };
    }
    if share.over(rules.max_failure_percent) {
        return Verdict::Stop(
            Exit::FailuresRemain,
            format!(
                "{} of {} tasks failed ({}%), over the {}% limit: nothing is rerun",
                share.failed,
                share.total,
                share.percent(),
                rules.max_failure_percent
            ),
        );
    }
    let selection = Selection::new(&rules.tasks);
    let rerun: Vec<TaskId> = tasks
        .iter()
        .filter(|t| t.state.is_broken())
        .filter(|t| rules.on_states.contains(&t.state) && selection.selects(&t.label))
        .filter(|t| {
            attempts_left(
                attempts.get(&t.task_id).copied().unwrap_or(0),
                rules.max_attempts,
            )
        })
        .map(|t| t.task_id.clone())
        .collect();
    if rerun.is_empty() {
        return Verdict::Stop(
            Exit::FailuresRemain,
            format!("{} tasks failed and none may be rerun again", share.failed),
        );
    }
    Verdict::Rerun(rerun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testutil::*;
    use TaskState::*;

    fn group(states: &[(&str, TaskState, Option<&str>)]) -> Vec<TaskSnapshot> {
        states
            .iter()
            .map(|(label, state, reason)| {
                let mut t = task(&format!("id-{label}"), label).state(*state);
                t.last_reason_resolved = reason.map(Into::into);
                t
            })
            .collect()
    }

    fn ids(tasks: &[TaskSnapshot], labels: &[&str]) -> Vec<TaskId> {
        labels
            .iter()
            .filter_map(|l| {
                tasks
                    .iter()
                    .find(|t| &*t.label == *l)
                    .map(|t| t.task_id.clone())
            })
            .collect()
    }

    /// One row per rule: the group, reruns made, the rules → the verdict.
    #[test]
    fn one_row_per_rule() {
        let rules = SuperviseRules::default();
        let tests_only = SuperviseRules {
            tasks: vec!["test-*".to_owned()],
            ..SuperviseRules::default()
        };
        let failed_only = SuperviseRules {
            on_states: vec![Failed],
            ..SuperviseRules::default()
        };
        let ok = |l| (l, Completed, None);
        type Row<'a> = (
            &'a str,
            Vec<(&'a str, TaskState, Option<&'a str>)>,
            Vec<&'a str>,
            &'a SuperviseRules,
            &'a dyn Fn(&[TaskSnapshot]) -> Verdict,
        );
        let rows: Vec<Row> = vec![
            (
                "running: wait",
                vec![ok("a"), ("b", Running, None)],
                vec![],
                &rules,
                &|_| Verdict::Wait,
            ),
            (
                "pending: wait",
                vec![("b", Pending, None)],
                vec![],
                &rules,
                &|_| Verdict::Wait,
            ),
            (
                "all completed: 0",
                vec![ok("a"), ok("b")],
                vec![],
                &rules,
                &|_| Verdict::Stop(Exit::Completed, "every task completed".into()),
            ),
            (
                "a failure: rerun it",
                vec![ok("a"), ok("b"), ("test-c", Failed, Some("failed"))],
                vec![],
                &rules,
                &|t| Verdict::Rerun(ids(t, &["test-c"])),
            ),
            (
                "attempts spent: 2",
                vec![ok("a"), ok("b"), ("test-c", Failed, Some("failed"))],
                vec!["test-c"],
                &rules,
                &|_| {
                    Verdict::Stop(
                        Exit::FailuresRemain,
                        "1 tasks failed and none may be rerun again".into(),
                    )
                },
            ),
            (
                "over the failure percent: 2, nothing rerun",
                vec![ok("a"), ("test-b", Failed, None), ("test-c", Failed, None)],
                vec![],
                &rules,
                &|_| {
                    Verdict::Stop(
                        Exit::FailuresRemain,
                        "2 of 3 tasks failed (66%), over the 50% limit: nothing is rerun".into(),
                    )
                },
            ),
            (
                "canceled: 5",
                vec![ok("a"), ("b", Exception, Some("canceled"))],
                vec![],
                &rules,
                &|_| Verdict::Stop(Exit::Canceled, "b was canceled".into()),
            ),
            (
                "--tasks keeps others out",
                vec![
                    ok("a"),
                    ok("x"),
                    ("build", Failed, None),
                    ("test-c", Exception, Some("claim-expired")),
                ],
                vec![],
                &tests_only,
                &|t| Verdict::Rerun(ids(t, &["test-c"])),
            ),
            (
                "--rerun-on-states failed: exceptions stay",
                vec![
                    ok("a"),
                    ok("x"),
                    ("test-b", Failed, None),
                    ("test-c", Exception, Some("claim-expired")),
                ],
                vec![],
                &failed_only,
                &|t| Verdict::Rerun(ids(t, &["test-b"])),
            ),
            (
                "blocked tasks only: 2",
                vec![ok("a"), ("b", Unscheduled, None)],
                vec![],
                &rules,
                &|_| Verdict::Stop(Exit::FailuresRemain, "1 tasks never started".into()),
            ),
        ];
        for (name, states, rerun_before, rules, expected) in rows {
            let tasks = group(&states);
            let attempts: BTreeMap<TaskId, u32> = ids(&tasks, &rerun_before)
                .into_iter()
                .map(|id| (id, 1))
                .collect();
            assert_eq!(judge(&tasks, &attempts, rules), expected(&tasks), "{name}");
        }
    }

    #[test]
    fn exit_codes_are_resims() {
        let codes: Vec<u8> = [
            Exit::Completed,
            Exit::Internal,
            Exit::FailuresRemain,
            Exit::Canceled,
            Exit::TimedOut,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, vec![0, 1, 2, 5, 6]);
    }
}
