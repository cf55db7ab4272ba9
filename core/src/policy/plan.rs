//! The plan: for every task a command selected, exactly one decision, plus
//! warnings. Built by `policy::plan`, stored before dispatch, rendered by
//! `reply`. Reasons are data here; their wording lives in `reply`.

use crate::policy::task::TaskState;
use crate::types::TaskId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How release engineering's rules see a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskClass {
    Release,
    Test,
    Other,
}

/// A repository role, ordered by power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

/// What to send to the queue for one task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// `POST /task/<id>/rerun`, unless a run beyond `runs_seen` exists.
    Rerun { runs_seen: u32 },
    /// `POST /task/<id>/cancel` then rerun.
    CancelRerun { runs_seen: u32 },
    /// `PUT /task/<copy>` for each copy id (deterministic, see taskcluster::copy).
    Retrigger { copies: Vec<TaskId> },
}

impl Action {
    /// Number of tasks this action creates.
    pub fn new_tasks(&self) -> usize {
        match self {
            Action::Retrigger { copies } => copies.len(),
            Action::Rerun { .. } | Action::CancelRerun { .. } => 0,
        }
    }
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::None,
        Role::Read,
        Role::Triage,
        Role::Write,
        Role::Maintain,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Read => "read",
            Role::Triage => "triage",
            Role::Write => "write",
            Role::Maintain => "maintain",
            Role::Admin => "admin",
        }
    }

    /// `none|read|triage|write|maintain|admin` (case-insensitive).
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The role from `GET /repos/{o}/{r}/collaborators/{user}/permission`:
    /// `role_name` when it is one of the built-in roles; a custom role (or
    /// none) falls back to the legacy `permission` field (admin, write,
    /// read, none). Anything unreadable is `None`: never more power than
    /// GitHub stated. Never derived from `author_association`.
    pub fn from_permission_response(role_name: Option<&str>, permission: Option<&str>) -> Role {
        role_name
            .and_then(Role::parse)
            .or_else(|| permission.and_then(Role::parse))
            .unwrap_or(Role::None)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| {
            format!("unknown role `{s}` (expected none, read, triage, write, maintain or admin)")
        })
    }
}

impl TaskClass {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskClass::Release => "release",
            TaskClass::Test => "test",
            TaskClass::Other => "other",
        }
    }
}

/// Which command a plan answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandKind {
    Rerun,
    Retrigger,
}

/// The plan for one command: a decision per selected task, or a refusal of
/// the whole command (then `rows` is empty and nothing is dispatched).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub rows: Vec<PlanRow>,
    pub refusal: Option<CommandRefusal>,
    pub warnings: Vec<Warning>,
    pub unmatched: Vec<UnmatchedSelector>,
}

impl Plan {
    pub fn refused(refusal: CommandRefusal) -> Self {
        Plan {
            refusal: Some(refusal),
            ..Plan::default()
        }
    }

    /// The actions to dispatch, with their task, in row order.
    pub fn actions(&self) -> impl Iterator<Item = (&PlanRow, &Action)> {
        self.rows.iter().filter_map(|row| match &row.decision {
            Decision::Act(action) => Some((row, action)),
            _ => None,
        })
    }

    /// Tasks this plan creates.
    pub fn new_tasks(&self) -> usize {
        self.actions().map(|(_, a)| a.new_tasks()).sum()
    }

    /// The actions held back until what they wait on resolves, with their
    /// task, in row order.
    pub fn waits(&self) -> impl Iterator<Item = (&PlanRow, &Wait)> {
        self.rows.iter().filter_map(|row| match &row.decision {
            Decision::Wait(wait) => Some((row, wait)),
            _ => None,
        })
    }

    /// Every rerun the plan sends now or once a wait fires, with its task:
    /// what the rerun limits and the ledger count.
    pub fn reruns(&self) -> impl Iterator<Item = (&PlanRow, &Action)> {
        self.rows.iter().filter_map(|row| match &row.decision {
            Decision::Act(a @ (Action::Rerun { .. } | Action::CancelRerun { .. })) => {
                Some((row, a))
            }
            Decision::Wait(wait) => Some((row, &wait.action)),
            _ => None,
        })
    }
}

/// One selected task and what to do with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRow {
    pub task_id: TaskId,
    pub label: String,
    pub name: String,
    pub class: TaskClass,
    pub state: crate::policy::task::TaskState,
    pub decision: Decision,
    pub warnings: Vec<Warning>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", content = "detail", rename_all = "snake_case")]
pub enum Decision {
    Act(Action),
    /// The action runs once the runs it waits on resolve (DESIGN.md §13).
    Wait(Wait),
    Skip(SkipReason),
    Refuse(Refusal),
}

/// An action held back (DESIGN.md §6, §13): stored with the job, fired by
/// follow-through when every run it waits on resolved, dropped when one
/// fails, expired with the task's deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    /// What is sent when the wait fires (a rerun or a cancel-then-rerun).
    pub action: Action,
    pub kind: WaitKind,
    /// The runs waited on.
    pub on: Vec<WaitOn>,
    /// The waiting task's deadline: the queue cannot rerun it after that.
    pub deadline: DateTime<Utc>,
}

/// Why an action waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// A dependency is being rerun (by this command, an earlier one of the
    /// comment, or an earlier comment): rerun once its new run completed,
    /// not at all if it fails.
    AfterRerun,
    /// `--force` cancel-then-rerun while other dependencies still run: once
    /// they resolved, judged again by the cancel-then-rerun rule.
    ForcedCancel,
}

/// One run a wait waits on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitOn {
    pub task_id: TaskId,
    /// Its label, for the reply.
    pub label: String,
    /// The run whose resolution counts.
    pub run_id: u32,
    /// The waiting task downloads this task's artifacts.
    #[serde(default)]
    pub consumed: bool,
}

/// Why a waiting action was dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dropped {
    /// A run it waited on did not complete.
    DependencyFailed {
        dependency: String,
        run_id: u32,
        state: TaskState,
        reason: Option<String>,
    },
    /// The rerun of a dependency it waited on did not start.
    DependencyNotRerun { dependency: String },
    /// Cancel-then-rerun judged again: a dependency whose artifacts it
    /// uses failed, so it would fail too.
    ConsumesArtifacts { dependency: String },
    /// The task's deadline passed while it waited on `waiting_for`.
    Expired { waiting_for: Vec<String> },
    /// Fired through in-tree actions: the cancel action task
    /// `action_task` had not canceled the task after `waited_secs`, so its
    /// rerun was not sent.
    CancelNotInEffect {
        action_task: TaskId,
        waited_secs: u64,
    },
    /// Fired through in-tree actions: the cancel action task
    /// `action_task` resolved (as `state`) without canceling the task, so
    /// it never will, and the rerun was not sent.
    CancelWithoutEffect { action_task: TaskId, state: String },
}

/// Nothing to do for a task, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// Pending or running: already queued, a rerun would be a no-op.
    InProgress,
}

/// What the user can type instead of a refused rerun.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// `/retrigger <label>` (a test task).
    Retrigger,
    /// `/retrigger 1 <label> --force` (a leaf task that is not a test).
    RetriggerForce,
    /// Nothing the bot can do; push a new commit for a new graph.
    NewPush,
    /// A release task that is not a leaf (tasks depend on it, in any group,
    /// or it uses an earlier phase's artifacts): a copy would not help.
    NewRelease,
}

/// A task the command selected but may not act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// `/rerun` of a completed task without `--force`.
    AlreadyGreen { force_role: Role },
    /// `/rerun` of an unscheduled task; `unresolved` names its dependencies
    /// that have not resolved yet.
    WaitsOnDependencies {
        unresolved: Vec<String>,
        force_role: Role,
    },
    /// `/rerun --force` of an unscheduled task whose dependencies are not all
    /// completed, failed or exception: cancel-then-rerun would not help.
    DependenciesUnresolved { unresolved: Vec<String> },
    /// `/rerun` of a task that waits on (or, never having run, was stopped
    /// by) failed dependencies: rerun those first.
    DependencyFailed {
        failed: Vec<String>,
        force_role: Role,
    },
    /// A dependency is being rerun (by this command, an earlier command of
    /// the comment or an earlier comment): rerun this task when that
    /// dependency's new run completes.
    AfterDependencyRerun { dependency: String },
    /// `/rerun --force` of a task that downloads artifacts of the failed
    /// `dependency` (`upstreamArtifacts`, `MOZ_FETCHES`): it would fail too.
    ConsumesArtifacts { dependency: String },
    /// `/retrigger` of a task that is unscheduled or whose dependency is not
    /// completed: a copy would wait on the same dependency. `failed` names
    /// a failed dependency to rerun first.
    CopyWouldWait { dependency: String, failed: bool },
    /// `/retrigger N --force` of a release task with N > 1: one copy only.
    ReleaseOneCopy,
    /// The deadline has passed; the queue cannot rerun it.
    PastDeadline { hint: Hint },
    /// The queue's limit of runs per task.
    RunLimit { runs: u32, hint: Hint },
    /// `/retrigger` of a task that is not retriggerable (class other).
    NotRetriggerable { force_role: Role },
    /// `/retrigger` of a release task.
    ReleaseRetriggerDisabled { force_role: Role },
    /// The app already reran this label `done` times for this head SHA.
    RerunLimitPerTask { limit: u32, done: u32 },
    /// The action cannot go through the repository's in-tree actions, and
    /// may not go to the queue directly (DESIGN.md §8, §12).
    InTreeAction { problem: ActionProblem },
}

/// Why an action cannot go through the decision task's in-tree actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionProblem {
    /// `dispatch: actions`, and the decision task publishes no
    /// `public/actions.json`.
    NoActionsJson,
    /// No action named `action` applies to the task.
    NoAction { action: String },
    /// A forced copy of a release task, and the decision task publishes no
    /// usable action for it: a direct copy would fail Chain of Trust.
    ReleaseCopyNeedsActions,
    /// The decision task's scopes do not satisfy
    /// `in-tree:hook-action:<hook>`: it may not trigger that hook.
    HookNotAllowed { hook: String },
    /// `actions.json` or the action cannot be used (`message` says why).
    Unusable { action: String, message: String },
}

/// Something the reply must say about an action that goes ahead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// Forced rerun of a completed release task: new artifact hashes will not
    /// match what downstream tasks verified (Chain of Trust).
    ChainOfTrust,
    /// Forced retrigger of a release task: `dependents` tasks of the graph
    /// keep using the original.
    CopyOutsideGraph { dependents: usize },
    /// The action needed `--force`, and why.
    Forced { what: ForcedAction },
    /// The failure guard was overridden by `--force`.
    FailureGuardOverridden {
        failed: usize,
        total: usize,
        max_percent: u32,
    },
    /// The pull request is merged: acting on the merge commit's tasks.
    MergedPullRequest,
    /// A copy of a task of a post-build release phase (promote, push,
    /// ship): it runs outside that phase's graph and may recreate its
    /// on-push dependencies.
    PostBuildPhase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForcedAction {
    RerunCompleted,
    CancelRerun,
    RetriggerNotRetriggerable,
    RetriggerRelease,
}

/// A selector that matched no task, with the closest labels or names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedSelector {
    pub selector: String,
    pub suggestions: Vec<String>,
}

/// Why a whole command is not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandRefusal {
    /// The pull request was closed without merging.
    PullRequestClosed,
    /// The actor's role is below the one the command needs.
    RoleTooLow {
        command: CommandKind,
        required: Role,
        actual: Role,
        /// The pull request's author could `/rerun` here whatever their role
        /// (open pull request, `pr_author_rerun`): the reply says so.
        #[serde(default)]
        author_may_rerun: bool,
    },
    /// `--force` without the force role.
    ForceNeedsRole { required: Role, actual: Role },
    /// N outside `1..=max_retrigger`.
    CountOutOfRange { count: u32, max: u32 },
    /// No task groups / tasks were found for the pull request.
    NoTasks,
    /// A selector-less command found nothing to act on.
    NothingSelected { command: CommandKind },
    /// Every selector matched nothing (see `Plan::unmatched`).
    NoMatch,
    /// Selector-less command while more than `max_percent` of the tasks
    /// failed: a real breakage, not flakiness.
    FailureGuard {
        failed: usize,
        total: usize,
        max_percent: u32,
    },
    /// The comment would create more tasks than `max_new_tasks`; `earlier`
    /// were planned by its earlier commands.
    TooManyNewTasks {
        requested: usize,
        max: u32,
        #[serde(default)]
        earlier: u32,
    },
    /// The command would rerun more tasks than `max_reruns_per_command`.
    TooManyReruns { requested: usize, max: u32 },
    /// The copies would take this commit past `max_retriggers_per_sha`;
    /// `done` were made already.
    TooManyCopiesForCommit {
        requested: usize,
        done: u32,
        max: u32,
    },
}
