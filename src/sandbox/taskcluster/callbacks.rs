//! What an action task does when the sandbox worker runs it: the callback
//! named by its `ACTION_CALLBACK`, as taskgraph's `actions/retrigger.py`
//! and `cancel.py` do it, with the action task's own scopes (its
//! `assume:repo:…:action:…` scope expanded through the role table) —
//! never with the scopes of whoever triggered the hook.
//!
//! - `retrigger` / `retrigger-disabled`: `times` (default 1) copies of the
//!   target with new slugids in the same group, `created` now and
//!   `deadline`/`expires` (and payload artifact `expires`) moved by the same
//!   amount, `extra.parent` = the action task; refused unless the target is
//!   retriggerable (`tags.retrigger == "true"`) or `input.force` is true.
//!   With `downstream`, the tasks of the group that depend on the target
//!   (transitively) are copied too, each copy depending on the copies of
//!   its dependencies. The copies are listed in the action task's
//!   `public/task-graph.json`, keyed by taskId as taskgraph writes it
//!   (`{label, kind, task, dependencies: {<label>: <taskId>}, attributes,
//!   optimization, …}`).
//! - `retrigger-decision` (the decision/action/cron tasks' `retrigger`):
//!   one copy, which fails when the action's scopes do not cover the
//!   task's (taskgraph: "best-effort").
//! - `rerun`: reruns the target if it is `failed` or `exception`; otherwise
//!   does nothing (taskgraph logs "No need to rerun").
//! - `cancel`: cancels the target; a target past its deadline is left alone.
//! - `retrigger-multiple`: per request, retriggerable labels are copied
//!   `times` times, the others rerun.
//!
//! An error fails the action task; every callback writes what it did (or
//! why it failed) to `public/logs/live_backing.log`.

use super::action_task::{nice_slugid, ActionTask};
use super::roles::{expand, SandboxRole};
use super::state::{runs, state_of, strings, Caller, QueueData};
use super::worker::Resolution;
use crate::policy::task::TaskState;
use crate::taskcluster::timestamps::{format_timestamp, parse_timestamp};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The log artifact each callback writes.
pub const LOG: &str = "public/logs/live_backing.log";
/// The copies a retrigger made.
pub const TASK_GRAPH: &str = "public/task-graph.json";

struct Run<'a> {
    data: &'a mut QueueData,
    caller: Caller,
    action: ActionTask,
    now: DateTime<Utc>,
    log: Vec<String>,
    graph: Map<String, Value>,
    resolutions: Vec<Resolution>,
}

/// Carries out the callback of action task `task_id`. `Ok` holds the runs
/// it resolved (a cancel), for Pulse; `Err` says why the action failed.
pub(crate) fn run(
    data: &mut QueueData,
    roles: &[SandboxRole],
    task_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Resolution>, String> {
    let Some(def) = data.get(task_id).map(|t| t.definition.clone()) else {
        return Err(format!("action task {task_id} is gone"));
    };
    let Some(action) = ActionTask::read(task_id, &def) else {
        return Err(format!("{task_id} is not an action task"));
    };
    let caller = Caller {
        client_id: format!("task-client/{task_id}/0/on/sandbox/sandbox-worker"),
        scopes: expand(&strings(&def, "scopes"), roles),
    };
    let mut run = Run {
        data,
        caller,
        action,
        now,
        log: Vec::new(),
        graph: Map::new(),
        resolutions: Vec::new(),
    };
    let outcome = run.callback();
    if let Err(e) = &outcome {
        run.log.push(format!("ERROR: {e}"));
    }
    let log = run.log.join("\n") + "\n";
    run.data
        .put_artifact(task_id, LOG, "text/plain; charset=utf-8", log.into_bytes());
    if matches!(
        run.action.callback.as_str(),
        "retrigger" | "retrigger-disabled" | "retrigger-multiple"
    ) && outcome.is_ok()
    {
        let graph = Value::Object(std::mem::take(&mut run.graph));
        run.data.put_json_artifact(task_id, TASK_GRAPH, &graph);
    }
    outcome.map(|()| run.resolutions)
}

fn label(def: &Value) -> String {
    def.pointer("/metadata/name")
        .or_else(|| def.pointer("/tags/label"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn retriggerable(def: &Value) -> bool {
    def.pointer("/tags/retrigger").and_then(Value::as_str) == Some("true")
}

/// `t` moved by `shift`, if it is a timestamp.
fn shifted(t: &Value, shift: chrono::Duration) -> Option<Value> {
    let at = parse_timestamp(t.as_str()?)?;
    Some(json!(format_timestamp(at + shift)))
}

impl Run<'_> {
    fn target(&self) -> Result<String, String> {
        self.action
            .target
            .clone()
            .ok_or_else(|| format!("{} needs a task", self.action.callback))
    }

    fn callback(&mut self) -> Result<(), String> {
        let input = self.action.input.clone();
        match self.action.callback.as_str() {
            "retrigger" | "retrigger-disabled" => {
                let target = self.target()?;
                let times = input.get("times").and_then(Value::as_u64).unwrap_or(1);
                let force = input.get("force").and_then(Value::as_bool) == Some(true);
                let def = self.definition(&target)?;
                if !force && !retriggerable(&def) {
                    return Err(format!("Not retriggering task {}, task should not be retrigged and force not specified.", label(&def)));
                }
                let to_run = if input.get("downstream").and_then(Value::as_bool) == Some(true) {
                    self.with_dependents(&target)
                } else {
                    vec![target]
                };
                for _ in 0..times {
                    self.copy_all(&to_run)?;
                }
                Ok(())
            }
            "retrigger-decision" => {
                let target = self.target()?;
                self.copy_all(&[target])
            }
            "rerun" => self.rerun(&self.target()?),
            "cancel" => self.cancel(&self.target()?),
            "retrigger-multiple" => {
                let requests = input.get("requests").and_then(Value::as_array);
                for request in requests.cloned().unwrap_or_default() {
                    let times = request.get("times").and_then(Value::as_u64).unwrap_or(1);
                    for wanted in strings(&request, "tasks") {
                        let (id, def) = self.by_label(&wanted)?;
                        if !retriggerable(&def) {
                            self.rerun(&id)?;
                            continue;
                        }
                        for _ in 0..times {
                            self.copy_all(std::slice::from_ref(&id))?;
                        }
                    }
                }
                Ok(())
            }
            other => Err(format!(
                "Unknown callback: {other}. Known callbacks: retrigger-decision, retrigger, retrigger-disabled, rerun, cancel, retrigger-multiple"
            )),
        }
    }

    fn definition(&self, task_id: &str) -> Result<Value, String> {
        self.data
            .get(task_id)
            .map(|t| t.definition.clone())
            .ok_or_else(|| format!("task {task_id} not found"))
    }

    fn by_label(&self, wanted: &str) -> Result<(String, Value), String> {
        self.data
            .group(&self.action.task_group_id)
            .into_iter()
            .find(|(_, t)| label(&t.definition) == wanted)
            .map(|(id, t)| (id.clone(), t.definition.clone()))
            .ok_or_else(|| format!("KeyError: '{wanted}' is not in the task graph"))
    }

    /// `target` and every task of the action's group that depends on it,
    /// transitively, each after the ones of the set it depends on.
    fn with_dependents(&self, target: &str) -> Vec<String> {
        let group: Vec<(String, Vec<String>)> = self
            .data
            .group(&self.action.task_group_id)
            .into_iter()
            .map(|(id, t)| (id.clone(), strings(&t.definition, "dependencies")))
            .collect();
        let mut set = vec![target.to_owned()];
        while let Some((id, _)) = group
            .iter()
            .find(|(id, deps)| !set.contains(id) && deps.iter().any(|d| set.contains(d)))
        {
            set.push(id.clone());
        }
        let mut ordered: Vec<String> = Vec::new();
        while ordered.len() < set.len() {
            let Some(next) = set.iter().find(|id| {
                !ordered.contains(id)
                    && group
                        .iter()
                        .find(|(g, _)| g == *id)
                        .is_none_or(|(_, deps)| {
                            deps.iter().all(|d| !set.contains(d) || ordered.contains(d))
                        })
            }) else {
                break;
            };
            ordered.push(next.clone());
        }
        ordered
    }

    /// One copy of each task of `ids` (in order); a copy depends on the
    /// copies made here of its dependencies, as taskgraph rewires them.
    fn copy_all(&mut self, ids: &[String]) -> Result<(), String> {
        let mut made: HashMap<String, String> = HashMap::new();
        for id in ids {
            let def = self.definition(id)?;
            let new_id = self.copy(id, &def, &made)?;
            made.insert(id.clone(), new_id);
        }
        Ok(())
    }

    fn copy(
        &mut self,
        source: &str,
        def: &Value,
        made: &HashMap<String, String>,
    ) -> Result<String, String> {
        if !def.is_object() {
            return Err(format!("task {source} has no definition object"));
        }
        let mut copy = def.clone();
        let dependencies: Vec<String> = strings(def, "dependencies")
            .into_iter()
            .map(|d| made.get(&d).cloned().unwrap_or(d))
            .collect();
        copy["dependencies"] = json!(dependencies);
        let created = def
            .get("created")
            .and_then(Value::as_str)
            .and_then(parse_timestamp)
            .unwrap_or(self.now);
        let shift = self.now - created;
        copy["created"] = json!(format_timestamp(self.now));
        for key in ["deadline", "expires"] {
            if let Some(t) = def.get(key).and_then(|t| shifted(t, shift)) {
                copy[key] = t;
            }
        }
        if let Some(Value::Object(artifacts)) = copy.pointer_mut("/payload/artifacts") {
            for artifact in artifacts.values_mut() {
                if let Some(t) = artifact.get("expires").and_then(|t| shifted(t, shift)) {
                    artifact["expires"] = t;
                }
            }
        }
        if !copy.get("extra").is_some_and(Value::is_object) {
            copy["extra"] = json!({});
        }
        copy["extra"]["parent"] = json!(self.action.task_id);
        let id = nice_slugid();
        let reply = self.data.create(&id, &copy, &self.caller, self.now);
        if reply.status >= 300 {
            return Err(format!(
                "createTask {id} (copy of {source}): {}",
                reply.body["message"].as_str().unwrap_or_default()
            ));
        }
        let dependencies: Map<String, Value> = dependencies
            .into_iter()
            .map(|d| {
                let name = self
                    .data
                    .get(&d)
                    .map(|t| label(&t.definition))
                    .unwrap_or_else(|| d.clone());
                (name, json!(d))
            })
            .collect();
        let name = label(def);
        self.log
            .push(format!("Created {id} ({name}), a copy of {source}"));
        self.graph.insert(
            id.clone(),
            json!({
                "kind": def.pointer("/tags/kind").cloned().unwrap_or(Value::Null),
                "label": name,
                "attributes": {"retrigger": retriggerable(def)},
                "optimization": null,
                "task": copy,
                "dependencies": dependencies,
                "soft_dependencies": [],
                "if_dependencies": [],
            }),
        );
        Ok(id)
    }

    fn rerun(&mut self, task_id: &str) -> Result<(), String> {
        let state = self
            .data
            .get(task_id)
            .map(|t| state_of(&t.status))
            .ok_or_else(|| format!("task {task_id} not found"))?;
        if !matches!(state, TaskState::Failed | TaskState::Exception) {
            self.log.push(format!(
                "No need to rerun {task_id}: state '{}' not in ('exception', 'failed')!",
                state.as_str()
            ));
            return Ok(());
        }
        let reply = self.data.rerun(task_id, &self.caller, self.now);
        if reply.status >= 300 {
            return Err(format!(
                "rerunTask {task_id}: {}",
                reply.body["message"].as_str().unwrap_or_default()
            ));
        }
        self.log.push(format!("Reran {task_id}"));
        Ok(())
    }

    fn cancel(&mut self, task_id: &str) -> Result<(), String> {
        let before = self.data.get(task_id).map(|t| state_of(&t.status));
        let reply = self.data.cancel(task_id, &self.caller, self.now);
        match reply.status {
            409 => {
                self.log
                    .push(format!("Task {task_id} is past its deadline; not canceled"));
                return Ok(());
            }
            s if s >= 300 => {
                return Err(format!(
                    "cancelTask {task_id}: {}",
                    reply.body["message"].as_str().unwrap_or_default()
                ))
            }
            _ => {}
        }
        self.log.push(format!("Canceled {task_id}"));
        let Some(task) = self.data.get(task_id) else {
            return Ok(());
        };
        let was_open = matches!(
            before,
            Some(TaskState::Unscheduled | TaskState::Pending | TaskState::Running)
        );
        if was_open && state_of(&task.status) == TaskState::Exception {
            let run_id = runs(&task.status).len().saturating_sub(1);
            self.resolutions.push(Resolution {
                task_id: task_id.to_owned(),
                task_group_id: task.status["taskGroupId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                run_id: u32::try_from(run_id).unwrap_or(0),
                state: TaskState::Exception,
            });
        }
        Ok(())
    }
}
