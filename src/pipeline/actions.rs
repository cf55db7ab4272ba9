//! What each task group's decision task offers for in-tree actions
//! (DESIGN.md §8), read before planning: its `public/actions.json` (the
//! queue's latest-artifact endpoint) and its scopes, expanded through the
//! auth service, for the `in-tree:hook-action` check. Nothing is read in
//! `dispatch: queue`.

use super::StepError;
use crate::dispatch::route::GroupActions;
use crate::policy::task::TaskSnapshot;
use crate::repo_config::DispatchMode;
use crate::taskcluster::actions::{parse_actions, ACTIONS_ARTIFACT};
use crate::taskcluster::{QueueClient, QueueError};
use crate::types::TaskId;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The in-tree actions of every group of `tasks`, by group id.
pub(crate) async fn gather_actions(
    queue: &QueueClient,
    mode: DispatchMode,
    tasks: &[TaskSnapshot],
) -> Result<BTreeMap<String, GroupActions>, StepError> {
    if mode == DispatchMode::Queue {
        return Ok(BTreeMap::new());
    }
    let groups: BTreeSet<&str> = tasks.iter().map(|t| t.task_group_id.as_str()).collect();
    let reads = groups.into_iter().map(|group| async move {
        let found = group_actions(queue, group, tasks).await;
        (group.to_owned(), found)
    });
    let mut out = BTreeMap::new();
    for (group, found) in futures_util::future::join_all(reads).await {
        out.insert(group, found?);
    }
    Ok(out)
}

async fn group_actions(
    queue: &QueueClient,
    group: &str,
    tasks: &[TaskSnapshot],
) -> Result<GroupActions, StepError> {
    // The decision task's id is its group's id.
    let decision = TaskId::new(group);
    let actions = match queue.latest_artifact(&decision, ACTIONS_ARTIFACT).await {
        Ok(value) => value,
        Err(QueueError::NotFound) => return Ok(GroupActions::Absent),
        // Unreachable: the job is retried; it must not fall back to the
        // queue for lack of an answer.
        Err(e @ QueueError::Unavailable { .. }) => return Err(e.into()),
        Err(e) => return Ok(GroupActions::Unusable(e.to_string())),
    };
    let actions = match serde_json::to_vec(&actions)
        .map_err(|e| e.to_string())
        .and_then(|bytes| parse_actions(&bytes).map_err(|e| e.to_string()))
    {
        Ok(actions) => actions,
        Err(message) => return Ok(GroupActions::Unusable(message)),
    };
    // The decision task's snapshot keeps its scopes among its provenance
    // fields; its full definition is read only when it was not listed.
    let listed = tasks
        .iter()
        .find(|t| t.task_id == decision)
        .and_then(|t| t.provenance.as_ref());
    let scopes = match listed {
        Some(fields) => scopes_of(fields),
        None => scopes_of(&queue.task(&decision).await?),
    };
    let decision_scopes = queue.expand_scopes(&scopes).await?;
    Ok(GroupActions::Published {
        actions,
        decision_scopes,
    })
}

fn scopes_of(definition: &Value) -> Vec<String> {
    definition
        .get("scopes")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
