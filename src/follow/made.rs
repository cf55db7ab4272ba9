//! What in-tree action tasks made (DESIGN.md §8, §13). An action task is
//! watched like any run; its watch also holds what it is expected to make
//! ([`Expect`]). Once it completed, that is looked up and watched under
//! the same job: the copies a `retrigger` listed in its
//! `public/task-graph.json`, or the new run a `rerun` started. The reply
//! then shows each copy or run with its mark, and its final reaction waits
//! for them.
//!
//! Trust: only copies in the action task's own task group are taken (the
//! artifact is the action task's to write), at most [`MAX_MADE`] of them;
//! they are only ever read (their status), never acted on.
//!
//! Idempotent: the lookup and the watches it adds are stored in one
//! transaction that clears the expectation, and adding a watch twice adds
//! nothing, so two processes looking at once, or one killed half-way,
//! leave the same watches.

use super::Follower;
use crate::outcome::{Expect, TriggeredAction};
use crate::policy::plan::Action;
use crate::store::{NewWatch, StoreError, Watch};
use crate::taskcluster::actions::{created_tasks, TASK_GRAPH_ARTIFACT};
use crate::taskcluster::error::QueueError;
use crate::types::TaskId;
use serde_json::Value;

/// Copies followed per action task, at most.
pub const MAX_MADE: usize = 100;

/// The watches of the action tasks an in-tree action made for one row
/// (task `task_id`, labelled `label`, planned as `planned`), each holding
/// what it is expected to make. The group is learned at the first check
/// when `task_group_id` is empty.
pub fn action_task_watches(
    actions: &[TriggeredAction],
    task_id: &TaskId,
    planned: &Action,
    label: &str,
    task_group_id: &str,
) -> Vec<NewWatch> {
    actions
        .iter()
        .map(|a| NewWatch {
            task_id: a.task_id.to_string(),
            task_group_id: task_group_id.to_owned(),
            expect: Expect::for_action(&a.action, task_id, planned, label).map(|e| e.to_json()),
            ..NewWatch::default()
        })
        .collect()
}

/// Looks up what every completed action task made, and watches it.
pub async fn watch_due(follower: &Follower) -> Result<(), StoreError> {
    let due = follower
        .store
        .due_expectations(follower.config.batch)
        .await?;
    for action in due {
        match made(follower, &action).await {
            Ok(made) => {
                tracing::info!(
                    action_task = action.task_id,
                    made = made.len(),
                    "action task's work followed"
                );
                follower.store.expectation_met(&action, &made).await?;
            }
            Err(e) => {
                tracing::warn!(action_task = action.task_id, error = %e, "follow: what the action task made is unknown for now");
                follower
                    .store
                    .postpone_expectation(action.id, follower.config.poll_interval)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The watches for what `action` made. An error is worth asking again.
async fn made(follower: &Follower, action: &Watch) -> Result<Vec<NewWatch>, QueueError> {
    let expect: Option<Expect> = action
        .expect
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok());
    let queue = follower.pipeline.queue();
    let made_by = Some(action.task_id.clone());
    match expect {
        None => Ok(Vec::new()),
        Some(Expect::Copies) => {
            let graph = match queue
                .latest_artifact(&TaskId::new(action.task_id.as_str()), TASK_GRAPH_ARTIFACT)
                .await
            {
                Ok(graph) => graph,
                // It made nothing (taskgraph writes the artifact only when
                // it created tasks).
                Err(QueueError::NotFound) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            Ok(created_tasks(&graph, MAX_MADE)
                .into_iter()
                .filter(|c| {
                    action.task_group_id.is_empty() || c.task_group_id == action.task_group_id
                })
                .map(|c| NewWatch {
                    task_id: c.task_id.to_string(),
                    run_id: 0,
                    task_group_id: c.task_group_id,
                    made_by: made_by.clone(),
                    label: Some(c.label),
                    expect: None,
                })
                .collect())
        }
        Some(Expect::Run {
            task_id,
            run_id,
            label,
        }) => {
            let status = match queue.status(&TaskId::new(task_id.as_str())).await {
                Ok(status) => status,
                Err(QueueError::NotFound) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let Some(run_id) = newest_run_from(&status, run_id) else {
                // The action found nothing to rerun.
                return Ok(Vec::new());
            };
            Ok(vec![NewWatch {
                task_id,
                run_id,
                task_group_id: status
                    .get("taskGroupId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                made_by,
                label: Some(label),
                expect: None,
            }])
        }
    }
}

/// The task's newest run, if it is run `from` or a later one (a cancel of
/// an unscheduled task makes a run of its own before the rerun's).
fn newest_run_from(status: &Value, from: u32) -> Option<u32> {
    status
        .get("runs")?
        .as_array()?
        .iter()
        .filter_map(|r| r.get("runId").and_then(Value::as_u64))
        .max()
        .and_then(|r| u32::try_from(r).ok())
        .filter(|r| *r >= from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_action_makes_one_row_per_action() {
        let task = TaskId::new("T");
        let run = Some(Expect::Run {
            task_id: "T".into(),
            run_id: 2,
            label: "l".into(),
        });
        let rows: Vec<(&str, Option<Expect>)> = vec![
            ("cancel", None),
            ("rerun", run),
            ("retrigger", Some(Expect::Copies)),
            ("retrigger-multiple", Some(Expect::Copies)),
            ("retrigger-decision", Some(Expect::Copies)),
        ];
        for (action, expected) in rows {
            assert_eq!(
                Expect::for_action(action, &task, &Action::Rerun { runs_seen: 2 }, "l"),
                expected,
                "{action}"
            );
        }
    }

    #[test]
    fn an_expectation_reads_back_as_written() {
        let e = Expect::Run {
            task_id: "T".into(),
            run_id: 1,
            label: "l".into(),
        };
        assert_eq!(serde_json::from_str::<Expect>(&e.to_json()).ok(), Some(e));
    }

    #[test]
    fn the_run_a_rerun_made_one_row_per_case() {
        use serde_json::json;
        let rows: Vec<(Value, u32, Option<u32>)> = vec![
            (json!({"runs": [{"runId": 0}, {"runId": 1}]}), 1, Some(1)),
            // Nothing to rerun: no run beyond those seen.
            (json!({"runs": [{"runId": 0}]}), 1, None),
            // Cancel of an unscheduled task (run 0), then the rerun (run 1).
            (json!({"runs": [{"runId": 0}, {"runId": 1}]}), 0, Some(1)),
            (json!({"runs": []}), 0, None),
            (json!({}), 0, None),
        ];
        for (status, from, expected) in rows {
            assert_eq!(
                newest_run_from(&status, from),
                expected,
                "{status} from {from}"
            );
        }
    }
}
