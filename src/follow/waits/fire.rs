//! Firing a wait whose time came: its action sent exactly once, through
//! the queue or the repository's in-tree actions, and the wait ended with
//! what that came to. Runs in the follow loop, so it never waits inline:
//! a cancel-then-rerun through in-tree actions whose cancel has not taken
//! effect yet keeps its wait `firing` (the cancel's action task recorded
//! with the job) and looks again shortly; the rerun is triggered on the
//! look that finds the task canceled, and the wait is dropped when the
//! cancel never takes effect: at once when its action task resolved
//! without canceling the task, else once `FollowConfig::cancel_effect_wait`
//! has passed.

use super::{drop_for, end, end_unusable};
use crate::dispatch::route::Routed;
use crate::dispatch::WaitedHooks;
use crate::follow::Follower;
use crate::outcome::{ActionOutcome, UnitResult};
use crate::pipeline::prepared::Prepared;
use crate::policy::plan::{Dropped, Wait};
use crate::policy::waits::cancel_overdue;
use crate::store::{NewWatch, StoreError, StoredWait};
use crate::types::TaskId;
use crate::webhook::event::CommentJob;
use std::time::Duration;

/// How soon a wait whose cancel has not taken effect looks again, at most
/// (the follow loop's poll interval when shorter): one status read each.
const CANCEL_RECHECK: Duration = Duration::from_secs(5);

/// The unit a fired wait records in its job.
fn unit_key(wait: &StoredWait) -> String {
    format!("wait:{}:{}", wait.plan_index, wait.row_index)
}

/// Sends the wait's action once: a result recorded already is reused; a
/// wait that may have been sent (`firing`) is checked against the task's
/// runs before anything is sent again. A row routed to the repository's
/// in-tree actions goes through its hooks ([`fire_through_hooks`]).
pub(super) async fn fire(
    follower: &Follower,
    wait: &StoredWait,
    spec: &Wait,
) -> Result<(), StoreError> {
    let store = &follower.store;
    let key = unit_key(wait);
    let units = store.unit_results(wait.job_id).await?;
    let recorded = units
        .iter()
        .find(|(unit, _)| *unit == key)
        .and_then(|(_, text)| serde_json::from_str::<UnitResult>(text).ok());
    let task = TaskId::new(wait.task_id.clone());
    let (outcome, known) = match recorded {
        Some(known) => (outcome_of(&known), Some(known)),
        None => {
            let resumed = wait.state == "firing";
            store.wait_firing(wait).await?;
            let Some(job) = job_of(follower, wait.job_id).await? else {
                return end_unusable(follower, wait).await;
            };
            if let Some(entry) = job.routed(wait) {
                return fire_through_hooks(follower, wait, spec, &job, entry, units).await;
            }
            let queue = follower.pipeline.queue_for(&job.repo);
            crate::dispatch::send_waited(&queue, &task, &spec.action, resumed).await
        }
    };
    let Some(known) = known else {
        // No sure answer (Taskcluster unreachable): judged again later,
        // checking the queue before sending anything.
        tracing::warn!(
            wait_id = wait.id,
            "wait fired without a sure answer; retrying"
        );
        return store
            .postpone_wait(wait, follower.config.poll_interval)
            .await;
    };
    tracing::info!(wait_id = wait.id, task_id = wait.task_id, "wait fired");
    let watches = crate::reply::follow::started_runs(&task, &spec.action, &outcome)
        .into_iter()
        .take(1)
        .map(|(task, run_id)| NewWatch {
            task_id: task.to_string(),
            run_id,
            ..NewWatch::default()
        })
        .collect();
    let known = serde_json::to_string(&known).unwrap_or_default();
    end(follower, wait, outcome, Some((&key, &known)), watches, true).await
}

/// Fires a wait whose row goes through the repository's in-tree actions:
/// each trigger exactly once (recorded with the job under the wait's
/// lease, see `dispatch::send_waited_hooks`); the action tasks are watched
/// like those of a job's own dispatch, and what they make after them. A
/// cancel not in effect yet is left to a later look ([`cancel_pending`]);
/// one whose action task resolved without canceling the task drops the
/// wait.
async fn fire_through_hooks(
    follower: &Follower,
    wait: &StoredWait,
    spec: &Wait,
    job: &WaitJob,
    entry: &Routed,
    units: Vec<(String, String)>,
) -> Result<(), StoreError> {
    let known = units
        .into_iter()
        .filter_map(|(unit, text)| Some((unit, serde_json::from_str(&text).ok()?)))
        .collect();
    let records = crate::dispatch::WaitRecords {
        known,
        store: follower.store.clone(),
        wait: wait.clone(),
    };
    let sent = crate::dispatch::send_waited_hooks(
        &follower.pipeline.queue_for(&job.repo),
        follower.pipeline.hooks(),
        entry,
        unit_key(wait),
        &spec.action,
        records,
    )
    .await;
    let outcome = match sent {
        WaitedHooks::Ended(outcome) => outcome,
        WaitedHooks::Unsure => {
            tracing::warn!(
                wait_id = wait.id,
                "wait's trigger sent without a sure answer; looking again later"
            );
            return follower
                .store
                .postpone_wait(wait, follower.config.poll_interval)
                .await;
        }
        WaitedHooks::CancelPending { action_task, since } => {
            return cancel_pending(follower, wait, &action_task, since).await
        }
        // Its action task is done and the task is not canceled: waiting
        // longer changes nothing.
        WaitedHooks::CancelWithoutEffect { action_task, state } => {
            let reason = Dropped::CancelWithoutEffect { action_task, state };
            return drop_for(follower, wait, reason).await;
        }
    };
    tracing::info!(
        wait_id = wait.id,
        task_id = wait.task_id,
        "wait fired through in-tree actions"
    );
    let watches = match &outcome {
        ActionOutcome::Triggered { actions } => crate::follow::made::action_task_watches(
            actions,
            &TaskId::new(wait.task_id.clone()),
            &spec.action,
            &job.label(wait),
            "",
        ),
        _ => Vec::new(),
    };
    // The triggers' own records are the unit results; nothing more to add.
    end(follower, wait, outcome, None, watches, true).await
}

/// The wait's cancel (action task `action_task`, triggered at `since`) has
/// not canceled the task yet: the wait stays `firing` and looks again
/// shortly — its recorded triggers are never sent again — until
/// `cancel_effect_wait` has passed, then it is dropped.
async fn cancel_pending(
    follower: &Follower,
    wait: &StoredWait,
    action_task: &TaskId,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    // The intent is recorded before every trigger; were its record
    // unreadable, the task's deadline still ends the wait (`verdict`).
    let since = since.unwrap_or(now);
    if let Some(reason) =
        cancel_overdue(action_task, since, now, follower.config.cancel_effect_wait)
    {
        return drop_for(follower, wait, reason).await;
    }
    tracing::debug!(
        wait_id = wait.id,
        %action_task,
        "wait's cancel not in effect yet; looking again shortly"
    );
    follower
        .store
        .postpone_wait(wait, follower.config.poll_interval.min(CANCEL_RECHECK))
        .await
}

/// The row outcome of a recorded unit result.
fn outcome_of(known: &UnitResult) -> ActionOutcome {
    match known {
        UnitResult::Run {
            run_id,
            canceled: false,
        } => ActionOutcome::Rerun { run_id: *run_id },
        UnitResult::Run {
            run_id,
            canceled: true,
        } => ActionOutcome::CancelRerun { run_id: *run_id },
        UnitResult::Already { state } => ActionOutcome::AlreadyQueued {
            state: state.clone(),
        },
        UnitResult::Created { task_id } => ActionOutcome::Retriggered {
            task_ids: vec![task_id.clone()],
        },
        UnitResult::Refused { error } => ActionOutcome::Failed {
            error: error.clone(),
            created: Vec::new(),
        },
        // Waits fire through the queue; these belong to hook units.
        UnitResult::Triggered { action_task } => ActionOutcome::Triggered {
            actions: vec![crate::outcome::TriggeredAction {
                action: String::new(),
                task_id: action_task.clone(),
            }],
        },
        UnitResult::TriggerIntent { .. } => ActionOutcome::Pending,
    }
}

/// What firing a wait needs of its job.
struct WaitJob {
    /// Its queue calls are restricted to the repository's role.
    repo: crate::types::RepoName,
    prepared: Option<Prepared>,
}

impl WaitJob {
    /// The hook triggers of the wait's row, when it was routed to the
    /// repository's in-tree actions.
    fn routed(&self, wait: &StoredWait) -> Option<&Routed> {
        self.prepared
            .as_ref()?
            .routed
            .iter()
            .find(|e| e.wait && e.plan == wait.plan_index && e.rows.contains(&wait.row_index))
    }

    /// The label of the wait's row.
    fn label(&self, wait: &StoredWait) -> String {
        self.prepared
            .as_ref()
            .and_then(|p| p.plans().nth(wait.plan_index))
            .and_then(|plan| plan.rows.get(wait.row_index))
            .map(|row| row.label.clone())
            .unwrap_or_default()
    }
}

async fn job_of(follower: &Follower, job_id: i64) -> Result<Option<WaitJob>, StoreError> {
    let Some(job) = follower.store.job(job_id).await? else {
        return Ok(None);
    };
    let Some(payload) = serde_json::from_str::<CommentJob>(&job.payload).ok() else {
        return Ok(None);
    };
    Ok(Some(WaitJob {
        repo: payload.repo,
        prepared: job
            .plan
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
    }))
}
