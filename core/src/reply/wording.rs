//! Every sentence a user reads about a plan, a command error or a dispatch
//! failure. Shared by the reply and the `rerunbot plan` dry run, so both say
//! the same thing.

use super::markdown::{code, plural, shorten};
use crate::command::{CommandError, CommentError};
use crate::outcome::DispatchError;
use crate::policy::plan::*;
use crate::policy::task::TaskState;

/// A reason, and the command that would work instead (with the role it
/// needs, when that is more than the command's own role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    pub reason: String,
    pub instead: Option<Suggestion>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    pub command: String,
    pub needs: Option<Role>,
}

impl Explained {
    fn new(reason: impl Into<String>) -> Self {
        Explained {
            reason: reason.into(),
            instead: None,
        }
    }
    fn instead(mut self, command: impl Into<String>, needs: Option<Role>) -> Self {
        self.instead = Some(Suggestion {
            command: command.into(),
            needs,
        });
        self
    }

    /// "reason; use `cmd` (role maintain or above)".
    pub fn to_markdown(&self) -> String {
        match &self.instead {
            None => self.reason.clone(),
            Some(s) => format!(
                "{}; use {}{}",
                self.reason,
                code(&s.command),
                needs(s.needs)
            ),
        }
    }
}

fn needs(role: Option<Role>) -> String {
    role.map(|r| format!(" (needs the {} role or above)", code(r.as_str())))
        .unwrap_or_default()
}

fn names(list: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out: Vec<String> = list.iter().take(SHOWN).map(|s| code(s)).collect();
    if list.len() > SHOWN {
        out.push(format!("{} more", list.len() - SHOWN));
    }
    out.join(", ")
}

/// A label as a selector the parser reads back: double-quoted when it
/// holds spaces (`"Gecko Decision Task"`).
pub fn selector(label: &str) -> String {
    if label.chars().any(char::is_whitespace) {
        format!("\"{label}\"")
    } else {
        label.to_owned()
    }
}

fn hinted(reason: String, hint: Hint, label: &str, force_role: Role) -> Explained {
    let label = &selector(label);
    match hint {
        Hint::Retrigger => Explained::new(reason).instead(format!("/retrigger {label}"), None),
        Hint::RetriggerForce => Explained::new(reason)
            .instead(format!("/retrigger 1 {label} --force"), Some(force_role)),
        Hint::NewPush => {
            Explained::new(format!("{reason}; push a new commit for a new task graph"))
        }
        Hint::NewRelease => Explained::new(format!(
            "{reason}, and a copy would not do: other tasks depend on it or it uses an earlier phase's artifacts; start a build 2 or use advanced release-promotion"
        )),
    }
}

/// Why one task is refused, and what to type instead.
pub fn refusal(r: &Refusal, label: &str, force_role: Role) -> Explained {
    let quoted = selector(label);
    match r {
        Refusal::AlreadyGreen { force_role } => Explained::new("green already (completed)")
            .instead(format!("/rerun {quoted} --force"), Some(*force_role)),
        Refusal::WaitsOnDependencies {
            unresolved,
            force_role,
        } => {
            if unresolved.is_empty() {
                Explained::new("waits on dependencies that did not complete; rerun them, or cancel and rerun this task")
                    .instead(format!("/rerun {quoted} --force"), Some(*force_role))
            } else {
                Explained::new(format!(
                    "waits on dependencies that have not finished: {}; it starts when they complete",
                    names(unresolved)
                ))
            }
        }
        Refusal::DependenciesUnresolved { unresolved } => Explained::new(format!(
            "cannot cancel and rerun while dependencies are unresolved: {}; wait for them to finish",
            names(unresolved)
        )),
        Refusal::DependencyFailed { failed, .. } => {
            let first = failed.first().map(String::as_str).unwrap_or_default();
            Explained::new(format!(
                "waits on failed {}: {}; rerun {} first, then this task when its new run completes",
                if failed.len() == 1 { "dependency" } else { "dependencies" },
                names(failed),
                if failed.len() == 1 { "it" } else { "them" }
            ))
            .instead(format!("/rerun {}", selector(first)), None)
        }
        Refusal::AfterDependencyRerun { dependency } => Explained::new(format!(
            "waits on {}, which is being rerun; rerun {} first, then this task when its new run completes",
            code(dependency),
            code(dependency)
        ))
        .instead(format!("/rerun {}", selector(label)), None),
        Refusal::ConsumesArtifacts { dependency } => Explained::new(format!(
            "cannot cancel and rerun: it uses artifacts of the failed dependency {}, so it would fail too; rerun that dependency first",
            code(dependency)
        ))
        .instead(format!("/rerun {}", selector(dependency)), None),
        Refusal::CopyWouldWait { dependency, failed } => {
            if *failed {
                Explained::new(format!(
                    "a copy would wait on the same failed dependency {} and never run; rerun it first",
                    code(dependency)
                ))
                .instead(format!("/rerun {}", selector(dependency)), None)
            } else if dependency == label {
                Explained::new(
                    "a copy would wait on the same dependencies as this task, which have not completed",
                )
            } else {
                Explained::new(format!(
                    "a copy would wait on {}, which has not completed; retrigger when it has",
                    code(dependency)
                ))
            }
        }
        Refusal::ReleaseOneCopy => Explained::new(
            "a forced retrigger of a release task makes one copy, never more",
        )
        .instead(format!("/retrigger 1 {} --force", selector(label)), Some(force_role)),
        Refusal::PastDeadline { hint } => hinted(
            "past its deadline: the queue cannot rerun it".to_owned(),
            *hint,
            label,
            force_role,
        ),
        Refusal::RunLimit { runs, hint } => hinted(
            format!("already has {runs} runs, the queue's limit"),
            *hint,
            label,
            force_role,
        ),
        Refusal::NotRetriggerable { force_role } => Explained::new(format!(
            "not retriggerable: only test tasks are (`--force` overrides, needs the {} role)",
            code(force_role.as_str())
        ))
        .instead(format!("/rerun {quoted}"), None),
        Refusal::ReleaseRetriggerDisabled { .. } => Explained::new(
            "retrigger is disabled for release tasks (a rerun unblocks the graph)",
        )
        .instead(format!("/rerun {quoted}"), None),
        Refusal::RerunLimitPerTask { limit, done } => Explained::new(format!(
            "already rerun {} for this commit (limit {limit}); push a fix or ask a maintainer to look",
            plural(*done as usize, "time")
        )),
        Refusal::InTreeAction { problem } => Explained::new(action_problem(problem)),
    }
}

/// Why an action cannot go through the repository's in-tree actions.
pub fn action_problem(p: &ActionProblem) -> String {
    match p {
        ActionProblem::NoActionsJson => "the decision task publishes no `public/actions.json`, and this repository dispatches through in-tree actions only (`dispatch: actions`)".to_owned(),
        ActionProblem::NoAction { action } => format!(
            "the decision task's `public/actions.json` has no {} action for this task",
            code(action)
        ),
        ActionProblem::ReleaseCopyNeedsActions => "a copy of a release task must be made by the repository's own `retrigger` action, and the decision task publishes none: a direct copy would fail Chain of Trust (its taskId is in no parent's `task-graph.json`)".to_owned(),
        ActionProblem::HookNotAllowed { hook } => format!(
            "the decision task's scopes do not allow the hook {}: the action is misconfigured, so it was not triggered",
            code(hook)
        ),
        ActionProblem::Unusable { action, message } => format!(
            "the {} action cannot be used: {}",
            code(action),
            code(&shorten(message, 300))
        ),
    }
}

pub fn skip(reason: &SkipReason, state: TaskState) -> String {
    match reason {
        SkipReason::InProgress => format!("already {}", state.as_str()),
    }
}

fn kind_name(kind: CommandKind) -> &'static str {
    match kind {
        CommandKind::Rerun => "/rerun",
        CommandKind::Retrigger => "/retrigger",
    }
}

/// Why a whole command is not run. `command_text` is the line as written.
pub fn command_refusal(r: &CommandRefusal, command_text: &str, force_role: Role) -> Explained {
    match r {
        CommandRefusal::PullRequestClosed => Explained::new(
            "the pull request is closed without merging; commands run on open or merged pull requests",
        ),
        CommandRefusal::RoleTooLow {
            command,
            required,
            actual,
            author_may_rerun,
        } => {
            let mut reason = format!(
                "{} needs the {} role or above in this repository; yours is {}",
                code(kind_name(*command)),
                code(required.as_str()),
                code(actual.as_str())
            );
            if *command == CommandKind::Rerun && *author_may_rerun {
                reason.push_str(
                    " (a pull request's author may `/rerun` the failed tasks of their own pull request when the repository allows it)",
                );
            }
            Explained::new(reason + "; ask someone with that role")
        }
        CommandRefusal::ForceNeedsRole { required, actual } => {
            let without: Vec<&str> = command_text
                .split_whitespace()
                .filter(|w| *w != "--force" && *w != "-f")
                .collect();
            Explained::new(format!(
                "`--force` needs the {} role or above; yours is {}",
                code(required.as_str()),
                code(actual.as_str())
            ))
            .instead(without.join(" "), None)
        }
        CommandRefusal::CountOutOfRange { count, max } => Explained::new(format!(
            "{count} copies is out of range: N is 1 to {max} in this repository"
        ))
        .instead(format!("/retrigger {max} …"), None),
        CommandRefusal::NoTasks => Explained::new(
            "no Taskcluster tasks were found for this pull request yet; try again once the decision task has run",
        ),
        CommandRefusal::NothingSelected { command } => match command {
            CommandKind::Rerun => Explained::new("no failed or exception task to rerun")
                .instead("/rerun <label>", None),
            CommandKind::Retrigger => Explained::new(
                "no failed or exception retriggerable (test) task to retrigger",
            )
            .instead("/retrigger <label>", None),
        },
        CommandRefusal::NoMatch => Explained::new("no task matches the selectors"),
        CommandRefusal::FailureGuard {
            failed,
            total,
            max_percent,
        } => Explained::new(format!(
            "{failed} of {total} tasks failed, more than {max_percent}%: that looks like a real breakage, not intermittent failures; name the tasks to act on, or force it"
        ))
        .instead(format!("{} --force", command_text.trim()), Some(force_role)),
        CommandRefusal::TooManyNewTasks {
            requested,
            max,
            earlier,
        } => Explained::new(if *earlier == 0 {
            format!("this would create {requested} tasks; the limit per comment is {max}; select fewer tasks or ask for fewer copies")
        } else {
            format!("this would create {requested} tasks after the {earlier} of the comment's earlier commands; the limit per comment is {max}; select fewer tasks or ask for fewer copies")
        }),
        CommandRefusal::TooManyReruns { requested, max } => Explained::new(format!(
            "this would rerun {requested} tasks; the limit per command is {max} (`limits.max_reruns_per_command`); select fewer tasks"
        )),
        CommandRefusal::TooManyCopiesForCommit { requested, done, max } => Explained::new(format!(
            "this would make {requested} copies; {done} were made for this commit already and the limit is {max} (`limits.max_retriggers_per_sha`); push a fix or ask a maintainer to look"
        )),
    }
}

pub fn warning(w: &Warning) -> String {
    match w {
        Warning::ChainOfTrust => "Chain of Trust: the rerun produces artifacts with new SHAs that will not match what downstream tasks already used".to_owned(),
        Warning::CopyOutsideGraph { dependents } => format!(
            "the copy is outside the release graph: {} keep the original",
            match dependents {
                0 => "no task depends on it, and downstream tasks".to_owned(),
                1 => "the 1 task that depends on it will".to_owned(),
                n => format!("the {n} tasks that depend on it will"),
            }
        ),
        Warning::Forced { what } => match what {
            ForcedAction::RerunCompleted => "forced: rerunning a task that completed".to_owned(),
            ForcedAction::CancelRerun => "forced: canceling an unscheduled task, then rerunning it".to_owned(),
            ForcedAction::RetriggerNotRetriggerable => "forced: retriggering a task that is not retriggerable".to_owned(),
            ForcedAction::RetriggerRelease => "forced: retriggering a release task".to_owned(),
        },
        Warning::FailureGuardOverridden { failed, total, max_percent } => format!(
            "forced past the failure guard: {failed} of {total} tasks failed (more than {max_percent}%)"
        ),
        Warning::MergedPullRequest => "the pull request is merged: acting on the merge commit's tasks".to_owned(),
        Warning::PostBuildPhase => "a task of a post-build release phase (promote, push, ship): the copy runs outside that phase's graph and may recreate its on-push dependencies".to_owned(),
    }
}

/// A command line that cannot run as written.
pub fn command_error(e: &CommandError) -> String {
    match e {
        CommandError::UnknownCommand { written, suggestion } => {
            let mut s = format!("{} is not a command", code(written));
            if let Some(m) = suggestion {
                s.push_str(&format!("; did you mean {}?", code(m)));
            } else {
                s.push_str("; the commands are `/rerun`, `/retrigger` and `/rerunbot help`");
            }
            s
        }
        CommandError::BadCount { written } => format!(
            "{} is not a valid number of copies: N is a whole number from 1 up, as in `/retrigger 3 <label>`",
            code(written)
        ),
        CommandError::CountTooLarge { count, max } => format!(
            "{count} copies is over this repository's limit of {max} (`limits.max_retrigger`); use `/retrigger {max} …` or less"
        ),
        CommandError::UnknownFlag { flag, suggestion } => match suggestion {
            Some(m) => format!("unknown flag {}; did you mean {}?", code(flag), code(m)),
            None => format!("unknown flag {}; the only flag is `--force`", code(flag)),
        },
        CommandError::DuplicateFlag { flag } => {
            format!("the flag {} is given more than once; write it once", code(flag))
        }
        CommandError::CountAfterSelectors { suggestion } => format!(
            "the count goes first: {}",
            code(suggestion)
        ),
        CommandError::TooManySelectors { found, max } => format!(
            "{found} selectors; at most {max} per command: use a glob, or split the command"
        ),
        CommandError::SelectorTooLong { max } => format!(
            "a selector is longer than {max} characters; use a shorter label or a glob"
        ),
        CommandError::UnknownSubcommand { written } => format!(
            "{} is not a rerunbot command; try `/rerunbot help`",
            code(&shorten(written, 80))
        ),
    }
}

pub fn comment_error(e: &CommentError) -> String {
    match e {
        CommentError::TooManyCommands { found, max } => format!(
            "this comment has {found} commands; at most {max} are allowed in one comment, so none was run. Split them over several comments"
        ),
    }
}

/// What went wrong when an action was sent to the queue.
pub fn dispatch_error(e: &DispatchError, label: &str) -> String {
    let quoted = |m: &str| code(&shorten(m, 300));
    match e {
        DispatchError::PastDeadline => format!(
            "the queue refused: the deadline has passed; use {}",
            code(&format!("/retrigger {label}"))
        ),
        DispatchError::RunLimit => "the queue refused: the task has reached its limit of runs".to_owned(),
        DispatchError::Conflict { message } => format!(
            "the queue has a different task with this id: {}",
            quoted(message)
        ),
        DispatchError::InsufficientScopes { message } => format!(
            "the app's Taskcluster client lacks scopes; the queue said: {}; a Taskcluster admin must grant them",
            quoted(message)
        ),
        DispatchError::NotFound => "the task no longer exists in the queue".to_owned(),
        // It may have taken effect: asking again could double it.
        DispatchError::Unavailable { message } => format!(
            "Taskcluster did not answer ({}); it may have taken effect, so look at the task group before asking again",
            quoted(message)
        ),
        DispatchError::Rejected { status, message } => {
            format!("the queue answered {status}: {}", quoted(message))
        }
        DispatchError::StartedSincePlan { state } => format!(
            "not canceled: it was scheduled since the plan (now {}); it runs on its own",
            code(state)
        ),
        DispatchError::CanceledNotRerun { error } => format!(
            "canceled, but the rerun then failed ({}); the task is now canceled: use {}",
            dispatch_error(error, label),
            code(&format!("/rerun {}", selector(label)))
        ),
        DispatchError::CancelWithoutEffect { action_task, state } => format!(
            "{}, so it was not rerun; see the action task's log for why, then comment {} again if this task still needs a rerun",
            cancel_without_effect(action_task, state),
            code(&format!("/rerun --force {}", selector(label)))
        ),
    }
}

/// "the cancel action task `…` finished (`completed`) without canceling
/// this task": why a cancel-then-rerun through in-tree actions stopped,
/// for a job's row and for a dropped wait alike.
pub fn cancel_without_effect(action_task: &crate::types::TaskId, state: &str) -> String {
    format!(
        "the cancel action task {} finished ({}) without canceling this task",
        code(action_task.as_str()),
        code(state)
    )
}

pub fn action(a: &Action) -> String {
    match a {
        Action::Rerun { .. } => "rerun".to_owned(),
        Action::CancelRerun { .. } => "cancel, then rerun".to_owned(),
        Action::Retrigger { copies } => format!("retrigger ×{}", copies.len()),
    }
}
