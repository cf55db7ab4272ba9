//! Sends a stored plan's actions to the queue, each exactly once, with
//! bounded concurrency. Work is split into units (one copy's createTask,
//! one rerun, one cancel-then-rerun); each unit's result is recorded with
//! the job the moment it is known (`store::units`). A resumed job keeps
//! every recorded result and sends or checks only the units without one: a
//! rerun is not repeated once a run beyond the one it saw exists, and a
//! copy is looked up (`GET /task/<id>`) before it is sent again. Retries of
//! failed calls happen inside the queue client, except for reruns and
//! cancels, which are not safe to replay blindly: after a lost answer the
//! task's status is read and its run count compared before sending again.
//! No unit starts once the job's lease is no longer safely held.
//!
//! Rows that `route` sent through in-tree actions are hook units instead
//! (`hooks`): a sequence of hook triggers, each exactly once.

mod hooks;
pub mod route;

use crate::outcome::{ActionOutcome, DispatchError, UnitResult};
use crate::pipeline::prepared::Prepared;
use crate::policy::{Action, Decision};
use crate::store::{Claim, LeaseHold, Store, StoreError};
use crate::taskcluster::client::{last_run_id, run_count};
use crate::taskcluster::{QueueClient, QueueError};
use crate::types::TaskId;
use hooks::HookUnit;
use serde_json::Value;
use std::collections::HashMap;
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

/// What a dispatch came to.
#[derive(Debug)]
pub struct Dispatched {
    pub outcomes: Outcomes,
    /// Why each unit left without a sure answer (Taskcluster unreachable,
    /// or the lease ran out): it may or may not have taken effect. Empty
    /// when every unit's result is known.
    pub unconfirmed: Vec<String>,
}

/// What earlier attempts of the job learnt, and where this one records
/// what it learns.
pub struct Memory<'a> {
    /// An earlier attempt may have sent units without learning the answer.
    resumed: bool,
    known: HashMap<String, UnitResult>,
    record: Option<(&'a Store, &'a Claim)>,
}

impl<'a> Memory<'a> {
    /// A first attempt: nothing was sent before.
    pub fn first_attempt() -> Self {
        Self {
            resumed: false,
            known: HashMap::new(),
            record: None,
        }
    }

    /// A resumed attempt knowing `known` (unit key → result).
    pub fn resumed(known: HashMap<String, UnitResult>) -> Self {
        Self {
            resumed: true,
            known,
            record: None,
        }
    }

    /// Records every unit result learnt from now on with the job.
    pub fn recording(mut self, store: &'a Store, claim: &'a Claim) -> Self {
        self.record = Some((store, claim));
        self
    }
}

/// Reads a job's recorded unit results; unreadable ones are left out (the
/// unit is then checked again, which is safe).
pub async fn recorded(
    store: &Store,
    job_id: i64,
) -> Result<HashMap<String, UnitResult>, StoreError> {
    Ok(store
        .unit_results(job_id)
        .await?
        .into_iter()
        .filter_map(|(unit, text)| Some((unit, serde_json::from_str(&text).ok()?)))
        .collect())
}

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
    /// Hook triggers (in-tree actions); records its own results.
    Hooks(HookUnit),
}

impl Unit {
    /// The unit's name in the job's records: unique within a plan, stable
    /// across attempts.
    fn key(&self) -> String {
        match self {
            Unit::Rerun { task, .. } => format!("rerun:{task}"),
            Unit::CancelRerun { task, .. } => format!("cancel-rerun:{task}"),
            Unit::Create { copy, .. } => format!("create:{copy}"),
            Unit::Hooks(unit) => unit.key.clone(),
        }
    }
}

/// A unit's result with its place: (plan, rows, copy index, result).
type UnitDone = (usize, Vec<usize>, usize, Result<Done, DispatchError>);

/// Result of one unit.
#[derive(Clone)]
enum Done {
    Run {
        run_id: Option<u32>,
        canceled: bool,
    },
    /// Already pending or running: nothing was sent.
    Already {
        state: String,
    },
    Created(TaskId),
    /// Action tasks triggered, in order.
    Triggered(Vec<crate::outcome::TriggeredAction>),
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
    let memory = if resumed {
        Memory::resumed(HashMap::new())
    } else {
        Memory::first_attempt()
    };
    dispatch_job(queue, queue, prepared, &memory, concurrency, hold)
        .await
        .outcomes
}

/// Every unit of the plan, with its place: (plan, rows, copy index, unit).
/// A unit carries out one row, except a `retrigger-multiple` (several).
fn units(prepared: &Prepared) -> Vec<(usize, Vec<usize>, usize, Unit)> {
    let mut all = Vec::new();
    let hooked: std::collections::HashSet<(usize, usize)> = prepared
        .routed
        .iter()
        .flat_map(|e| e.rows.iter().map(move |r| (e.plan, *r)))
        .collect();
    for (p, plan) in prepared.plans().enumerate() {
        for (r, row) in plan.rows.iter().enumerate() {
            let Decision::Act(action) = &row.decision else {
                continue;
            };
            if hooked.contains(&(p, r)) {
                continue;
            }
            match action {
                Action::Rerun { runs_seen } => all.push((
                    p,
                    vec![r],
                    0,
                    Unit::Rerun {
                        task: row.task_id.clone(),
                        runs_seen: *runs_seen,
                    },
                )),
                Action::CancelRerun { runs_seen } => all.push((
                    p,
                    vec![r],
                    0,
                    Unit::CancelRerun {
                        task: row.task_id.clone(),
                        runs_seen: *runs_seen,
                    },
                )),
                Action::Retrigger { copies } => {
                    for (c, copy) in copies.iter().enumerate() {
                        let definition = prepared.definitions.get(copy.as_str()).cloned();
                        let unit = Unit::Create {
                            copy: copy.clone(),
                            definition,
                        };
                        all.push((p, vec![r], c, unit));
                    }
                }
            }
        }
    }
    // A waiting row's triggers are sent when its wait fires.
    for entry in prepared.routed.iter().filter(|e| !e.wait) {
        let Some(&first) = entry.rows.first() else {
            continue;
        };
        let runs_seen = prepared
            .plans()
            .nth(entry.plan)
            .and_then(|plan| plan.rows.get(first))
            .and_then(|row| match &row.decision {
                Decision::Act(Action::CancelRerun { runs_seen }) => Some(*runs_seen),
                _ => None,
            });
        let unit = HookUnit {
            key: format!("hook:{}:{first}", entry.plan),
            triggers: entry.triggers.clone(),
            runs_seen,
        };
        all.push((entry.plan, entry.rows.clone(), 0, Unit::Hooks(unit)));
    }
    all
}

/// Dispatches every unit of `prepared` whose result `memory` does not
/// already hold, recording each result as it arrives; `hold` is checked
/// before each unit is sent.
pub async fn dispatch_job(
    queue: &QueueClient,
    hooks: &QueueClient,
    prepared: &Prepared,
    memory: &Memory<'_>,
    concurrency: usize,
    hold: &LeaseHold,
) -> Dispatched {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut placed = HashMap::new();
    let mut results: Vec<UnitDone> = Vec::new();
    let resumed = memory.resumed;
    for (p, r, c, unit) in units(prepared) {
        let key = unit.key();
        let known = match &unit {
            Unit::Hooks(hook_unit) => hook_unit.known(&memory.known),
            _ => memory.known.get(&key).map(from_known),
        };
        if let Some(known) = known {
            results.push((p, r, c, known));
            continue;
        }
        let records = hooks::Records {
            known: memory.known.clone(),
            store: memory.record.map_or(hooks::Recorder::Nowhere, |(s, c)| {
                hooks::Recorder::Job(s.clone(), c.clone())
            }),
        };
        let hooks = hooks.clone();
        let (queue, permits, hold) = (queue.clone(), permits.clone(), hold.clone());
        // Spawned tasks keep the job's span, so their log lines name the job.
        let handle = running.spawn(
            async move {
                let _permit = permits.acquire_owned().await;
                if !hold.is_held() {
                    return Err(DispatchError::Unavailable {
                        message: LEASE_RAN_OUT.to_owned(),
                    });
                }
                match unit {
                    Unit::Hooks(unit) => hooks::run(&queue, &hooks, &unit, records).await,
                    unit => run_unit(&queue, unit, resumed).await,
                }
            }
            .in_current_span(),
        );
        placed.insert(handle.id(), (p, r, c, key));
    }
    let mut unconfirmed = Vec::new();
    while let Some(first) = running.join_next_with_id().await {
        // Every unit answered by now is recorded in one write: the copies
        // of a retrigger answer together, and one commit each, one after
        // the other, cost more than their round trips to the queue.
        let mut answered = vec![first];
        while let Some(more) = running.try_join_next_with_id() {
            answered.push(more);
        }
        let mut known_now = Vec::new();
        for joined in answered {
            let (id, result) = match joined {
                Ok(done) => done,
                Err(e) => {
                    // A unit that panicked still gets an outcome: the reply must
                    // not show it as pending, nor the reaction as success.
                    tracing::error!(error = %e, "dispatch task failed");
                    let error = DispatchError::Unavailable {
                        message: "internal error while sending it".to_owned(),
                    };
                    (e.id(), Err(error))
                }
            };
            let Some((p, r, c, key)) = placed.remove(&id) else {
                continue;
            };
            // Hook units record their triggers themselves, one by one.
            let recorded_inside = key.starts_with("hook:");
            match to_known(&result) {
                Some(known) if !recorded_inside => known_now.push((key, known)),
                _ => {
                    if let Err(DispatchError::Unavailable { message }) = &result {
                        unconfirmed.push(message.clone());
                    }
                }
            }
            results.push((p, r, c, result));
        }
        record(memory, &known_now).await;
    }
    Dispatched {
        outcomes: assemble(prepared, results),
        unconfirmed,
    }
}

/// The outcomes as far as they are recorded, without sending anything:
/// units with no recorded result show `unknown` (why nothing more is known).
pub fn known_outcomes(
    prepared: &Prepared,
    known: &HashMap<String, UnitResult>,
    unknown: &DispatchError,
) -> Outcomes {
    let results = units(prepared)
        .into_iter()
        .map(|(p, r, c, unit)| {
            let found = match &unit {
                Unit::Hooks(hook_unit) => hook_unit.known(known),
                _ => known.get(&unit.key()).map(from_known),
            };
            (p, r, c, found.unwrap_or_else(|| Err(unknown.clone())))
        })
        .collect();
    assemble(prepared, results)
}

/// Stores what units came to; a failure to store is only logged (a
/// resumed job then checks those units again, which is safe).
async fn record(memory: &Memory<'_>, known: &[(String, UnitResult)]) {
    let Some((store, claim)) = memory.record else {
        return;
    };
    if known.is_empty() {
        return;
    }
    let mut encoded = Vec::with_capacity(known.len());
    for (key, result) in known {
        match serde_json::to_string(result) {
            Ok(text) => encoded.push((key.as_str(), text)),
            Err(e) => tracing::warn!(error = %e, unit = key, "cannot encode a unit result"),
        }
    }
    let rows: Vec<(&str, &str)> = encoded.iter().map(|(k, t)| (*k, t.as_str())).collect();
    if let Err(e) = store.save_unit_results(claim, &rows).await {
        tracing::warn!(error = %e, units = rows.len(), "could not record unit results");
    }
}

/// What to remember of a unit's result: everything but "no sure answer".
fn to_known(result: &Result<Done, DispatchError>) -> Option<UnitResult> {
    match result {
        Ok(Done::Run { run_id, canceled }) => Some(UnitResult::Run {
            run_id: *run_id,
            canceled: *canceled,
        }),
        Ok(Done::Created(id)) => Some(UnitResult::Created {
            task_id: id.clone(),
        }),
        Ok(Done::Already { state }) => Some(UnitResult::Already {
            state: state.clone(),
        }),
        // Recorded trigger by trigger (see `hooks`).
        Ok(Done::Triggered(_)) => None,
        Err(DispatchError::Unavailable { .. }) => None,
        Err(error) => Some(UnitResult::Refused {
            error: error.clone(),
        }),
    }
}

fn from_known(known: &UnitResult) -> Result<Done, DispatchError> {
    match known {
        UnitResult::Run { run_id, canceled } => Ok(Done::Run {
            run_id: *run_id,
            canceled: *canceled,
        }),
        UnitResult::Created { task_id } => Ok(Done::Created(task_id.clone())),
        UnitResult::Already { state } => Ok(Done::Already {
            state: state.clone(),
        }),
        UnitResult::Refused { error } => Err(error.clone()),
        UnitResult::Triggered { action_task } => {
            Ok(Done::Triggered(vec![crate::outcome::TriggeredAction {
                action: String::new(),
                task_id: action_task.clone(),
            }]))
        }
        UnitResult::TriggerIntent { .. } => Err(DispatchError::Unavailable {
            message: "a trigger was sent without a known answer".to_owned(),
        }),
    }
}

/// Folds unit results into one outcome per row, copies in order.
fn assemble(prepared: &Prepared, grouped: Vec<UnitDone>) -> Outcomes {
    let mut outcomes: Outcomes = prepared
        .plans()
        .map(|plan| vec![ActionOutcome::Pending; plan.rows.len()])
        .collect();
    // A unit of several rows (retrigger-multiple) answers for each.
    let mut results: Vec<(usize, usize, usize, Result<Done, DispatchError>)> = grouped
        .into_iter()
        .flat_map(|(p, rows, c, result)| rows.into_iter().map(move |r| (p, r, c, result.clone())))
        .collect();
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
        (ActionOutcome::Pending, Ok(Done::Already { state })) => {
            ActionOutcome::AlreadyQueued { state }
        }
        (ActionOutcome::Pending, Ok(Done::Triggered(actions))) => {
            ActionOutcome::Triggered { actions }
        }
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
            return cancel_rerun(queue, &task, runs_seen, resumed).await
        }
        Unit::Create { copy, definition } => {
            let Some(definition) = definition else {
                return Err(DispatchError::Rejected {
                    status: 0,
                    message: format!("no stored definition for copy {copy}"),
                });
            };
            create(queue, &copy, &definition, resumed).await
        }
        Unit::Hooks(_) => {
            return Err(DispatchError::Unavailable {
                message: "internal error: a hook unit sent as a queue call".to_owned(),
            })
        }
    };
    result.map_err(|e| DispatchError::from(&e))
}

/// Creates a copy. A resumed job first looks the copy up: an earlier
/// attempt may have created it without learning so (a 5xx or timeout after
/// the queue stored it). Its id is derived from the delivery, so a task
/// with that id and our definition is ours.
async fn create(
    queue: &QueueClient,
    copy: &TaskId,
    definition: &Value,
    resumed: bool,
) -> Result<Done, QueueError> {
    if !resumed {
        queue.create_task(copy, definition).await?;
        return Ok(Done::Created(copy.clone()));
    }
    match queue.task(copy).await {
        Ok(existing) if same_task(&existing, definition) => {
            return Ok(Done::Created(copy.clone()));
        }
        Ok(_) => {
            return Err(QueueError::Conflict {
                message: format!("taskId {copy} is used by a task with another definition"),
            });
        }
        Err(QueueError::NotFound) => {}
        Err(e) => return Err(e),
    }
    // Never created. The queue refuses a re-send whose `created` is over
    // 15 minutes old: then it is shifted to now (same id, so still at most
    // one copy).
    match queue.ensure_task_created(copy, definition).await {
        Err(QueueError::Rejected {
            status: 400,
            message,
        }) if message.contains("`created`") => {
            match crate::taskcluster::retrigger_definition(definition, chrono::Utc::now()) {
                Ok(fresh) => queue.create_task(copy, &fresh).await,
                Err(e) => Err(QueueError::Rejected {
                    status: 400,
                    message: e.to_string(),
                }),
            }
        }
        other => other,
    }?;
    Ok(Done::Created(copy.clone()))
}

/// The queue's definition of a task is ours: every field we sent has the
/// value we sent, except the times a re-send may have shifted (`created`,
/// `deadline`, `expires`, payload artifacts' `expires`; see
/// `retrigger_definition`). Fields we left out are the queue's defaults and
/// not compared.
fn same_task(existing: &Value, ours: &Value) -> bool {
    let (existing, ours) = (without_times(existing), without_times(ours));
    let Some(ours) = ours.as_object() else {
        return false;
    };
    ours.iter().all(|(k, v)| existing.get(k) == Some(v))
}

fn without_times(definition: &Value) -> Value {
    let mut definition = definition.clone();
    if let Some(fields) = definition.as_object_mut() {
        for key in ["created", "deadline", "expires"] {
            fields.remove(key);
        }
    }
    let drop_expires = |artifact: &mut Value| {
        if let Some(fields) = artifact.as_object_mut() {
            fields.remove("expires");
        }
    };
    match definition.pointer_mut("/payload/artifacts") {
        Some(Value::Object(artifacts)) => artifacts.values_mut().for_each(drop_expires),
        Some(Value::Array(artifacts)) => artifacts.iter_mut().for_each(drop_expires),
        _ => {}
    }
    definition
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
    if !resumed {
        // The queue's rerun is a silent no-op on a pending or running task:
        // read first, so the reply can say it was already queued.
        let status = queue.status(task).await?;
        let state = state_of(&status);
        if run_count(&status) > runs_seen || matches!(state.as_str(), "pending" | "running") {
            return Ok(Done::Already { state });
        }
    }
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
) -> Result<Done, DispatchError> {
    let policy = queue.retry_policy();
    // Whether a cancel or rerun may have been sent (by an earlier attempt
    // of the job, or an earlier pass of this loop): until then, any run
    // beyond `runs_seen` is someone else's.
    let mut maybe_sent = resumed;
    let mut attempt = 0;
    // Set once the cancel went through: a rerun failing after it leaves the
    // task canceled, and the reply must say so.
    let mut canceled = false;
    // The status is read first every time, resumed job or not: a task
    // scheduled or started since the plan is never canceled, and a retry
    // learns which step went through.
    loop {
        let status = queue.status(task).await?;
        let state = state_of(&status);
        if !maybe_sent && (state != "unscheduled" || run_count(&status) > runs_seen) {
            return Err(DispatchError::StartedSincePlan { state });
        }
        maybe_sent = true;
        let step = cancel_step(status, runs_seen);
        let sent = match step {
            CancelStep::Done(status) => return Ok(run_done(&status, true)),
            CancelStep::Cancel if state != "unscheduled" => {
                return Err(DispatchError::StartedSincePlan { state })
            }
            CancelStep::Cancel => match queue.cancel_task(task).await {
                Ok(_) => {
                    canceled = true;
                    queue.rerun_task(task).await
                }
                Err(e) => Err(e),
            },
            CancelStep::Rerun => {
                canceled = true;
                queue.rerun_task(task).await
            }
        };
        match sent {
            Ok(status) => return Ok(run_done(&status, true)),
            Err(QueueError::Unavailable { message }) if attempt < policy.retries => {
                tracing::warn!(%task, %message, "cancel or rerun answer lost; checking the task before sending again");
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) if canceled => {
                return Err(DispatchError::CanceledNotRerun {
                    error: Box::new(DispatchError::from(&e)),
                })
            }
            Err(e) => return Err(DispatchError::from(&e)),
        }
    }
}

/// The `state` of a status answer.
fn state_of(status: &Value) -> String {
    status
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn run_done(status: &Value, canceled: bool) -> Done {
    Done::Run {
        run_id: last_run_id(status),
        canceled,
    }
}

/// Sends one rerun or cancel-then-rerun on its own, outside a job's
/// dispatch: a waiting action that fired (DESIGN.md §13). `resumed`: it may
/// have been sent before without the answer being stored, so the task's run
/// count is compared with `runs_seen` first and nothing is sent twice.
/// Returns the row's outcome and, when the result is sure, the unit result
/// to record (`None`: no sure answer, try again later).
pub async fn send_waited(
    queue: &QueueClient,
    task: &TaskId,
    action: &Action,
    resumed: bool,
) -> (ActionOutcome, Option<UnitResult>) {
    let unit = match action {
        Action::Rerun { runs_seen } => Unit::Rerun {
            task: task.clone(),
            runs_seen: *runs_seen,
        },
        Action::CancelRerun { runs_seen } => Unit::CancelRerun {
            task: task.clone(),
            runs_seen: *runs_seen,
        },
        Action::Retrigger { .. } => {
            let error = DispatchError::Rejected {
                status: 0,
                message: "a retrigger never waits".to_owned(),
            };
            return (
                ActionOutcome::Failed {
                    error: error.clone(),
                    created: Vec::new(),
                },
                Some(UnitResult::Refused { error }),
            );
        }
    };
    let result = run_unit(queue, unit, resumed).await;
    let known = to_known(&result);
    (merge(ActionOutcome::Pending, result), known)
}

/// What a fired wait's triggers are recorded with: the job's unit results
/// so far, and the wait (its lease guards every record).
pub struct WaitRecords {
    pub known: HashMap<String, UnitResult>,
    pub store: Store,
    pub wait: crate::store::StoredWait,
}

/// Where a fired wait's hook triggers stand.
#[derive(Debug)]
pub enum WaitedHooks {
    /// Sure: the wait ends with this outcome.
    Ended(ActionOutcome),
    /// A trigger's answer is unknown (Taskcluster unreachable): look again
    /// later.
    Unsure,
    /// The sequence's cancel went through (action task `action_task`,
    /// triggered at `since`) and has not canceled the task yet: the rerun
    /// is sent on a later look, once it has.
    CancelPending {
        action_task: TaskId,
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The sequence's cancel action task `action_task` resolved (as
    /// `state`) without canceling the task: it never will, and the rerun
    /// is not sent. The wait is dropped.
    CancelWithoutEffect { action_task: TaskId, state: String },
}

/// Sends a fired wait's hook triggers (its row was routed to the
/// repository's in-tree actions), each exactly once: intents and action
/// tasks are recorded with the job under the wait's lease, under keys of
/// `key`, and what is recorded already is not sent again. `queue` reads,
/// `hooks` triggers. It never waits for a cancel to take effect (it runs
/// in the follow loop): one look, else [`WaitedHooks::CancelPending`], or
/// [`WaitedHooks::CancelWithoutEffect`] once the cancel action task
/// resolved without canceling the task.
pub async fn send_waited_hooks(
    queue: &QueueClient,
    hooks: &QueueClient,
    entry: &route::Routed,
    key: String,
    action: &Action,
    records: WaitRecords,
) -> WaitedHooks {
    let runs_seen = match action {
        Action::CancelRerun { runs_seen } => Some(*runs_seen),
        _ => None,
    };
    let unit = hooks::HookUnit {
        key,
        triggers: entry.triggers.clone(),
        runs_seen,
    };
    let WaitRecords { known, store, wait } = records;
    let result = match unit.known(&known) {
        Some(result) => result,
        None => {
            let records = hooks::Records {
                known,
                store: hooks::Recorder::Wait(store, wait),
            };
            match hooks::run_looking_once(queue, hooks, &unit, records).await {
                Ok(hooks::Ran::Done(done)) => Ok(done),
                Ok(hooks::Ran::Awaiting(awaiting)) => {
                    return WaitedHooks::CancelPending {
                        action_task: awaiting.previous.task_id,
                        since: awaiting.since,
                    }
                }
                Err(error) => Err(error),
            }
        }
    };
    match result {
        Err(DispatchError::Unavailable { .. }) => WaitedHooks::Unsure,
        Err(DispatchError::CancelWithoutEffect { action_task, state }) => {
            WaitedHooks::CancelWithoutEffect { action_task, state }
        }
        result => WaitedHooks::Ended(merge(ActionOutcome::Pending, result)),
    }
}
