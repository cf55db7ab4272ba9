//! Waits (DESIGN.md §6, §13): actions a plan held back until other runs
//! resolve — the notarization part 1 → poller sequence, a forced
//! cancel-then-rerun while other dependencies still run.
//!
//! The pipeline stores them with the job ([`waits_for`]), and follows each
//! run they wait on with a watch of the job, so the event path that records
//! resolutions (Pulse and polling alike) is the one that makes them due.
//! Each loop step claims due waits, judges them with the pure
//! [`crate::policy::waits::verdict`] and fires or drops them. Firing is
//! exactly once: the wait is marked `firing` before its action is sent, a
//! later claimer of a `firing` wait lets dispatch compare the task's run
//! count before sending again, and the result is stored as a unit result
//! of the job together with the wait's end ([`fire`]).

mod fire;

use super::{FollowEvent, Follower};
use crate::dispatch::Outcomes;
use crate::outcome::ActionOutcome;
use crate::pipeline::prepared::Prepared;
use crate::policy::plan::{Decision, Dropped, Wait};
use crate::policy::task::TaskState;
use crate::policy::waits::{verdict, Seen, Verdict};
use crate::store::{NewWait, NewWatch, StoreError, StoredWait, WaitEnd, Watch};
use crate::types::TaskId;
use serde::{Deserialize, Serialize};

/// What is stored for a wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRecord {
    pub wait: Wait,
    /// Waited-on tasks whose rerun by the same job did not start.
    #[serde(default)]
    pub not_started: Vec<TaskId>,
}

/// The waits of a dispatched plan, and the runs they wait on (to watch).
/// A waited-on run that the same job reruns takes the run number the
/// queue answered; one whose rerun failed is marked not started.
pub fn waits_for(prepared: &Prepared, outcomes: &Outcomes) -> (Vec<NewWait>, Vec<NewWatch>) {
    // What this job did to each task it acted on.
    let mut acted: std::collections::BTreeMap<&str, &ActionOutcome> = Default::default();
    for (plan, outcomes) in prepared.plans().zip(outcomes) {
        for (row, outcome) in plan.rows.iter().zip(outcomes) {
            if matches!(row.decision, Decision::Act(_)) {
                acted.insert(row.task_id.as_str(), outcome);
            }
        }
    }
    let (mut waits, mut watches) = (Vec::new(), Vec::new());
    for (p, plan) in prepared.plans().enumerate() {
        for (r, row) in plan.rows.iter().enumerate() {
            let Decision::Wait(wait) = &row.decision else {
                continue;
            };
            let mut record = WaitRecord {
                wait: wait.clone(),
                not_started: Vec::new(),
            };
            for on in &mut record.wait.on {
                match acted.get(on.task_id.as_str()) {
                    Some(
                        ActionOutcome::Rerun { run_id: Some(run) }
                        | ActionOutcome::CancelRerun { run_id: Some(run) },
                    ) => on.run_id = *run,
                    Some(ActionOutcome::Failed { .. } | ActionOutcome::Dropped { .. }) => {
                        record.not_started.push(on.task_id.clone());
                        continue;
                    }
                    _ => {}
                }
                watches.push(NewWatch {
                    task_id: on.task_id.to_string(),
                    run_id: on.run_id,
                    task_group_id: String::new(),
                    ..NewWatch::default()
                });
            }
            let Ok(spec) = serde_json::to_string(&record) else {
                continue;
            };
            waits.push(NewWait {
                plan_index: p,
                row_index: r,
                task_id: row.task_id.to_string(),
                spec,
            });
        }
    }
    (waits, watches)
}

/// Where the waits of a job stand, for its reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitsSummary {
    /// Some wait is not decided yet: no final reaction.
    pub open: bool,
    /// Some wait was dropped, or fired and failed: the final reaction is 👎.
    pub dropped: bool,
}

/// Puts what decided waits came to into a job's outcomes (a waiting row's
/// outcome is `Pending` until then).
pub fn overlay(waits: &[StoredWait], outcomes: &mut Outcomes) -> WaitsSummary {
    let mut summary = WaitsSummary::default();
    for w in waits {
        match w.state.as_str() {
            "fired" | "dropped" => {}
            _ => {
                summary.open = true;
                continue;
            }
        }
        let outcome = w
            .outcome
            .as_deref()
            .and_then(|o| serde_json::from_str::<ActionOutcome>(o).ok());
        summary.dropped |=
            w.state == "dropped" || matches!(outcome, Some(ActionOutcome::Failed { .. }));
        let slot = outcomes
            .get_mut(w.plan_index)
            .and_then(|o| o.get_mut(w.row_index));
        if let (Some(slot), Some(outcome)) = (slot, outcome) {
            *slot = outcome;
        }
    }
    summary
}

/// Judges every due wait, firing or dropping those whose time came.
pub async fn fire_due(follower: &Follower) -> Result<(), StoreError> {
    let due = follower
        .store
        .claim_due_waits(follower.config.lease, follower.config.batch)
        .await?;
    for wait in due {
        match judge_one(follower, &wait).await {
            Ok(()) => {}
            // Another process owns it now.
            Err(StoreError::LeaseLost) => {}
            Err(e) => {
                tracing::warn!(wait_id = wait.id, error = %e, "follow: wait not judged");
                follower
                    .store
                    .postpone_wait(&wait, follower.config.poll_interval)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Where each run a wait waits on stands, from the job's watches and waits.
fn seen(record: &WaitRecord, watches: &[Watch], waits: &[StoredWait]) -> Vec<Seen> {
    record
        .wait
        .on
        .iter()
        .map(|on| {
            let waited_and_dropped = waits
                .iter()
                .any(|w| w.task_id == on.task_id.as_str() && w.state == "dropped");
            if record.not_started.contains(&on.task_id) || waited_and_dropped {
                return Seen::NotStarted;
            }
            let watch = watches
                .iter()
                .find(|w| w.task_id == on.task_id.as_str() && w.run_id == on.run_id);
            match watch.and_then(|w| Some((w.result.as_deref()?, w.reason.clone()))) {
                Some((state, reason)) => {
                    match serde_json::from_value::<TaskState>(serde_json::json!(state)) {
                        Ok(state) => Seen::Resolved { state, reason },
                        Err(_) => Seen::Open,
                    }
                }
                None => Seen::Open,
            }
        })
        .collect()
}

async fn judge_one(follower: &Follower, wait: &StoredWait) -> Result<(), StoreError> {
    let store = &follower.store;
    let Ok(record) = serde_json::from_str::<WaitRecord>(&wait.spec) else {
        tracing::error!(wait_id = wait.id, "unreadable wait; dropping it");
        return end_unusable(follower, wait).await;
    };
    let watches = store.watches_of_job(wait.job_id).await?;
    let waits = store.waits_of_job(wait.job_id).await?;
    let seen = seen(&record, &watches, &waits);
    match verdict(&record.wait, &seen, chrono::Utc::now()) {
        Verdict::Waiting => {
            store
                .postpone_wait(wait, follower.config.poll_interval)
                .await
        }
        Verdict::Drop(reason) => drop_for(follower, wait, reason).await,
        Verdict::Fire => fire::fire(follower, wait, &record.wait).await,
    }
}

/// Drops a wait; its row says why.
async fn drop_for(
    follower: &Follower,
    wait: &StoredWait,
    reason: Dropped,
) -> Result<(), StoreError> {
    tracing::info!(
        wait_id = wait.id,
        task_id = wait.task_id,
        ?reason,
        "wait dropped"
    );
    let outcome = ActionOutcome::Dropped { reason };
    end(follower, wait, outcome, None, Vec::new(), false).await
}

/// Ends a wait that can no longer be judged (its record or its job is
/// unreadable): dropped, its row left pending.
async fn end_unusable(follower: &Follower, wait: &StoredWait) -> Result<(), StoreError> {
    end(
        follower,
        wait,
        ActionOutcome::Pending,
        None,
        Vec::new(),
        false,
    )
    .await
}

/// Stores how a wait ended and counts it.
async fn end(
    follower: &Follower,
    wait: &StoredWait,
    outcome: ActionOutcome,
    unit: Option<(&str, &str)>,
    watches: Vec<NewWatch>,
    fired: bool,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(&outcome).unwrap_or_default();
    let state = if fired { "fired" } else { "dropped" };
    follower
        .store
        .end_wait(
            wait,
            &WaitEnd {
                state,
                outcome: &text,
                unit,
                watches,
            },
        )
        .await?;
    follower.metrics.wait_decided(fired);
    follower.emit(FollowEvent::WaitDecided {
        job_id: wait.job_id,
        task_id: wait.task_id.clone(),
        fired,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::DispatchError;

    fn stored(row: usize, state: &str, outcome: Option<&ActionOutcome>) -> StoredWait {
        StoredWait {
            id: row as i64,
            job_id: 1,
            plan_index: 0,
            row_index: row,
            task_id: format!("T{row}"),
            spec: String::new(),
            state: state.to_owned(),
            outcome: outcome.map(|o| serde_json::to_string(o).unwrap_or_default()),
            lease: String::new(),
        }
    }

    /// What the reply's final reaction learns from the waits, one row per
    /// way a wait can stand.
    #[test]
    fn waits_summary_one_row_per_state() {
        let fired = ActionOutcome::Rerun { run_id: Some(1) };
        let failed = ActionOutcome::Failed {
            error: DispatchError::NotFound,
            created: Vec::new(),
        };
        let dropped = ActionOutcome::Dropped {
            reason: crate::policy::plan::Dropped::DependencyNotRerun {
                dependency: "part-1".to_owned(),
            },
        };
        let rows: Vec<(StoredWait, WaitsSummary)> = vec![
            (
                stored(0, "waiting", None),
                WaitsSummary {
                    open: true,
                    dropped: false,
                },
            ),
            (
                stored(0, "firing", None),
                WaitsSummary {
                    open: true,
                    dropped: false,
                },
            ),
            (stored(0, "fired", Some(&fired)), WaitsSummary::default()),
            (
                stored(0, "fired", Some(&failed)),
                WaitsSummary {
                    open: false,
                    dropped: true,
                },
            ),
            (
                stored(0, "dropped", Some(&dropped)),
                WaitsSummary {
                    open: false,
                    dropped: true,
                },
            ),
        ];
        for (wait, expected) in rows {
            let mut outcomes: Outcomes = vec![vec![ActionOutcome::Pending]];
            let summary = overlay(std::slice::from_ref(&wait), &mut outcomes);
            assert_eq!(summary, expected, "{} {:?}", wait.state, wait.outcome);
            if wait.outcome.is_some() {
                assert_ne!(outcomes[0][0], ActionOutcome::Pending, "shown in the row");
            }
        }
    }
}
