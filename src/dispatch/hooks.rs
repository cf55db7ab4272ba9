//! Actions carried out through in-tree actions: each hook trigger exactly
//! once (DESIGN.md §10). A trigger is not idempotent, so its intent is
//! recorded before the call and the action task's id after; a trigger
//! whose answer was lost (5xx, timeout, a crash between the call and the
//! record) is looked for in the task group — an action task with the same
//! callback, target and input created since the intent — and sent again
//! only when there is none. The HTTP client never retries a trigger.
//!
//! A sequence (cancel, then rerun) sends each trigger once the one before
//! took effect: the rerun action only reruns a failed or exception task,
//! so it waits until the cancel action task has canceled it. A job's
//! dispatch (in a worker of its own) polls for that effect a while
//! ([`run`]); a fired wait (in the follow loop, which must not stall)
//! looks once and comes back later ([`run_looking_once`]). A cancel action
//! task that resolved without canceling the task never will: the sequence
//! ends there, definitively ([`DispatchError::CancelWithoutEffect`]).

use super::Done;
use crate::outcome::{DispatchError, TriggeredAction, UnitResult};
use crate::store::{Claim, Store, StoredWait};
use crate::taskcluster::actions::{is_action_task_for, HookTrigger};
use crate::taskcluster::{run_count, QueueClient, QueueError};
use crate::types::{TaskGroupId, TaskId};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// How long a job's sequence waits for an action task's effect (the
/// cancel) before the job is retried later (with backoff) to look again.
const EFFECT_WAIT: Duration = Duration::from_secs(30);
const EFFECT_POLL: Duration = Duration::from_secs(1);

/// One sequence of hook triggers for some rows of a plan.
pub(crate) struct HookUnit {
    /// Unique within the job, stable across attempts.
    pub key: String,
    pub triggers: Vec<HookTrigger>,
    /// For a cancel-then-rerun: the runs the plan saw (a task that runs
    /// since is never canceled).
    pub runs_seen: Option<u32>,
}

impl HookUnit {
    /// The record key of trigger `n`.
    fn trigger_key(&self, n: usize, trigger: &HookTrigger) -> String {
        format!("{}:{n}:{}", self.key, trigger.action)
    }

    /// What the records already say of the whole sequence: `None` while
    /// some trigger is unconfirmed.
    pub fn known(
        &self,
        known: &HashMap<String, UnitResult>,
    ) -> Option<Result<Done, DispatchError>> {
        let mut made = Vec::new();
        for (n, trigger) in self.triggers.iter().enumerate() {
            match known.get(&self.trigger_key(n, trigger))? {
                UnitResult::Triggered { action_task } => made.push(TriggeredAction {
                    action: trigger.action.clone(),
                    task_id: action_task.clone(),
                }),
                UnitResult::Refused { error } => return Some(Err(error.clone())),
                UnitResult::Already { state } => {
                    return Some(Ok(Done::Already {
                        state: state.clone(),
                    }))
                }
                _ => return None,
            }
        }
        Some(Ok(Done::Triggered(made)))
    }
}

/// Who records trigger intents and results with the job, under whose
/// lease: the job's own dispatch, or a wait of the job that fired.
#[derive(Clone)]
pub(crate) enum Recorder {
    /// Outside a claimed job: nothing is recorded.
    Nowhere,
    Job(Store, Claim),
    Wait(Store, StoredWait),
}

/// Where trigger intents and results are recorded, and what is known.
#[derive(Clone)]
pub(crate) struct Records {
    pub known: HashMap<String, UnitResult>,
    pub store: Recorder,
}

impl Records {
    async fn save(&mut self, key: &str, result: UnitResult) -> Result<(), DispatchError> {
        let text = serde_json::to_string(&result).map_err(|e| DispatchError::Unavailable {
            message: format!("cannot encode a unit result: {e}"),
        })?;
        let saved = match &self.store {
            Recorder::Nowhere => Ok(()),
            Recorder::Job(store, claim) => store.save_unit_result(claim, key, &text).await,
            Recorder::Wait(store, wait) => store.save_wait_unit_result(wait, key, &text).await,
        };
        saved.map_err(|e| DispatchError::Unavailable {
            message: format!("could not record the trigger: {e}"),
        })?;
        self.known.insert(key.to_owned(), result);
        Ok(())
    }
}

/// A trigger of a sequence that went through and has not taken effect
/// yet: the next trigger was not sent.
#[derive(Clone, Debug)]
pub(crate) struct Awaiting {
    pub previous: TriggeredAction,
    /// When it was triggered (its recorded intent).
    pub since: Option<DateTime<Utc>>,
}

/// How far a sequence got.
pub(crate) enum Ran {
    Done(Done),
    Awaiting(Awaiting),
}

/// Sends the sequence's triggers not yet confirmed, waiting up to
/// [`EFFECT_WAIT`] for each one's effect before the next (a job's
/// dispatch). `queue` reads (status, the group); `hooks` triggers. A
/// cancel whose action task resolved without canceling the task fails the
/// row at once ([`DispatchError::CancelWithoutEffect`], recorded).
pub(crate) async fn run(
    queue: &QueueClient,
    hooks: &QueueClient,
    unit: &HookUnit,
    records: Records,
) -> Result<Done, DispatchError> {
    match sequence(queue, hooks, unit, records, EFFECT_WAIT).await? {
        Ran::Done(done) => Ok(done),
        // The job is retried later (with backoff) and looks again.
        Ran::Awaiting(Awaiting { previous, .. }) => Err(DispatchError::Unavailable {
            message: format!(
                "the {} action task {} has not taken effect yet",
                previous.action, previous.task_id
            ),
        }),
    }
}

/// [`run`] taking one look at each effect: a trigger not in effect yet
/// ends it with [`Ran::Awaiting`], and the caller comes back later (a
/// fired wait, in the follow loop). Nothing recorded is sent again.
pub(crate) async fn run_looking_once(
    queue: &QueueClient,
    hooks: &QueueClient,
    unit: &HookUnit,
    records: Records,
) -> Result<Ran, DispatchError> {
    sequence(queue, hooks, unit, records, Duration::ZERO).await
}

/// The sequence, waiting up to `patience` for each trigger's effect.
async fn sequence(
    queue: &QueueClient,
    hooks: &QueueClient,
    unit: &HookUnit,
    mut records: Records,
    patience: Duration,
) -> Result<Ran, DispatchError> {
    let mut made: Vec<TriggeredAction> = Vec::new();
    for (n, trigger) in unit.triggers.iter().enumerate() {
        let key = unit.trigger_key(n, trigger);
        let action_task = match records.known.get(&key) {
            Some(UnitResult::Triggered { action_task }) => action_task.clone(),
            Some(UnitResult::Refused { error }) => return Err(failed_after(&made, error.clone())),
            Some(UnitResult::Already { state }) => {
                return Ok(Ran::Done(Done::Already {
                    state: state.clone(),
                }))
            }
            _ => {
                if let Some(previous) = made.last() {
                    match await_effect(queue, trigger, previous, unit.runs_seen, patience).await? {
                        Effect::Taken => {}
                        Effect::NotYet => {
                            let since = n
                                .checked_sub(1)
                                .and_then(|p| Some(unit.trigger_key(p, unit.triggers.get(p)?)))
                                .and_then(|key| match records.known.get(&intent_key(&key)) {
                                    Some(UnitResult::TriggerIntent { at }) => Some(*at),
                                    _ => None,
                                });
                            return Ok(Ran::Awaiting(Awaiting {
                                previous: previous.clone(),
                                since,
                            }));
                        }
                        Effect::Never { state } => {
                            // Definitive: recorded under this trigger's key,
                            // so a later attempt or look says the same.
                            let error = DispatchError::CancelWithoutEffect {
                                action_task: previous.task_id.clone(),
                                state,
                            };
                            let refused = UnitResult::Refused {
                                error: error.clone(),
                            };
                            if let Err(e) = records.save(&key, refused).await {
                                tracing::warn!(error = ?e, "could not record a cancel without effect");
                            }
                            return Err(error);
                        }
                    }
                } else if let Some(state) =
                    check_first(queue, trigger, unit.runs_seen, &records, &key).await?
                {
                    records
                        .save(
                            &key,
                            UnitResult::Already {
                                state: state.clone(),
                            },
                        )
                        .await?;
                    return Ok(Ran::Done(Done::Already { state }));
                }
                match trigger_once(queue, hooks, trigger, &key, &mut records).await {
                    Ok(id) => id,
                    Err(error) => {
                        if !matches!(error, DispatchError::Unavailable { .. }) {
                            // Definitive: asking again would get the same.
                            let refused = UnitResult::Refused {
                                error: error.clone(),
                            };
                            if let Err(e) = records.save(&key, refused).await {
                                tracing::warn!(error = ?e, "could not record a refused trigger");
                            }
                        }
                        return Err(failed_after(&made, error));
                    }
                }
            }
        };
        made.push(TriggeredAction {
            action: trigger.action.clone(),
            task_id: action_task,
        });
    }
    Ok(Ran::Done(Done::Triggered(made)))
}

/// An error after some triggers went through: a cancel that went through
/// leaves the task canceled, and the reply must say so (not when the
/// cancel itself did nothing).
fn failed_after(made: &[TriggeredAction], error: DispatchError) -> DispatchError {
    if made.iter().any(|m| m.action == "cancel")
        && !matches!(
            error,
            DispatchError::Unavailable { .. } | DispatchError::CancelWithoutEffect { .. }
        )
    {
        DispatchError::CanceledNotRerun {
            error: Box::new(error),
        }
    } else {
        error
    }
}

/// Before the first trigger of a sequence that was never tried: a rerun of
/// a task already pending or running is a no-op (`Some(state)`), and a
/// task scheduled or started since the plan is never canceled.
async fn check_first(
    queue: &QueueClient,
    trigger: &HookTrigger,
    runs_seen: Option<u32>,
    records: &Records,
    key: &str,
) -> Result<Option<String>, DispatchError> {
    let Some(target) = &trigger.target else {
        return Ok(None);
    };
    if records.known.contains_key(&intent_key(key)) {
        return Ok(None);
    }
    let status = queue.status(target).await?;
    let state = status
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match trigger.action.as_str() {
        "rerun" if matches!(state.as_str(), "pending" | "running") => Ok(Some(state)),
        "cancel" if state != "unscheduled" || runs_seen.is_some_and(|r| run_count(&status) > r) => {
            Err(DispatchError::StartedSincePlan { state })
        }
        _ => Ok(None),
    }
}

fn intent_key(key: &str) -> String {
    format!("intent:{key}")
}

/// One trigger, exactly once: an earlier attempt's intent is looked for in
/// the group first; the intent is recorded before the call; a lost answer
/// is looked for at once (the hook may have created the task before the
/// error), else left unconfirmed for the job's next attempt.
async fn trigger_once(
    queue: &QueueClient,
    hooks: &QueueClient,
    trigger: &HookTrigger,
    key: &str,
    records: &mut Records,
) -> Result<TaskId, DispatchError> {
    let intent = intent_key(key);
    if let Some(UnitResult::TriggerIntent { at }) = records.known.get(&intent).cloned() {
        if let Some(found) = find_action_task(queue, trigger, at).await? {
            tracing::info!(action_task = %found, "an earlier attempt's trigger went through");
            records
                .save(
                    key,
                    UnitResult::Triggered {
                        action_task: found.clone(),
                    },
                )
                .await?;
            return Ok(found);
        }
    } else {
        // Not one trigger without its intent on record.
        let at = chrono::Utc::now();
        records
            .save(&intent, UnitResult::TriggerIntent { at })
            .await?;
    }
    let at = match records.known.get(&intent) {
        Some(UnitResult::TriggerIntent { at }) => *at,
        _ => chrono::Utc::now(),
    };
    match hooks
        .trigger_hook(&trigger.hook_group_id, &trigger.hook_id, &trigger.payload)
        .await
    {
        Ok(action_task) => {
            // Not recorded (the lease ran out, the database failed): the
            // next attempt finds the action task in the group.
            records
                .save(
                    key,
                    UnitResult::Triggered {
                        action_task: action_task.clone(),
                    },
                )
                .await?;
            Ok(action_task)
        }
        Err(QueueError::Unavailable { message }) => {
            tracing::warn!(%message, hook = %trigger.hook_id, "trigger answer lost; looking for its action task");
            match find_action_task(queue, trigger, at).await {
                Ok(Some(found)) => {
                    records
                        .save(
                            key,
                            UnitResult::Triggered {
                                action_task: found.clone(),
                            },
                        )
                        .await?;
                    Ok(found)
                }
                Ok(None) | Err(_) => Err(DispatchError::Unavailable { message }),
            }
        }
        Err(other) => Err(DispatchError::from(&other)),
    }
}

/// The action task `trigger` made since `intent`, if the group holds one.
async fn find_action_task(
    queue: &QueueClient,
    trigger: &HookTrigger,
    intent: chrono::DateTime<chrono::Utc>,
) -> Result<Option<TaskId>, DispatchError> {
    let group = TaskGroupId::new(trigger.task_group_id.as_str());
    let tasks = queue.list_action_task_definitions(&group).await?;
    Ok(tasks
        .into_iter()
        .find(|(_, definition)| is_action_task_for(definition, trigger, intent))
        .map(|(id, _)| id))
}

/// Where the effect of the trigger before stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Effect {
    /// Taken effect (or nothing to wait for): the next trigger may be sent.
    Taken,
    /// Not yet, and the cancel action task has not resolved: look again.
    NotYet,
    /// The cancel action task resolved (as `state`) and the task is not
    /// canceled: it never will be by this action task.
    Never { state: String },
}

/// The rule, pure. `target` is the target's status, read after `action`,
/// the cancel action task's (`None`: unreadable, judged as not resolved).
/// The cancel took effect once the target's last run is canceled, or a
/// run beyond the canceled one exists (`runs_seen`: the runs the plan
/// saw). Otherwise a resolved action task (completed, failed, exception)
/// has done all it ever will: read before the target, whatever it did
/// shows in `target`.
fn cancel_effect(target: &Value, runs_seen: Option<u32>, action: Option<&Value>) -> Effect {
    let last_reason = target
        .get("runs")
        .and_then(Value::as_array)
        .and_then(|r| r.last())
        .and_then(|r| r.get("reasonResolved"))
        .and_then(Value::as_str);
    if last_reason == Some("canceled") || runs_seen.is_some_and(|r| run_count(target) > r + 1) {
        return Effect::Taken;
    }
    match action.and_then(|a| a.get("state")).and_then(Value::as_str) {
        Some(state @ ("completed" | "failed" | "exception")) => Effect::Never {
            state: state.to_owned(),
        },
        _ => Effect::NotYet,
    }
}

/// Whether `previous` took effect on the target, so that `trigger` may be
/// sent: after a cancel, once the target's last run is canceled
/// ([`cancel_effect`]). Looks every [`EFFECT_POLL`] for up to `patience`
/// (zero: one look); each look reads two statuses, the cancel action
/// task's, then the target's. Ends at once when the action task resolved
/// without canceling the target ([`Effect::Never`]).
async fn await_effect(
    queue: &QueueClient,
    trigger: &HookTrigger,
    previous: &TriggeredAction,
    runs_seen: Option<u32>,
    patience: Duration,
) -> Result<Effect, DispatchError> {
    let Some(target) = &trigger.target else {
        return Ok(Effect::Taken);
    };
    if previous.action != "cancel" {
        return Ok(Effect::Taken);
    }
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        // The action task first: once it has resolved, what it did to the
        // target shows in the target's status read after it.
        let action = match queue.status(&previous.task_id).await {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::warn!(error = %e, action_task = %previous.task_id, "cannot read the cancel action task's status; judging by the task alone");
                None
            }
        };
        let status = queue.status(target).await?;
        let effect = cancel_effect(&status, runs_seen, action.as_ref());
        if effect != Effect::NotYet || tokio::time::Instant::now() >= deadline {
            return Ok(effect);
        }
        tokio::time::sleep(EFFECT_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A task status with runs resolved for the given reasons (`None`:
    /// open).
    fn target(runs: &[Option<&str>]) -> Value {
        let runs: Vec<Value> = runs
            .iter()
            .enumerate()
            .map(|(id, reason)| match reason {
                Some(r) => {
                    let state = if *r == "canceled" { "exception" } else { r };
                    json!({"runId": id, "state": state, "reasonResolved": r})
                }
                None => json!({"runId": id, "state": "pending"}),
            })
            .collect();
        json!({"state": "unscheduled", "runs": runs})
    }

    fn action(state: &str) -> Value {
        json!({"state": state, "runs": [{"runId": 0, "state": state}]})
    }

    fn never(state: &str) -> Effect {
        Effect::Never {
            state: state.to_owned(),
        }
    }

    #[test]
    fn a_cancel_takes_effect_is_awaited_or_never_will() {
        // Name, the target's runs, the runs the plan saw, the cancel
        // action task's status, expected.
        type Row = (&'static str, Value, Option<u32>, Option<Value>, Effect);
        let rows: Vec<Row> = vec![
            (
                "action task pending, target not canceled: keep waiting",
                target(&[]),
                Some(0),
                Some(action("pending")),
                Effect::NotYet,
            ),
            (
                "action task running, target not canceled: keep waiting",
                target(&[]),
                Some(0),
                Some(action("running")),
                Effect::NotYet,
            ),
            (
                "action task status unreadable: keep waiting (the patience limits still apply)",
                target(&[]),
                Some(0),
                None,
                Effect::NotYet,
            ),
            (
                "action task completed, the target resolved on its own meanwhile: never",
                target(&[Some("completed")]),
                Some(0),
                Some(action("completed")),
                never("completed"),
            ),
            (
                "action task failed, target still unscheduled: never",
                target(&[]),
                Some(0),
                Some(action("failed")),
                never("failed"),
            ),
            (
                "action task exception, target still unscheduled: never",
                target(&[]),
                Some(0),
                Some(action("exception")),
                never("exception"),
            ),
            (
                "target canceled, action task still running: proceed",
                target(&[Some("canceled")]),
                Some(0),
                Some(action("running")),
                Effect::Taken,
            ),
            (
                "target canceled, action task completed: proceed",
                target(&[Some("canceled")]),
                Some(0),
                Some(action("completed")),
                Effect::Taken,
            ),
            (
                "canceled and rerun since (a run beyond the canceled one): proceed",
                target(&[Some("canceled"), None]),
                Some(0),
                Some(action("completed")),
                Effect::Taken,
            ),
            (
                "an earlier run canceled, the last one not: never",
                target(&[Some("canceled"), Some("failed")]),
                Some(1),
                Some(action("completed")),
                never("completed"),
            ),
        ];
        for (name, target, runs_seen, action, expected) in rows {
            assert_eq!(
                cancel_effect(&target, runs_seen, action.as_ref()),
                expected,
                "{name}"
            );
        }
    }
}
