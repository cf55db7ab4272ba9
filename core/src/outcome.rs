//! What happened when a planned action was sent to Taskcluster. Produced by
//! dispatch, stored with the job, rendered by `reply`.

use crate::policy::plan::Dropped;
use crate::types::TaskId;
use serde::{Deserialize, Serialize};

/// Why a Taskcluster call failed, in terms a reply can explain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DispatchError {
    /// 409: the task's deadline has passed; the queue cannot rerun it.
    PastDeadline,
    /// 409: the task already has the queue's maximum number of runs.
    RunLimit,
    /// 409: a task with this id exists with a different definition.
    Conflict { message: String },
    /// 403 InsufficientScopes; `message` is the queue's text naming the scopes.
    InsufficientScopes { message: String },
    /// 404: the task does not exist (any more).
    NotFound,
    /// 5xx, timeouts, connection errors after every retry.
    Unavailable { message: String },
    /// Anything else the queue answered (400 input errors, 401 auth).
    Rejected { status: u16, message: String },
    /// Cancel-then-rerun: the task was scheduled or started after the plan
    /// (it is now `state`), so it was not canceled.
    StartedSincePlan { state: String },
    /// Cancel-then-rerun: the cancel went through, the rerun did not
    /// (`error`): the task is now canceled.
    CanceledNotRerun { error: Box<DispatchError> },
    /// Cancel-then-rerun through in-tree actions: the cancel action task
    /// `action_task` resolved (as `state`) without canceling the task (it
    /// had resolved meanwhile, was past its deadline, or the action task
    /// failed), so the cancel never takes effect and the rerun was not
    /// sent. The task is left as it was.
    CancelWithoutEffect { action_task: TaskId, state: String },
}

/// The result of one planned action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Not sent yet (a reply rendered before dispatch finished).
    Pending,
    /// A rerun was accepted; `run_id` is the new run.
    Rerun { run_id: Option<u32> },
    /// A cancel then rerun was accepted.
    CancelRerun { run_id: Option<u32> },
    /// The task was already pending or running (`state`) when the rerun
    /// was sent: the queue made no new run.
    AlreadyQueued { state: String },
    /// Retrigger copies created (all of them, in copy order).
    Retriggered { task_ids: Vec<TaskId> },
    /// Carried out through in-tree actions: the action tasks triggered, in
    /// order (cancel, then rerun). What they did shows once they ran.
    Triggered { actions: Vec<TriggeredAction> },
    /// Some or all of the action failed. `created` lists copies that were
    /// created before the failure (for a partial retrigger).
    Failed {
        error: DispatchError,
        created: Vec<TaskId>,
    },
    /// A waiting action that was dropped, and why (it never fired).
    Dropped { reason: Dropped },
}

/// One action task a hook trigger made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggeredAction {
    /// The in-tree action's name (`retrigger`, `rerun`, `cancel`, ...).
    pub action: String,
    /// The action task.
    pub task_id: TaskId,
}

/// What one action unit (one queue call's worth: a copy's createTask, a
/// rerun, a cancel-then-rerun, ...) came to, as far as it is known for
/// sure. Stored per unit the moment it is known; a unit without one is
/// unconfirmed (never sent, or sent without a trustworthy answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum UnitResult {
    /// A new run exists; `canceled` when a cancel came first.
    Run { run_id: Option<u32>, canceled: bool },
    /// The copy exists in the queue.
    Created { task_id: TaskId },
    /// The task was already pending or running: nothing was sent.
    Already { state: String },
    /// The queue gave a definitive answer other than yes; asking again
    /// would get the same.
    Refused { error: DispatchError },
    /// A hook trigger made this action task.
    Triggered { action_task: TaskId },
    /// A hook trigger is about to be sent (recorded before the call, under
    /// the trigger's `intent:` key): a resumed job that finds no result
    /// looks for an action task created since `at` before triggering
    /// again (DESIGN.md §10).
    TriggerIntent { at: chrono::DateTime<chrono::Utc> },
}

/// What an action task is expected to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expect {
    /// Copies, listed in its `public/task-graph.json` (`retrigger`,
    /// `retrigger-multiple`, ...).
    Copies,
    /// Run `run_id` of `task_id` (`rerun`), which exists only if the task
    /// needed rerunning when the action ran (taskgraph reruns only failed
    /// and exception tasks).
    Run {
        task_id: String,
        run_id: u32,
        label: String,
    },
}

impl Expect {
    /// What an in-tree action named `name` makes for a row (task
    /// `task_id`, labelled `label`) planned as `planned`: a rerun's new run
    /// is the one after the runs the plan saw; `None` for an action that
    /// makes nothing to follow (`cancel`).
    pub fn for_action(
        name: &str,
        task_id: &TaskId,
        planned: &crate::policy::plan::Action,
        label: &str,
    ) -> Option<Self> {
        use crate::policy::plan::Action;
        match name {
            "cancel" => None,
            "rerun" => Some(Expect::Run {
                task_id: task_id.to_string(),
                run_id: match planned {
                    Action::Rerun { runs_seen } | Action::CancelRerun { runs_seen } => *runs_seen,
                    Action::Retrigger { .. } => 0,
                },
                label: label.to_owned(),
            }),
            _ => Some(Expect::Copies),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
