//! Automatic reruns (DESIGN.md §13, repo config `auto_rerun`), pure: once a
//! pull request's task group has resolved, which of its failures are rerun
//! without anyone asking. The guard and the selection are the ones
//! `rerunbot supervise` uses ([`super::retry`]).
//!
//! Every rule, in the order they are applied:
//! - only for an open pull request, and only with `enabled`;
//! - only once the group resolved (nothing pending or running);
//! - nothing at all when more than `max_failure_percent` of the group's
//!   tasks failed (one refusal for the whole group);
//! - per task: failed or exception, and its state in `on_states`, or its
//!   `reasonResolved` in `on_reasons`, or failed with
//!   `tags.<opt_in_tag> == "true"`; a label selected by `tasks`; never a
//!   release task; at most `max_attempts` automatic reruns per task per
//!   head SHA; and never twice from the same run (a duplicated event finds
//!   the rerun it already made).

use super::plan::TaskClass;
use super::retry::{attempts_left, group_resolved, FailureShare, Selection};
use super::task::{TaskSnapshot, TaskState};
use super::PrState;
use crate::repo_config::{AutoRerun, Classifier};
use crate::types::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Automatic reruns already made for the head SHA: per task, the run
/// counts each one started from.
pub type Made = BTreeMap<TaskId, Vec<u32>>;

/// One task to rerun.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pick {
    pub task_id: TaskId,
    pub label: String,
    /// The task's run count when judged (the rerun is not sent once a run
    /// beyond it exists).
    pub runs_seen: u32,
    /// This rerun's number for the task (1 = first automatic rerun).
    pub attempt: u32,
}

/// What becomes of one resolved group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not for us: a closed pull request, or `auto_rerun` is off.
    Off,
    /// Tasks are still pending or running.
    Unresolved,
    /// Too many failures: nothing is rerun.
    Refused(FailureShare),
    /// These tasks are rerun (possibly none).
    Rerun(Vec<Pick>),
}

/// Why one task is (not) rerun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligibility {
    Rerun,
    /// Completed, or not resolved.
    NotAFailure,
    /// A failure no rule of the block asks to rerun.
    NotMatched,
    NotSelected,
    Release,
    AttemptsSpent,
    /// Rerun from this very run already (a duplicated event).
    AlreadyRerun,
}

/// Whether the block asks for this failure to be rerun.
fn matches_rules(task: &TaskSnapshot, rules: &AutoRerun) -> bool {
    let by_state = rules.on_states.contains(&task.state);
    let by_reason = task
        .last_reason_resolved
        .as_deref()
        .is_some_and(|r| rules.on_reasons.iter().any(|o| o == r));
    let opted_in =
        task.state == TaskState::Failed && task.tags.get(&rules.opt_in_tag) == Some("true");
    by_state || by_reason || opted_in
}

/// Judges one task.
pub fn eligibility(
    task: &TaskSnapshot,
    class: TaskClass,
    made: &[u32],
    rules: &AutoRerun,
    selection: &Selection,
) -> Eligibility {
    if !task.state.is_broken() {
        Eligibility::NotAFailure
    } else if made.contains(&task.runs) {
        Eligibility::AlreadyRerun
    } else if !matches_rules(task, rules) {
        Eligibility::NotMatched
    } else if class == TaskClass::Release {
        Eligibility::Release
    } else if !selection.selects(&task.label) {
        Eligibility::NotSelected
    } else if !attempts_left(
        u32::try_from(made.len()).unwrap_or(u32::MAX),
        rules.max_attempts,
    ) {
        Eligibility::AttemptsSpent
    } else {
        Eligibility::Rerun
    }
}

/// Judges one task group of a pull request.
pub fn judge(
    group: &[TaskSnapshot],
    pr: PrState,
    rules: &AutoRerun,
    classifier: &Classifier,
    made: &Made,
) -> Verdict {
    if pr != PrState::Open || !rules.enabled {
        return Verdict::Off;
    }
    if !group_resolved(group) {
        return Verdict::Unresolved;
    }
    let share = FailureShare::of(group);
    if share.over(rules.max_failure_percent) {
        return Verdict::Refused(share);
    }
    let selection = Selection::new(&rules.tasks.iter().map(|g| &g.0).collect::<Vec<_>>());
    let picks = group
        .iter()
        .filter_map(|t| {
            let before = made.get(&t.task_id).map_or(&[][..], Vec::as_slice);
            let class = classifier.classify(t);
            (eligibility(t, class, before, rules, &selection) == Eligibility::Rerun).then(|| Pick {
                task_id: t.task_id.clone(),
                label: t.label.to_string(),
                runs_seen: t.runs,
                attempt: u32::try_from(before.len()).unwrap_or(u32::MAX) + 1,
            })
        })
        .collect();
    Verdict::Rerun(picks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testutil::*;
    use crate::repo_config::{GlobPattern, RepoConfig};
    use Eligibility::*;
    use TaskState::*;

    fn on() -> AutoRerun {
        AutoRerun {
            enabled: true,
            ..AutoRerun::default()
        }
    }

    fn failed(reason: &str) -> TaskSnapshot {
        let mut t = task("T", "test-linux64/opt-1").state(Failed);
        t.last_reason_resolved = Some(reason.into());
        t
    }

    fn exception(reason: &str) -> TaskSnapshot {
        let mut t = failed(reason).state(Exception);
        t.last_reason_resolved = Some(reason.into());
        t
    }

    fn opted_in(mut t: TaskSnapshot) -> TaskSnapshot {
        t.tags.insert("retry-on-failure", "true");
        t
    }

    /// One row per rule: the task, its class, the reruns made from which
    /// run counts, the block → the eligibility.
    #[test]
    fn one_row_per_task_rule() {
        let failed_too = AutoRerun {
            on_states: vec![Failed, Exception],
            ..on()
        };
        let tests_only = AutoRerun {
            tasks: vec![GlobPattern("test-*".into())],
            on_states: vec![Failed],
            ..on()
        };
        let two = AutoRerun {
            max_attempts: 2,
            ..on()
        };
        type Row<'a> = (
            &'a str,
            TaskSnapshot,
            TaskClass,
            Vec<u32>,
            &'a AutoRerun,
            Eligibility,
        );
        let on = on();
        let no_states = AutoRerun {
            on_states: vec![],
            ..on.clone()
        };
        let rows: Vec<Row> = vec![
            (
                "exception: on_states",
                exception("malformed-payload"),
                TaskClass::Test,
                vec![],
                &on,
                Rerun,
            ),
            (
                "a reason in on_reasons",
                failed("claim-expired"),
                TaskClass::Other,
                vec![],
                &on,
                Rerun,
            ),
            (
                "failed, no rule",
                failed("failed"),
                TaskClass::Test,
                vec![],
                &on,
                NotMatched,
            ),
            (
                "failed, opted in",
                opted_in(failed("failed")),
                TaskClass::Test,
                vec![],
                &on,
                Rerun,
            ),
            (
                "opt-in tag not \"true\"",
                {
                    let mut t = failed("failed");
                    t.tags.insert("retry-on-failure", "yes");
                    t
                },
                TaskClass::Test,
                vec![],
                &on,
                NotMatched,
            ),
            (
                "opt-in covers failed only",
                {
                    let mut t = opted_in(exception("canceled"));
                    t.last_reason_resolved = Some("canceled".into());
                    t
                },
                TaskClass::Test,
                vec![],
                &no_states,
                NotMatched,
            ),
            (
                "failed in on_states",
                failed("failed"),
                TaskClass::Other,
                vec![],
                &failed_too,
                Rerun,
            ),
            (
                "completed",
                failed("completed").state(Completed),
                TaskClass::Test,
                vec![],
                &failed_too,
                NotAFailure,
            ),
            (
                "running",
                failed("x").state(Running),
                TaskClass::Test,
                vec![],
                &failed_too,
                NotAFailure,
            ),
            (
                "release, never",
                exception("claim-expired"),
                TaskClass::Release,
                vec![],
                &on,
                Release,
            ),
            (
                "release opted in, never",
                opted_in(failed("failed")),
                TaskClass::Release,
                vec![],
                &on,
                Release,
            ),
            (
                "label not selected",
                {
                    let mut t = failed("failed");
                    t.label = "build-linux64".into();
                    t
                },
                TaskClass::Other,
                vec![],
                &tests_only,
                NotSelected,
            ),
            (
                "label selected",
                failed("failed"),
                TaskClass::Test,
                vec![],
                &tests_only,
                Rerun,
            ),
            (
                "attempts spent",
                exception("claim-expired").runs(2),
                TaskClass::Test,
                vec![1],
                &on,
                AttemptsSpent,
            ),
            (
                "a second attempt allowed",
                exception("claim-expired").runs(2),
                TaskClass::Test,
                vec![1],
                &two,
                Rerun,
            ),
            (
                "rerun from this run already",
                exception("claim-expired"),
                TaskClass::Test,
                vec![1],
                &two,
                AlreadyRerun,
            ),
        ];
        for (name, t, class, made, rules, expected) in rows {
            let selection = Selection::new(&rules.tasks.iter().map(|g| &g.0).collect::<Vec<_>>());
            assert_eq!(
                eligibility(&t, class, &made, rules, &selection),
                expected,
                "{name}"
            );
        }
    }

    /// One row per group rule.
    #[test]
    fn one_row_per_group_rule() {
        let classifier = Classifier::new(&RepoConfig::default());
        let ok = |id: &str| task(id, id).state(Completed);
        let flaky = exception("worker-shutdown");
        let group = vec![ok("a"), ok("b"), ok("c"), flaky.clone()];
        let pick = Pick {
            task_id: TaskId::new("T"),
            label: "test-linux64/opt-1".into(),
            runs_seen: 1,
            attempt: 1,
        };
        let made_once: Made = BTreeMap::from([(TaskId::new("T"), vec![1])]);
        type Row<'a> = (
            &'a str,
            Vec<TaskSnapshot>,
            PrState,
            AutoRerun,
            Made,
            Verdict,
        );
        let rows: Vec<Row> = vec![
            (
                "off",
                group.clone(),
                PrState::Open,
                AutoRerun::default(),
                Made::new(),
                Verdict::Off,
            ),
            (
                "closed pull request",
                group.clone(),
                PrState::Closed,
                on(),
                Made::new(),
                Verdict::Off,
            ),
            (
                "merged pull request",
                group.clone(),
                PrState::Merged,
                on(),
                Made::new(),
                Verdict::Off,
            ),
            (
                "not resolved",
                vec![ok("a"), flaky.clone(), ok("b").state(Running)],
                PrState::Open,
                on(),
                Made::new(),
                Verdict::Unresolved,
            ),
            (
                "a flaky failure",
                group.clone(),
                PrState::Open,
                on(),
                Made::new(),
                Verdict::Rerun(vec![pick]),
            ),
            (
                "a duplicate event",
                group.clone(),
                PrState::Open,
                on(),
                made_once,
                Verdict::Rerun(vec![]),
            ),
            (
                "over the failure percent",
                vec![ok("a"), flaky.clone()],
                PrState::Open,
                on(),
                Made::new(),
                Verdict::Refused(FailureShare {
                    failed: 1,
                    total: 2,
                }),
            ),
        ];
        for (name, group, pr, rules, made, expected) in rows {
            assert_eq!(
                judge(&group, pr, &rules, &classifier, &made),
                expected,
                "{name}"
            );
        }
    }
}
