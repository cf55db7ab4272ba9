//! `plan`: one command → a decision per selected task (DESIGN.md §6).
//! Whole-command checks come first (pull request state, count, roles,
//! selection, failure guard), then each task is judged on its own, then
//! the total of new tasks is checked against `max_new_tasks`.

use super::plan::*;
use super::select::{by_selectors, default_selection};
use super::suggest::closest;

/// Unmatched selectors that get "did you mean" suggestions.
const MAX_SUGGESTED_SELECTORS: usize = 10;
use super::{copy_ids, PlanInput, PrState};
use crate::command::Command;
use crate::policy::task::{TaskSnapshot, TaskState};
use crate::repo_config::Classifier;
use std::collections::BTreeMap;

/// The queue refuses a rerun once a task has this many runs.
pub const QUEUE_MAX_RUNS: u32 = 50;

pub fn plan(input: &PlanInput) -> Plan {
    let (kind, selectors, force, times) = match input.command {
        Command::Rerun { selectors, force } => (CommandKind::Rerun, selectors, *force, 0),
        Command::Retrigger {
            times,
            selectors,
            force,
        } => (CommandKind::Retrigger, selectors, *force, *times),
        Command::Help => return Plan::default(),
    };
    // `*` (or `**`) names every task: it is the bulk command, with the bulk
    // command's default selection and failure guard.
    let selectors: Vec<String> = selectors
        .iter()
        .filter(|s| !s.chars().all(|c| c == '*'))
        .cloned()
        .collect();
    let selectors = &selectors;
    let config = input.config;
    let perms = &config.permissions;
    let limits = &config.limits;
    let actor = input.actor;

    if input.pr == PrState::Closed {
        return Plan::refused(CommandRefusal::PullRequestClosed);
    }
    if kind == CommandKind::Retrigger && (times == 0 || times > limits.max_retrigger) {
        return Plan::refused(CommandRefusal::CountOutOfRange {
            count: times,
            max: limits.max_retrigger,
        });
    }
    let required = match kind {
        CommandKind::Rerun => perms.rerun,
        CommandKind::Retrigger => perms.retrigger,
    };
    // Authorship covers the pull request's own CI, not the release graph of a
    // merged one.
    let author_may_rerun = kind == CommandKind::Rerun
        && !force
        && perms.pr_author_rerun
        && actor.is_pr_author
        && input.pr == PrState::Open;
    if actor.role < required && !author_may_rerun {
        return Plan::refused(CommandRefusal::RoleTooLow {
            command: kind,
            required,
            actual: actor.role,
        });
    }
    if force && actor.role < perms.force {
        return Plan::refused(CommandRefusal::ForceNeedsRole {
            required: perms.force,
            actual: actor.role,
        });
    }
    let tasks = input.tasks;
    if tasks.is_empty() {
        return Plan::refused(CommandRefusal::NoTasks);
    }

    let classifier = Classifier::new(config);
    let classes: Vec<TaskClass> = tasks.iter().map(|t| classifier.classify(t)).collect();
    let mut warnings = Vec::new();
    if input.pr == PrState::Merged {
        warnings.push(Warning::MergedPullRequest);
    }

    let mut unmatched = Vec::new();
    let picked = if selectors.is_empty() {
        let failed = tasks.iter().filter(|t| t.state.is_broken()).count();
        let total = tasks.len();
        // Integer form of failed / total > max_percent / 100.
        if failed * 100 > limits.max_failure_percent as usize * total {
            let guard = (failed, total, limits.max_failure_percent);
            if !force {
                return Plan {
                    warnings,
                    ..Plan::refused(CommandRefusal::FailureGuard {
                        failed: guard.0,
                        total: guard.1,
                        max_percent: guard.2,
                    })
                };
            }
            warnings.push(Warning::FailureGuardOverridden {
                failed: guard.0,
                total: guard.1,
                max_percent: guard.2,
            });
        }
        let picked = default_selection(kind, tasks, &classes);
        if picked.is_empty() {
            return Plan {
                warnings,
                ..Plan::refused(CommandRefusal::NothingSelected { command: kind })
            };
        }
        picked
    } else {
        let selection = by_selectors(kind, selectors, tasks);
        unmatched = selection
            .unmatched
            .into_iter()
            .enumerate()
            .map(|(n, selector)| UnmatchedSelector {
                // Suggestions cost a scan of every task: a few selectors get them.
                suggestions: if n < MAX_SUGGESTED_SELECTORS {
                    closest(&selector, tasks)
                } else {
                    Vec::new()
                },
                selector,
            })
            .collect();
        if selection.picked.is_empty() {
            return Plan {
                refusal: Some(CommandRefusal::NoMatch),
                rows: Vec::new(),
                warnings,
                unmatched,
            };
        }
        selection.picked
    };

    let by_id: BTreeMap<&str, &TaskSnapshot> =
        tasks.iter().map(|t| (t.task_id.as_str(), t)).collect();
    let mut reruns = input.ledger.reruns_by_label.clone();
    let judge = Judge {
        input,
        force,
        by_id: &by_id,
    };
    let mut rows = Vec::with_capacity(picked.len());
    for i in picked {
        let task = &tasks[i];
        let class = classes[i];
        let (decision, row_warnings) = match kind {
            CommandKind::Rerun => {
                let done = reruns.get(&task.label).copied().unwrap_or(0);
                let out = judge.rerun(task, class, done);
                if matches!(out.0, Decision::Act(_)) {
                    *reruns.entry(task.label.clone()).or_default() += 1;
                }
                out
            }
            CommandKind::Retrigger => judge.retrigger(task, class, times),
        };
        rows.push(PlanRow {
            task_id: task.task_id.clone(),
            label: task.label.clone(),
            name: task.name.clone(),
            class,
            state: task.state,
            decision,
            warnings: row_warnings,
        });
    }

    let plan = Plan {
        rows,
        refusal: None,
        warnings,
        unmatched,
    };
    let requested = plan.new_tasks();
    if requested > limits.max_new_tasks as usize {
        return Plan {
            rows: Vec::new(),
            refusal: Some(CommandRefusal::TooManyNewTasks {
                requested,
                max: limits.max_new_tasks,
            }),
            ..plan
        };
    }
    plan
}

struct Judge<'a> {
    input: &'a PlanInput<'a>,
    force: bool,
    by_id: &'a BTreeMap<&'a str, &'a TaskSnapshot>,
}

impl Judge<'_> {
    fn rerun(&self, task: &TaskSnapshot, class: TaskClass, done: u32) -> (Decision, Vec<Warning>) {
        let force_role = self.input.config.permissions.force;
        let mut warnings = Vec::new();
        if matches!(task.state, TaskState::Pending | TaskState::Running) {
            return (Decision::Skip(SkipReason::InProgress), warnings);
        }
        // Past its deadline the queue refuses any rerun, forced or not: say
        // that first, whatever the state (a retrigger is what works).
        if self.input.now > task.deadline {
            let hint = hint_for(task, class);
            return (Decision::Refuse(Refusal::PastDeadline { hint }), Vec::new());
        }
        let action = match task.state {
            TaskState::Pending | TaskState::Running => {
                return (Decision::Skip(SkipReason::InProgress), warnings)
            }
            TaskState::Completed if !self.force => {
                return (
                    Decision::Refuse(Refusal::AlreadyGreen { force_role }),
                    warnings,
                )
            }
            TaskState::Unscheduled => {
                let unresolved = self.unresolved_dependencies(task);
                if !self.force {
                    return (
                        Decision::Refuse(Refusal::WaitsOnDependencies {
                            unresolved,
                            force_role,
                        }),
                        warnings,
                    );
                }
                if !unresolved.is_empty() {
                    return (
                        Decision::Refuse(Refusal::DependenciesUnresolved { unresolved }),
                        warnings,
                    );
                }
                warnings.push(Warning::Forced {
                    what: ForcedAction::CancelRerun,
                });
                Action::CancelRerun {
                    runs_seen: task.runs,
                }
            }
            TaskState::Completed => {
                warnings.push(Warning::Forced {
                    what: ForcedAction::RerunCompleted,
                });
                if class == TaskClass::Release {
                    warnings.push(Warning::ChainOfTrust);
                }
                Action::Rerun {
                    runs_seen: task.runs,
                }
            }
            TaskState::Failed | TaskState::Exception => Action::Rerun {
                runs_seen: task.runs,
            },
        };
        let hint = hint_for(task, class);
        if task.runs >= QUEUE_MAX_RUNS {
            return (
                Decision::Refuse(Refusal::RunLimit {
                    runs: task.runs,
                    hint,
                }),
                Vec::new(),
            );
        }
        let limit = self.input.config.limits.max_reruns_per_task;
        if done >= limit {
            return (
                Decision::Refuse(Refusal::RerunLimitPerTask { limit, done }),
                Vec::new(),
            );
        }
        (Decision::Act(action), warnings)
    }

    fn retrigger(
        &self,
        task: &TaskSnapshot,
        class: TaskClass,
        times: u32,
    ) -> (Decision, Vec<Warning>) {
        let force_role = self.input.config.permissions.force;
        let mut warnings = Vec::new();
        match (class, self.force) {
            (TaskClass::Test, _) => {}
            (TaskClass::Other, false) => {
                return (
                    Decision::Refuse(Refusal::NotRetriggerable { force_role }),
                    warnings,
                )
            }
            (TaskClass::Release, false) => {
                return (
                    Decision::Refuse(Refusal::ReleaseRetriggerDisabled { force_role }),
                    warnings,
                )
            }
            (TaskClass::Other, true) => warnings.push(Warning::Forced {
                what: ForcedAction::RetriggerNotRetriggerable,
            }),
            (TaskClass::Release, true) => {
                warnings.push(Warning::Forced {
                    what: ForcedAction::RetriggerRelease,
                });
                warnings.push(Warning::CopyOutsideGraph {
                    dependents: task.dependents.len(),
                });
            }
        }
        let copies = copy_ids(
            self.input.delivery,
            &task.task_id,
            self.input.command_index,
            times,
        );
        (Decision::Act(Action::Retrigger { copies }), warnings)
    }

    /// Dependencies not completed, failed or exception (or not found among
    /// the pull request's tasks, so their state is unknown), by label.
    fn unresolved_dependencies(&self, task: &TaskSnapshot) -> Vec<String> {
        task.dependencies
            .iter()
            .filter_map(|dep| match self.by_id.get(dep.as_str()) {
                Some(t) if t.state.is_resolved() => None,
                Some(t) => Some(t.label.clone()),
                None => match self.input.external.get(dep) {
                    Some(state) if state.is_resolved() => None,
                    _ => Some(dep.to_string()),
                },
            })
            .collect()
    }
}

/// What to type instead of a rerun the queue cannot do.
fn hint_for(task: &TaskSnapshot, class: TaskClass) -> Hint {
    match class {
        TaskClass::Test => Hint::Retrigger,
        _ if task.dependents.is_empty() => Hint::RetriggerForce,
        _ => Hint::NewPush,
    }
}
