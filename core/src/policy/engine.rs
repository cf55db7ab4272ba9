//! `plan`: one command → a decision per selected task (DESIGN.md §6).
//! Whole-command checks come first (pull request state, count, roles,
//! selection, failure guard), then each task is judged on its own, then
//! the limits on what the command (and its comment, and its commit) adds.

use super::deps::{DepRef, Deps, Graph};
use super::plan::*;
use super::select::{pick, Picked};
use super::{copy_ids, PlanInput, PrState};
use crate::command::Command;
use crate::policy::task::{TaskSnapshot, TaskState};
use crate::repo_config::Classifier;
use std::collections::{BTreeMap, BTreeSet};

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
    let author_exemption = perms.pr_author_rerun && input.pr == PrState::Open;
    let author_may_rerun =
        kind == CommandKind::Rerun && !force && author_exemption && actor.is_pr_author;
    if actor.role < required && !author_may_rerun {
        return Plan::refused(CommandRefusal::RoleTooLow {
            command: kind,
            required,
            actual: actor.role,
            author_may_rerun: kind == CommandKind::Rerun && author_exemption,
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

    let Picked {
        picked,
        unmatched,
        broad,
    } = pick(kind, selectors, tasks, &classes);
    if broad {
        if let Some((failed, total)) = failure_guard(tasks, limits.max_failure_percent) {
            let max_percent = limits.max_failure_percent;
            if !force {
                return Plan {
                    warnings,
                    ..Plan::refused(CommandRefusal::FailureGuard {
                        failed,
                        total,
                        max_percent,
                    })
                };
            }
            warnings.push(Warning::FailureGuardOverridden {
                failed,
                total,
                max_percent,
            });
        }
    }
    if picked.is_empty() {
        let refusal = if unmatched.is_empty() {
            CommandRefusal::NothingSelected { command: kind }
        } else {
            CommandRefusal::NoMatch
        };
        return Plan {
            refusal: Some(refusal),
            rows: Vec::new(),
            warnings,
            unmatched,
        };
    }

    let graph = Graph::new(tasks, input.outside);
    let mut reruns = input.ledger.reruns_by_task.clone();
    // Tasks this comment reruns (earlier commands, earlier rows): their
    // dependents wait for the new runs.
    let mut rerunning = input.ledger.rerun_in_comment.clone();
    let judge = Judge {
        input,
        force,
        graph: &graph,
    };
    let mut rows = Vec::with_capacity(picked.len());
    for i in picked {
        let task = &tasks[i];
        let class = classes[i];
        let (decision, row_warnings) = match kind {
            CommandKind::Rerun => {
                let out = judge.rerun(task, class, &reruns, &rerunning);
                if matches!(out.0, Decision::Act(_) | Decision::Wait(_)) {
                    *reruns.entry(task.task_id.to_string()).or_default() += 1;
                    rerunning.insert(task.task_id.to_string());
                }
                out
            }
            CommandKind::Retrigger => judge.retrigger(task, class, times),
        };
        rows.push(PlanRow {
            task_id: task.task_id.clone(),
            label: task.label.to_string(),
            name: task.name().to_owned(),
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
    match over_limits(&plan, input) {
        Some(refusal) => Plan {
            rows: Vec::new(),
            refusal: Some(refusal),
            ..plan
        },
        None => plan,
    }
}

/// `(failed, total)` when more than `max_percent` of the resolved tasks
/// failed. Decision and action tasks are not counted, nor earlier instances
/// of a label (a retriggered label counts once, by its newest instance).
fn failure_guard(tasks: &[TaskSnapshot], max_percent: u32) -> Option<(usize, usize)> {
    let mut newest: BTreeMap<&str, &TaskSnapshot> = BTreeMap::new();
    for task in tasks.iter().filter(|t| !t.is_decision_or_action()) {
        let entry = newest.entry(task.label.as_ref()).or_insert(task);
        if (task.created, &task.task_id) > (entry.created, &entry.task_id) {
            *entry = task;
        }
    }
    let resolved: Vec<&&TaskSnapshot> = newest.values().filter(|t| t.state.is_resolved()).collect();
    let total = resolved.len();
    let failed = resolved.iter().filter(|t| t.state.is_broken()).count();
    // Integer form of failed / total > max_percent / 100.
    (failed * 100 > max_percent as usize * total).then_some((failed, total))
}

/// The limits on what a command adds: reruns per command, new tasks per
/// comment, copies per commit.
fn over_limits(plan: &Plan, input: &PlanInput) -> Option<CommandRefusal> {
    let limits = &input.config.limits;
    let ledger = input.ledger;
    let reruns = plan.reruns().count();
    if reruns > limits.max_reruns_per_command as usize {
        return Some(CommandRefusal::TooManyReruns {
            requested: reruns,
            max: limits.max_reruns_per_command,
        });
    }
    let requested = plan.new_tasks();
    if requested == 0 {
        return None;
    }
    let earlier = ledger.new_tasks_in_comment;
    if requested + earlier as usize > limits.max_new_tasks as usize {
        return Some(CommandRefusal::TooManyNewTasks {
            requested,
            max: limits.max_new_tasks,
            earlier,
        });
    }
    if requested + ledger.copies as usize > limits.max_retriggers_per_sha as usize {
        return Some(CommandRefusal::TooManyCopiesForCommit {
            requested,
            done: ledger.copies,
            max: limits.max_retriggers_per_sha,
        });
    }
    None
}

struct Judge<'a> {
    input: &'a PlanInput<'a>,
    force: bool,
    graph: &'a Graph<'a>,
}

impl Judge<'_> {
    fn rerun(
        &self,
        task: &TaskSnapshot,
        class: TaskClass,
        reruns: &BTreeMap<String, u32>,
        rerunning: &BTreeSet<String>,
    ) -> (Decision, Vec<Warning>) {
        let force_role = self.input.config.permissions.force;
        let mut warnings = Vec::new();
        if matches!(task.state, TaskState::Pending | TaskState::Running) {
            return (Decision::Skip(SkipReason::InProgress), warnings);
        }
        // Past its deadline the queue refuses any rerun, forced or not: say
        // that first, whatever the state (a retrigger is what works).
        if self.input.now > task.deadline {
            let hint = self.hint_for(task, class);
            return (Decision::Refuse(Refusal::PastDeadline { hint }), Vec::new());
        }
        let deps = self.graph.deps(task);
        let (mut on, after) = self.being_rerun(&deps, rerunning);
        // A task that never ran because a dependency is not completed is
        // judged as unscheduled: its dependency is what is broken.
        let waiting =
            task.state == TaskState::Unscheduled || (task.never_ran() && !deps.all_completed());
        let mut kind = WaitKind::AfterRerun;
        let action = match task.state {
            // Its broken dependencies are being rerun and nothing else
            // stands in the way: once their new runs completed it can run
            // (the queue schedules it, or it is rerun then).
            _ if waiting
                && !on.is_empty()
                && after.failed.is_empty()
                && after.unknown.is_empty() =>
            {
                on.extend(after.unresolved.iter().filter_map(waited_on));
                Action::Rerun {
                    runs_seen: task.runs,
                }
            }
            _ if waiting => match self.waiting_rerun(task, &deps, reruns, force_role) {
                Ok((action, others)) => {
                    warnings.push(Warning::Forced {
                        what: ForcedAction::CancelRerun,
                    });
                    if !others.is_empty() {
                        kind = WaitKind::ForcedCancel;
                        on = others;
                    }
                    action
                }
                Err(refusal) => return (Decision::Refuse(refusal), warnings),
            },
            TaskState::Completed if !self.force => {
                return (
                    Decision::Refuse(Refusal::AlreadyGreen { force_role }),
                    warnings,
                )
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
            _ => Action::Rerun {
                runs_seen: task.runs,
            },
        };
        if task.runs >= QUEUE_MAX_RUNS {
            let hint = self.hint_for(task, class);
            return (
                Decision::Refuse(Refusal::RunLimit {
                    runs: task.runs,
                    hint,
                }),
                Vec::new(),
            );
        }
        let limit = self.input.config.limits.max_reruns_per_task;
        let done = reruns.get(task.task_id.as_str()).copied().unwrap_or(0);
        if done >= limit {
            return (
                Decision::Refuse(Refusal::RerunLimitPerTask { limit, done }),
                Vec::new(),
            );
        }
        if on.is_empty() {
            return (Decision::Act(action), warnings);
        }
        let wait = Wait {
            action,
            kind,
            on,
            deadline: task.deadline,
        };
        (Decision::Wait(wait), warnings)
    }

    /// The dependencies being rerun now (by this comment, or by an earlier
    /// one and still running), as the runs to wait on, and the other
    /// dependencies as they will stand once those completed.
    fn being_rerun(&self, deps: &Deps, rerunning: &BTreeSet<String>) -> (Vec<WaitOn>, Deps) {
        let ledger = &self.input.ledger.reruns_by_task;
        let mut on = Vec::new();
        let mut after = Deps::default();
        let split = |list: &[DepRef], rest: &mut Vec<DepRef>, on: &mut Vec<WaitOn>| {
            for dep in list {
                let id = dep.task_id.as_str();
                let in_comment = rerunning.contains(id);
                let still_running = ledger.contains_key(id)
                    && matches!(dep.state, Some(TaskState::Pending | TaskState::Running));
                match (dep.runs, in_comment, still_running) {
                    // This comment's rerun makes run `runs`.
                    (Some(runs), true, _) => on.push(wait_on(dep, runs)),
                    (Some(_), false, true) => on.extend(waited_on(dep)),
                    _ => rest.push(dep.clone()),
                }
            }
        };
        split(&deps.failed, &mut after.failed, &mut on);
        split(&deps.unresolved, &mut after.unresolved, &mut on);
        // A completed dependency rerun by this comment is waited on too
        // (a forced rerun of a green task: the notarization sequence).
        for id in deps.completed.iter() {
            if rerunning.contains(id.task_id.as_str()) {
                if let Some(runs) = id.runs {
                    on.push(wait_on(id, runs));
                }
            }
        }
        after.unknown = deps.unknown.clone();
        (on, after)
    }

    /// A task waiting on its dependencies (unscheduled, or resolved without
    /// running). Without `--force`: the order to follow. With it: cancel
    /// (when unscheduled) and rerun, only when every dependency has resolved
    /// and the task uses no artifact of a failed one; while other
    /// dependencies still run, the cancel-then-rerun waits for them (the
    /// runs returned) and is judged again then.
    fn waiting_rerun(
        &self,
        task: &TaskSnapshot,
        deps: &Deps,
        reruns: &BTreeMap<String, u32>,
        force_role: Role,
    ) -> Result<(Action, Vec<WaitOn>), Refusal> {
        // A broken dependency already being rerun: this task follows it.
        if let Some(dep) = deps
            .failed
            .iter()
            .find(|d| reruns.contains_key(d.task_id.as_str()))
        {
            return Err(Refusal::AfterDependencyRerun {
                dependency: dep.label.clone(),
            });
        }
        if !self.force {
            return Err(if deps.failed.is_empty() {
                Refusal::WaitsOnDependencies {
                    unresolved: deps.labels_unresolved(),
                    force_role,
                }
            } else {
                Refusal::DependencyFailed {
                    failed: deps.labels_failed(),
                    force_role,
                }
            });
        }
        if let Some(dep) = deps
            .failed
            .iter()
            .find(|d| task.consumes.contains(&d.task_id))
        {
            return Err(Refusal::ConsumesArtifacts {
                dependency: dep.label.clone(),
            });
        }
        let mut others = Vec::new();
        if !deps.unresolved.is_empty() {
            // Only runs that are under way can be waited on: an unscheduled
            // dependency may itself wait on the broken one forever. And a
            // task with no failed dependency is not stuck: the queue
            // schedules it once the others complete.
            let running: Vec<WaitOn> = deps.unresolved.iter().filter_map(waited_on).collect();
            if deps.failed.is_empty()
                || running.len() < deps.unresolved.len()
                || !deps.unknown.is_empty()
            {
                return Err(Refusal::DependenciesUnresolved {
                    unresolved: deps.labels_unresolved(),
                });
            }
            others = deps
                .unresolved
                .iter()
                .zip(running)
                .map(|(dep, on)| WaitOn {
                    consumed: task.consumes.contains(&dep.task_id),
                    ..on
                })
                .collect();
        }
        let action = match task.state {
            TaskState::Unscheduled => Action::CancelRerun {
                runs_seen: task.runs,
            },
            // Resolved already: a rerun alone makes it pending again.
            _ => Action::Rerun {
                runs_seen: task.runs,
            },
        };
        Ok((action, others))
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
                if times > 1 {
                    return (Decision::Refuse(Refusal::ReleaseOneCopy), Vec::new());
                }
                warnings.push(Warning::Forced {
                    what: ForcedAction::RetriggerRelease,
                });
                warnings.push(Warning::CopyOutsideGraph {
                    dependents: self.graph.dependents(task),
                });
                if self.graph.post_build_phase(task) {
                    warnings.push(Warning::PostBuildPhase);
                }
            }
        }
        // A copy has the same dependencies: it would wait on the same
        // broken or unfinished one, never running.
        let deps = self.graph.deps(task);
        let blocker = deps
            .failed
            .first()
            .map(|d| (d, true))
            .or_else(|| deps.unresolved.first().map(|d| (d, false)));
        if let Some((dep, failed)) = blocker {
            return (
                Decision::Refuse(Refusal::CopyWouldWait {
                    dependency: dep.label.clone(),
                    failed,
                }),
                Vec::new(),
            );
        }
        if task.state == TaskState::Unscheduled {
            return (
                Decision::Refuse(Refusal::CopyWouldWait {
                    dependency: task.label.to_string(),
                    failed: false,
                }),
                Vec::new(),
            );
        }
        let copies = copy_ids(
            self.input.delivery,
            &task.task_id,
            self.input.command_index,
            times,
        );
        (Decision::Act(Action::Retrigger { copies }), warnings)
    }

    /// What to type instead of a rerun the queue cannot do. A copy stands
    /// in for a release task only when it is a leaf: no dependent in any
    /// group, and nothing taken from an earlier phase's group.
    fn hint_for(&self, task: &TaskSnapshot, class: TaskClass) -> Hint {
        let no_dependents = self.graph.dependents(task) == 0;
        match class {
            TaskClass::Test => Hint::Retrigger,
            TaskClass::Release if no_dependents && !self.graph.depends_outside_group(task) => {
                Hint::RetriggerForce
            }
            TaskClass::Release => Hint::NewRelease,
            TaskClass::Other if no_dependents => Hint::RetriggerForce,
            TaskClass::Other => Hint::NewPush,
        }
    }
}

/// The run of `dep` numbered `run_id`, to wait on.
fn wait_on(dep: &DepRef, run_id: u32) -> WaitOn {
    WaitOn {
        task_id: dep.task_id.clone(),
        label: dep.label.clone(),
        run_id,
        consumed: false,
    }
}

/// The run under way of a pending or running dependency among the tasks.
fn waited_on(dep: &DepRef) -> Option<WaitOn> {
    match (dep.state, dep.runs) {
        (Some(TaskState::Pending | TaskState::Running), Some(runs)) if runs > 0 => {
            Some(wait_on(dep, runs - 1))
        }
        _ => None,
    }
}
