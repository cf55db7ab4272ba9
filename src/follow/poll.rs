//! The polling source: due watches are claimed a batch at a time and every
//! resolved run recorded; open ones are looked at again after the poll
//! interval. A task group with many watched tasks in the batch is read with
//! `listTaskGroup` (one call per 1000 tasks); the others with one
//! `GET /task/<id>/status` per task (however many watches name it).

use super::{FollowEvent, Follower};
use crate::policy::task::TaskState;
use crate::store::{StoreError, Watch};
use crate::types::TaskId;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// What a status says about one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunState {
    pub state: TaskState,
    pub reason: Option<String>,
}

/// Run `run_id` of a task status, once it resolved.
pub fn resolved_run(status: &Value, run_id: u32) -> Option<RunState> {
    let run = status
        .get("runs")?
        .as_array()?
        .iter()
        .find(|r| r.get("runId").and_then(Value::as_u64) == Some(u64::from(run_id)))?;
    let state: TaskState = serde_json::from_value(run.get("state")?.clone()).ok()?;
    state.is_resolved().then(|| RunState {
        state,
        reason: run
            .get("reasonResolved")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Checks every due watch, batch by batch, until none is due.
pub async fn check_due(follower: &Follower) -> Result<(), StoreError> {
    loop {
        let batch = follower
            .store
            .claim_due_watches(follower.config.lease, follower.config.batch)
            .await?;
        if batch.watches.is_empty() {
            return Ok(());
        }
        let full = batch.watches.len() >= follower.config.batch;
        let mut by_task: BTreeMap<String, Vec<Watch>> = BTreeMap::new();
        for w in &batch.watches {
            by_task
                .entry(w.task_id.clone())
                .or_default()
                .push(w.clone());
        }
        let (listed, single) = split_by_group(&by_task, follower.config.list_group_from);
        let mut statuses = fetch(follower, single).await;
        statuses.extend(list_groups(follower, listed, &by_task).await);
        let mut still_open = Vec::new();
        for (task_id, watches) in by_task {
            let status = statuses.get(&task_id);
            for w in watches {
                let resolved = status.and_then(|s| resolved_run(s, w.run_id));
                match resolved {
                    Some(run) => {
                        record(follower, &w.task_id, w.run_id, &run, "poll").await?;
                    }
                    None => {
                        if w.task_group_id.is_empty() {
                            if let Some(group) = status
                                .and_then(|s| s.get("taskGroupId"))
                                .and_then(Value::as_str)
                            {
                                follower.store.set_watch_group(w.id, group).await?;
                            }
                        }
                        still_open.push(w.id);
                    }
                }
            }
        }
        follower
            .store
            .postpone_watches(&batch, &still_open, follower.config.poll_interval)
            .await?;
        if !full {
            return Ok(());
        }
    }
}

/// Records one resolution (from any source) and says so.
pub async fn record(
    follower: &Follower,
    task_id: &str,
    run_id: u32,
    run: &RunState,
    source: &'static str,
) -> Result<bool, StoreError> {
    let jobs = follower
        .store
        .resolve_run(task_id, run_id, run.state.as_str(), run.reason.as_deref())
        .await?;
    follower.metrics.follow_event(source, !jobs.is_empty());
    if jobs.is_empty() {
        return Ok(false);
    }
    // Actions of these jobs may wait on this run (see `waits`).
    follower.store.nudge_waits(&jobs).await?;
    tracing::info!(
        task_id,
        run_id,
        state = run.state.as_str(),
        source,
        "watched run resolved"
    );
    follower.emit(FollowEvent::Resolved {
        task_id: task_id.to_owned(),
        run_id,
        state: run.state.as_str().to_owned(),
        source,
    });
    Ok(true)
}

/// Groups with at least `from` watched tasks (read with listTaskGroup),
/// and the other tasks (read one by one).
fn split_by_group(
    by_task: &BTreeMap<String, Vec<Watch>>,
    from: usize,
) -> (Vec<String>, Vec<String>) {
    let mut groups: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (task, watches) in by_task {
        let group = watches.first().map_or("", |w| w.task_group_id.as_str());
        groups.entry(group).or_default().push(task);
    }
    let (mut listed, mut single) = (Vec::new(), Vec::new());
    for (group, tasks) in groups {
        if !group.is_empty() && tasks.len() >= from.max(2) {
            listed.push(group.to_owned());
        } else {
            single.extend(tasks.into_iter().cloned());
        }
    }
    (listed, single)
}

/// The statuses of the watched tasks of these groups, by task id.
/// listTaskGroup returns each task's full status, runs included; only the
/// watched ones are kept.
async fn list_groups(
    follower: &Follower,
    groups: Vec<String>,
    watched: &BTreeMap<String, Vec<Watch>>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let wanted = |id: &str| watched.contains_key(id);
    for group in groups {
        match follower
            .pipeline
            .queue()
            .list_task_group_statuses(&crate::types::TaskGroupId::new(group.as_str()), &wanted)
            .await
        {
            Ok(statuses) => out.extend(statuses),
            Err(e) => {
                tracing::warn!(task_group_id = group, error = %e, "follow: group unavailable")
            }
        }
    }
    out
}

/// The status of each task, read with bounded concurrency. A task whose
/// status cannot be read now is simply absent (looked at next time).
async fn fetch(follower: &Follower, tasks: Vec<String>) -> BTreeMap<String, Value> {
    let permits = Arc::new(Semaphore::new(follower.config.concurrency.max(1)));
    let mut running = JoinSet::new();
    for task in tasks {
        let queue = follower.pipeline.queue().clone();
        let permits = permits.clone();
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let status = queue.status(&TaskId::new(task.clone())).await;
            (task, status)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((task, Ok(status))) => {
                out.insert(task, status);
            }
            Ok((task, Err(e))) => {
                tracing::warn!(task_id = task, error = %e, "follow: status unavailable")
            }
            Err(e) => tracing::warn!(error = %e, "follow: status task failed"),
        }
    }
    out
}
