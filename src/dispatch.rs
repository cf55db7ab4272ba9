//! Sends a stored plan's actions to the queue, each exactly once, with
//! bounded concurrency. Idempotent on a retried job: a rerun is not repeated
//! once a run beyond the one it saw exists, and a copy whose createTask
//! already went through is confirmed rather than created again. Retries of
//! failed calls happen inside the queue client, except for reruns and
//! cancels, which are not safe to replay blindly: after a lost answer the
//! task's status is read and its run count compared before sending again.
//! No unit starts once the job's lease is no longer safely held.

use crate::outcome::{ActionOutcome, DispatchError};
use crate::pipeline::prepared::Prepared;
use crate::policy::{Action, Decision};
use crate::store::LeaseHold;
use crate::taskcluster::client::{last_run_id, run_count};
use crate::taskcluster::{QueueClient, QueueError};
use crate::types::TaskId;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Queue calls in flight at once, per job. `/retrigger 10` over ten tasks
/// is 100 createTask calls: 50 in flight makes that two round trips, a load
/// the queue (a horizontally scaled web service) takes in its stride.
pub const DEFAULT_CONCURRENCY: usize = 50;

/// Outcomes per plan (in `Prepared::plans` order), per row (in row order);
/// rows without an action are `Pending`.
pub type Outcomes = Vec<Vec<ActionOutcome>>;

/// One queue interaction.
enum Unit {
    Rerun {
        task: TaskId,
        runs_seen: u32,
    },
    CancelRerun {
        task: TaskId,
        runs_seen: u32,
    },
    Create {
        copy: TaskId,
        definition: Option<Value>,
    },
}

/// Result of one unit.
enum Done {
    Run { run_id: Option<u32>, canceled: bool },
    Created(TaskId),
}

/// Dispatches every action of `prepared`. `resumed` is true when an earlier
/// attempt of the job may have sent some of them already.
pub async fn dispatch(
    queue: &QueueClient,
    prepared: &Prepared,
    resumed: bool,
    concurrency: usize,
) -> Outcomes {
    dispatch_held(
        queue,
        prepared,
        resumed,
        concurrency,
        &LeaseHold::unbounded(),
    )
    .await
}

/// What a unit not sent for want of a lease answers.
pub const LEASE_RAN_OUT: &str = "not sent: this worker's lease on the job ran out";

/// [`dispatch`] for a claimed job: `hold` is checked before each unit, and
/// a unit that would start without a safely held lease is not sent (it
/// fails as `Unavailable`, so the job is retried by whoever holds it).
pub async fn dispatch_held(
    queue: &QueueClient,
    prepared: &Prepared,
    resumed: bool,
    concurrency: usize,
    hold: &LeaseHold,
) -> Outcomes {
    let mut outcomes: Outcomes = prepared
        .plans()
        .map(|plan| vec![ActionOutcome::Pending; plan.rows.len()])
        .collect();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut units_by_task = std::collections::HashMap::new();
    for (p, plan) in prepared.plans().enumerate() {
        for (r, row) in plan.rows.iter().enumerate() {
            let Decision::Act(action) = &row.decision else {
                continue;
            };
            let units: Vec<(usize, Unit)> = match action {
                Action::Rerun { runs_seen } => vec![(
                    0,
                    Unit::Rerun {
                        task: row.task_id.clone(),
                        runs_seen: *runs_seen,
                    },
                )],
                Action::CancelRerun { runs_seen } => vec![(
                    0,
                    Unit::CancelRerun {
                        task: row.task_id.clone(),
                        runs_seen: *runs_seen,
                    },
                )],
                Action::Retrigger { copies } => copies
                    .iter()
                    .enumerate()
                    .map(|(c, copy)| {
                        let definition = prepared.definitions.get(copy.as_str()).cloned();
                        (
                            c,
                            Unit::Create {
                                copy: copy.clone(),
                                definition,
                            },
                        )
                    })
                    .collect(),
            };
            for (c, unit) in units {
                let (queue, permits, hold) = (queue.clone(), permits.clone(), hold.clone());
                // Spawned tasks keep the job's span, so their log lines name the job.
                let handle = running.spawn(
                    async move {
                        let _permit = permits.acquire_owned().await;
                        if !hold.is_held() {
                            let error = DispatchError::Unavailable {
                                message: LEASE_RAN_OUT.to_owned(),
                            };
                            return (p, r, c, Err(error));
                        }
                        (p, r, c, run_unit(&queue, unit, resumed).await)
                    }
                    .in_current_span(),
                );
                units_by_task.insert(handle.id(), (p, r, c));
            }
        }
    }
    let mut results: Vec<(usize, usize, usize, Result<Done, DispatchError>)> = Vec::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => {
                // A unit that panicked still gets an outcome: the reply must
                // not show it as pending, nor the reaction as success.
                tracing::error!(error = %e, "dispatch task failed");
                if let Some(&(p, r, c)) = units_by_task.get(&e.id()) {
                    let error = DispatchError::Unavailable {
                        message: "internal error while sending it".to_owned(),
                    };
                    results.push((p, r, c, Err(error)));
                }
            }
        }
    }
    results.sort_by_key(|(p, r, c, _)| (*p, *r, *c));
    for (p, r, _, result) in results {
        let Some(slot) = outcomes.get_mut(p).and_then(|o| o.get_mut(r)) else {
            continue;
        };
        *slot = merge(std::mem::replace(slot, ActionOutcome::Pending), result);
    }
    outcomes
}

/// Folds one unit's result into its row's outcome (copies arrive in order).
fn merge(current: ActionOutcome, result: Result<Done, DispatchError>) -> ActionOutcome {
    match (current, result) {
        (
            ActionOutcome::Pending,
            Ok(Done::Run {
                run_id,
                canceled: false,
            }),
        ) => ActionOutcome::Rerun { run_id },
        (
            ActionOutcome::Pending,
            Ok(Done::Run {
                run_id,
                canceled: true,
            }),
        ) => ActionOutcome::CancelRerun { run_id },
        (ActionOutcome::Pending, Ok(Done::Created(id))) => {
            ActionOutcome::Retriggered { task_ids: vec![id] }
        }
        (ActionOutcome::Retriggered { mut task_ids }, Ok(Done::Created(id))) => {
            task_ids.push(id);
            ActionOutcome::Retriggered { task_ids }
        }
        (ActionOutcome::Failed { error, mut created }, Ok(Done::Created(id))) => {
            created.push(id);
            ActionOutcome::Failed { error, created }
        }
        (ActionOutcome::Retriggered { task_ids }, Err(error)) => ActionOutcome::Failed {
            error,
            created: task_ids,
        },
        (failed @ ActionOutcome::Failed { .. }, Err(_)) => failed,
        (_, Err(error)) => ActionOutcome::Failed {
            error,
            created: Vec::new(),
        },
        (other, Ok(_)) => other,
    }
}

async fn run_unit(queue: &QueueClient, unit: Unit, resumed: bool) -> Result<Done, DispatchError> {
    let result = match unit {
        Unit::Rerun { task, runs_seen } => rerun(queue, &task, runs_seen, resumed).await,
        Unit::CancelRerun { task, runs_seen } => {
            cancel_rerun(queue, &task, runs_seen, resumed).await
        }
        Unit::Create { copy, definition } => {
            let Some(definition) = definition else {
                return Err(DispatchError::Rejected {
                    status: 0,
                    message: format!("no stored definition for copy {copy}"),
                });
            };
            // A resumed job may have created the copy already; the queue
            // would refuse a re-send whose `created` is over 15 minutes old.
            let sent = if resumed {
                match queue.ensure_task_created(&copy, &definition).await {
                    // The copy was never created and its stored definition
                    // is too old for the queue: shift it to now (same id,
                    // so still at most one copy).
                    Err(QueueError::Rejected {
                        status: 400,
                        message,
                    }) if message.contains("`created`") => {
                        match crate::taskcluster::retrigger_definition(
                            &definition,
                            chrono::Utc::now(),
                        ) {
                            Ok(fresh) => queue.create_task(&copy, &fresh).await,
                            Err(e) => Err(QueueError::Rejected {
                                status: 400,
                                message: e.to_string(),
                            }),
                        }
                    }
                    other => other,
                }
            } else {
                queue.create_task(&copy, &definition).await
            };
            sent.map(|_| Done::Created(copy))
        }
    };
    result.map_err(|e| DispatchError::from(&e))
}

/// Sends a rerun at most once per answer: when the answer is lost (5xx,
/// timeout), the task's status tells whether it went through (a run beyond
/// `runs_seen` exists) before it is sent again.
async fn rerun(
    queue: &QueueClient,
    task: &TaskId,
    runs_seen: u32,
    resumed: bool,
) -> Result<Done, QueueError> {
    let policy = queue.retry_policy();
    let mut check_first = resumed;
    let mut attempt = 0;
    loop {
        if check_first {
            let status = queue.status(task).await?;
            if run_count(&status) > runs_seen {
                return Ok(run_done(&status, false));
            }
        }
        match queue.rerun_task(task).await {
            Ok(status) => return Ok(run_done(&status, false)),
            Err(QueueError::Unavailable { message }) if attempt < policy.retries => {
                tracing::warn!(%task, %message, "rerun answer lost; checking the task before sending it again");
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
                check_first = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a cancel-then-rerun still has to do, by the task's status.
enum CancelStep {
    Cancel,
    Rerun,
    Done(Value),
}

/// Cancelling an unscheduled task adds a run resolved `exception/canceled`,
/// and the rerun adds another: the run count since `runs_seen` says which
/// of the two happened.
fn cancel_step(status: Value, runs_seen: u32) -> CancelStep {
    let last_canceled = status
        .get("runs")
        .and_then(Value::as_array)
        .and_then(|r| r.last())
        .and_then(|r| r.get("reasonResolved"))
        .and_then(Value::as_str)
        == Some("canceled");
    match run_count(&status).saturating_sub(runs_seen) {
        0 => CancelStep::Cancel,
        // Cancelled, not rerun yet.
        1 if last_canceled => CancelStep::Rerun,
        // Scheduled meanwhile (its dependencies resolved), or ours done.
        _ => CancelStep::Done(status),
    }
}

/// Cancel (the task waits on a broken dependency), then rerun; like
/// [`rerun`], neither is sent again after a lost answer before the status
/// says it did not go through.
async fn cancel_rerun(
    queue: &QueueClient,
    task: &TaskId,
    runs_seen: u32,
    resumed: bool,
) -> Result<Done, QueueError> {
    let policy = queue.retry_policy();
    let mut check_first = resumed;
    let mut attempt = 0;
    loop {
        let step = if check_first {
            cancel_step(queue.status(task).await?, runs_seen)
        } else {
            CancelStep::Cancel
        };
        let sent = match step {
            CancelStep::Done(status) => return Ok(run_done(&status, true)),
            CancelStep::Cancel => match queue.cancel_task(task).await {
                Ok(_) => queue.rerun_task(task).await,
                Err(e) => Err(e),
            },
            CancelStep::Rerun => queue.rerun_task(task).await,
        };
        match sent {
            Ok(status) => return Ok(run_done(&status, true)),
            Err(QueueError::Unavailable { message }) if attempt < policy.retries => {
                tracing::warn!(%task, %message, "cancel or rerun answer lost; checking the task before sending again");
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
                check_first = true;
            }
            Err(e) => return Err(e),
        }
    }
}

fn run_done(status: &Value, canceled: bool) -> Done {
    Done::Run {
        run_id: last_run_id(status),
        canceled,
    }
}
