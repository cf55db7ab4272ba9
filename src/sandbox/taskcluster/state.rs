//! The sandbox queue's data and the queue's rules for each call, as pure
//! functions over that data (the HTTP layer does auth and routing).
//!
//! Error texts follow services/queue/src/api.js so the client's
//! classification is exercised against the real wording.

use super::scopes::{authorize, ScopeExpr};
use crate::policy::task::TaskState;
use crate::taskcluster::timestamps::{format_timestamp, parse_timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The queue's limit on runs per task.
pub const MAX_RUNS_ALLOWED: usize = 50;
const PRIORITY_LEVELS: [&str; 7] = [
    "highest",
    "very-high",
    "high",
    "medium",
    "low",
    "very-low",
    "lowest",
];

/// One task: its definition and its status, both as the queue returns them.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub definition: Value,
    pub status: Value,
    pub(super) seq: u64,
}

/// Every task the sandbox queue knows.
#[derive(Debug, Default)]
pub struct QueueData {
    pub(super) tasks: BTreeMap<String, TaskRecord>,
    /// Artifacts by taskId, then name (see `artifacts`).
    pub(super) artifacts: BTreeMap<String, BTreeMap<String, super::artifacts::Artifact>>,
    next_seq: u64,
}

/// An HTTP answer: status code and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply { status: 200, body }
    }
}

/// A Taskcluster error body: `{code, message, requestInfo}`, the message
/// followed by the `---` trailer taskcluster-lib-api appends.
pub fn error_reply(
    status: u16,
    code: &str,
    method: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Reply {
    let time = format_timestamp(now);
    Reply {
        status,
        body: json!({
            "code": code,
            "message": format!(
                "{message}\n\n---\n\n* method:     {method}\n* errorCode:  {code}\n* statusCode: {status}\n* time:       {time}"
            ),
            "requestInfo": { "method": method, "params": {}, "payload": {}, "time": time },
        }),
    }
}

/// The caller, after authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<String>,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub(super) fn runs(status: &Value) -> &[Value] {
    status
        .get("runs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The runs array, created when missing. `None` only if `status` is not an
/// object, which `insert` never stores.
pub(super) fn runs_mut(status: &mut Value) -> Option<&mut Vec<Value>> {
    if !status.get("runs").is_some_and(Value::is_array) {
        status.as_object_mut()?.insert("runs".into(), json!([]));
    }
    status.get_mut("runs").and_then(Value::as_array_mut)
}

fn internal(method: &str, now: DateTime<Utc>) -> Reply {
    error_reply(
        500,
        "InternalServerError",
        method,
        "task status is not an object",
        now,
    )
}

/// The task's state: the last run's, or `unscheduled` without runs.
pub fn state_of(status: &Value) -> TaskState {
    runs(status)
        .last()
        .and_then(|r| serde_json::from_value(r.get("state").cloned().unwrap_or_default()).ok())
        .unwrap_or(TaskState::Unscheduled)
}

pub(super) fn refresh_state(status: &mut Value) {
    let state = state_of(status);
    status["state"] = json!(state.as_str());
}

/// Fills the fields a status carries from the definition.
fn status_from_definition(task_id: &str, def: &Value, runs: Vec<Value>) -> Value {
    let mut status = json!({
        "taskId": task_id,
        "provisionerId": text(def, "provisionerId"),
        "workerType": text(def, "workerType"),
        "taskQueueId": text(def, "taskQueueId"),
        "schedulerId": text(def, "schedulerId"),
        "projectId": text(def, "projectId"),
        "taskGroupId": text(def, "taskGroupId"),
        "deadline": text(def, "deadline"),
        "expires": text(def, "expires"),
        "retriesLeft": def.get("retries").and_then(Value::as_u64).unwrap_or(5),
        "runs": runs,
    });
    refresh_state(&mut status);
    status
}

/// Fills the defaults the queue fills, so a stored definition compares equal
/// to a re-sent one (createTask idempotency).
fn normalize_definition(task_id: &str, def: &mut Map<String, Value>) -> Result<(), String> {
    let s = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    match (
        s(def, "provisionerId"),
        s(def, "workerType"),
        s(def, "taskQueueId"),
    ) {
        (Some(p), Some(w), Some(q)) if format!("{p}/{w}") != q => {
            return Err("taskQueueId must match \"provisionerId/workerType\"".to_owned())
        }
        (Some(p), Some(w), _) => {
            def.insert("taskQueueId".into(), json!(format!("{p}/{w}")));
        }
        (_, _, Some(q)) => {
            let (p, w) = q
                .split_once('/')
                .ok_or("taskQueueId must be provisionerId/workerType")?;
            def.insert("provisionerId".into(), json!(p));
            def.insert("workerType".into(), json!(w));
        }
        _ => {
            return Err(
                "at least a provisionerId and a workerType or a taskQueueId must be provided\""
                    .to_owned(),
            )
        }
    }
    def.entry("taskGroupId").or_insert_with(|| json!(task_id));
    def.entry("projectId").or_insert_with(|| json!("none"));
    def.entry("schedulerId").or_insert_with(|| json!("-"));
    def.entry("scopes").or_insert_with(|| json!([]));
    def.entry("routes").or_insert_with(|| json!([]));
    def.entry("dependencies").or_insert_with(|| json!([]));
    def.entry("retries").or_insert_with(|| json!(5));
    if def
        .get("priority")
        .and_then(Value::as_str)
        .is_none_or(|p| p == "normal")
    {
        def.insert("priority".into(), json!("lowest"));
    }
    for key in ["created", "deadline", "expires"] {
        if let Some(t) = s(def, key).as_deref().and_then(parse_timestamp) {
            def.insert(key.into(), json!(format_timestamp(t)));
        }
    }
    Ok(())
}

pub(super) fn strings(def: &Value, key: &str) -> Vec<String> {
    def.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn scope(s: String) -> ScopeExpr {
    ScopeExpr::Scope(s)
}

/// The scopes createTask requires for `def` (services/queue createTask).
fn create_task_scopes(def: &Value) -> ScopeExpr {
    let mut all: Vec<ScopeExpr> = strings(def, "scopes").into_iter().map(scope).collect();
    all.extend(
        strings(def, "routes")
            .into_iter()
            .map(|r| scope(format!("queue:route:{r}"))),
    );
    all.push(scope(format!(
        "queue:create-task:project:{}",
        text(def, "projectId")
    )));
    all.push(scope(format!(
        "queue:scheduler-id:{}",
        text(def, "schedulerId")
    )));
    let priority = text(def, "priority");
    let upto = PRIORITY_LEVELS
        .iter()
        .position(|p| *p == priority)
        .unwrap_or(PRIORITY_LEVELS.len() - 1);
    all.push(ScopeExpr::AnyOf(
        PRIORITY_LEVELS[..=upto]
            .iter()
            .map(|p| {
                scope(format!(
                    "queue:create-task:{p}:{}",
                    text(def, "taskQueueId")
                ))
            })
            .collect(),
    ));
    ScopeExpr::AllOf(all)
}

/// rerunTask / cancelTask scopes.
fn task_action_scopes(action: &str, task_id: &str, def: &Value) -> ScopeExpr {
    ScopeExpr::AnyOf(vec![
        scope(format!(
            "queue:{action}-task:{}/{}/{task_id}",
            text(def, "schedulerId"),
            text(def, "taskGroupId")
        )),
        scope(format!(
            "queue:{action}-task-in-project:{}",
            text(def, "projectId")
        )),
    ])
}

impl QueueData {
    /// Adds or replaces a task. Missing status fields are filled from the
    /// definition; `state` is recomputed from the runs.
    pub fn insert(&mut self, task_id: &str, definition: Value, status: Value) {
        let mut full = status_from_definition(task_id, &definition, runs(&status).to_vec());
        if let (Some(full_map), Some(given)) = (full.as_object_mut(), status.as_object()) {
            for (k, v) in given {
                if k != "state" && k != "runs" {
                    full_map.insert(k.clone(), v.clone());
                }
            }
        }
        refresh_state(&mut full);
        let seq = match self.tasks.get(task_id) {
            Some(existing) => existing.seq,
            None => {
                self.next_seq += 1;
                self.next_seq
            }
        };
        self.tasks.insert(
            task_id.to_owned(),
            TaskRecord {
                definition,
                status: full,
                seq,
            },
        );
    }

    pub fn get(&self, task_id: &str) -> Option<&TaskRecord> {
        self.tasks.get(task_id)
    }

    /// Tasks of a group in insertion order.
    pub fn group(&self, group_id: &str) -> Vec<(&String, &TaskRecord)> {
        let mut tasks: Vec<_> = self
            .tasks
            .iter()
            .filter(|(_, t)| text(&t.status, "taskGroupId") == group_id)
            .collect();
        tasks.sort_by_key(|(_, t)| t.seq);
        tasks
    }

    fn not_found(task_id: &str, method: &str, now: DateTime<Utc>) -> Reply {
        error_reply(
            404,
            "ResourceNotFound",
            method,
            &format!("`{task_id}` does not correspond to a task that exists.\nAre you sure this task has been submitted before?"),
            now,
        )
    }

    pub fn get_task(&self, task_id: &str, now: DateTime<Utc>) -> Reply {
        match self.tasks.get(task_id) {
            Some(t) => Reply::ok(t.definition.clone()),
            None => Self::not_found(task_id, "task", now),
        }
    }

    pub fn get_status(&self, task_id: &str, now: DateTime<Utc>) -> Reply {
        match self.tasks.get(task_id) {
            Some(t) => Reply::ok(json!({ "status": t.status })),
            None => Self::not_found(task_id, "status", now),
        }
    }

    /// One page of `listDependentTasks`: the tasks, in any group, whose
    /// `dependencies` name `task_id`. The token is an opaque offset.
    pub fn list_dependents(
        &self,
        task_id: &str,
        token: Option<&str>,
        page_size: usize,
        now: DateTime<Utc>,
    ) -> Reply {
        if !self.tasks.contains_key(task_id) {
            return Self::not_found(task_id, "listDependentTasks", now);
        }
        let mut dependents: Vec<&TaskRecord> = self
            .tasks
            .values()
            .filter(|t| {
                t.definition
                    .get("dependencies")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|x| x.as_str() == Some(task_id)))
            })
            .collect();
        dependents.sort_by_key(|t| t.seq);
        let offset = match token.map(decode_token) {
            None => 0,
            Some(Some(o)) => o,
            Some(None) => {
                return error_reply(
                    400,
                    "InputError",
                    "listDependentTasks",
                    "Invalid continuationToken",
                    now,
                )
            }
        };
        let size = page_size.max(1);
        let page: Vec<Value> = dependents
            .iter()
            .skip(offset)
            .take(size)
            .map(|t| json!({ "status": t.status, "task": t.definition }))
            .collect();
        let mut body = json!({ "taskId": task_id, "tasks": page });
        if offset + size < dependents.len() {
            body["continuationToken"] =
                json!(URL_SAFE_NO_PAD.encode(format!("offset:{}", offset + size)));
        }
        Reply::ok(body)
    }

    /// One page of `listTaskGroup`. The token is an opaque offset.
    pub fn list_group(
        &self,
        group_id: &str,
        token: Option<&str>,
        limit: Option<usize>,
        page_size: usize,
        now: DateTime<Utc>,
    ) -> Reply {
        let tasks = self.group(group_id);
        if tasks.is_empty() {
            return error_reply(
                404,
                "ResourceNotFound",
                "listTaskGroup",
                &format!("No task-group with taskGroupId: `{group_id}`"),
                now,
            );
        }
        let offset = match token {
            None => 0,
            Some(t) => match decode_token(t) {
                Some(o) => o,
                None => {
                    return error_reply(
                        400,
                        "InputError",
                        "listTaskGroup",
                        "Invalid continuationToken",
                        now,
                    )
                }
            },
        };
        let size = limit.unwrap_or(page_size).clamp(1, page_size.max(1));
        let page: Vec<Value> = tasks
            .iter()
            .skip(offset)
            .take(size)
            .map(|(_, t)| json!({ "status": t.status, "task": t.definition }))
            .collect();
        let mut body = json!({ "taskGroupId": group_id, "tasks": page });
        if offset + size < tasks.len() {
            body["continuationToken"] =
                json!(URL_SAFE_NO_PAD.encode(format!("offset:{}", offset + size)));
        }
        Reply::ok(body)
    }

    pub fn rerun(&mut self, task_id: &str, caller: &Caller, now: DateTime<Utc>) -> Reply {
        let method = "rerunTask";
        let Some(task) = self.tasks.get_mut(task_id) else {
            return Self::not_found(task_id, method, now);
        };
        if let Err(m) = authorize(
            &caller.client_id,
            &caller.scopes,
            &task_action_scopes("rerun", task_id, &task.definition),
        ) {
            return error_reply(403, "InsufficientScopes", method, &m, now);
        }
        if let Some(r) = past_deadline(task, task_id, "rescheduled", method, now) {
            return r;
        }
        let state = state_of(&task.status);
        if matches!(state, TaskState::Pending | TaskState::Running) {
            return Reply::ok(json!({ "status": task.status }));
        }
        let Some(runs) = runs_mut(&mut task.status) else {
            return internal(method, now);
        };
        if runs.len() >= MAX_RUNS_ALLOWED {
            return error_reply(
                409,
                "RequestConflict",
                method,
                &format!("Maximum number of runs reached ({MAX_RUNS_ALLOWED})."),
                now,
            );
        }
        let run_id = runs.len();
        runs.push(json!({
            "runId": run_id,
            "state": "pending",
            "reasonCreated": "rerun",
            "scheduled": format_timestamp(now),
        }));
        refresh_state(&mut task.status);
        Reply::ok(json!({ "status": task.status }))
    }

    pub fn cancel(&mut self, task_id: &str, caller: &Caller, now: DateTime<Utc>) -> Reply {
        let method = "cancelTask";
        let Some(task) = self.tasks.get_mut(task_id) else {
            return error_reply(
                404,
                "ResourceNotFound",
                method,
                &format!("Task `{task_id}` not found. Are you sure it was created?"),
                now,
            );
        };
        if let Err(m) = authorize(
            &caller.client_id,
            &caller.scopes,
            &task_action_scopes("cancel", task_id, &task.definition),
        ) {
            return error_reply(403, "InsufficientScopes", method, &m, now);
        }
        if let Some(r) = past_deadline(task, task_id, "canceled", method, now) {
            return r;
        }
        let stamp = format_timestamp(now);
        match state_of(&task.status) {
            TaskState::Unscheduled => {
                let Some(runs) = runs_mut(&mut task.status) else {
                    return internal(method, now);
                };
                runs.push(json!({
                    "runId": runs.len(),
                    "state": "exception",
                    "reasonCreated": "exception",
                    "reasonResolved": "canceled",
                    "scheduled": stamp,
                    "resolved": stamp,
                }));
            }
            TaskState::Pending | TaskState::Running => {
                if let Some(Value::Object(run)) =
                    runs_mut(&mut task.status).and_then(|r| r.last_mut())
                {
                    run.insert("state".into(), json!("exception"));
                    run.insert("reasonResolved".into(), json!("canceled"));
                    run.insert("resolved".into(), json!(stamp));
                }
            }
            _ => {}
        }
        refresh_state(&mut task.status);
        Reply::ok(json!({ "status": task.status }))
    }

    pub fn create(
        &mut self,
        task_id: &str,
        body: &Value,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Reply {
        let method = "createTask";
        let input = |m: &str| error_reply(400, "InputError", method, m, now);
        let Some(mut def) = body.as_object().cloned() else {
            return input("the task definition must be a JSON object");
        };
        if let Err(m) = normalize_definition(task_id, &mut def) {
            return input(&m);
        }
        let def = Value::Object(def);
        if let Err(m) = authorize(&caller.client_id, &caller.scopes, &create_task_scopes(&def)) {
            return error_reply(403, "InsufficientScopes", method, &m, now);
        }
        let time = |k: &str| parse_timestamp(text(&def, k));
        let (Some(created), Some(deadline)) = (time("created"), time("deadline")) else {
            return input("`created` and `deadline` must be date-time strings");
        };
        let drift = Duration::minutes(15);
        if created < now - drift {
            return input("`created` cannot be in the past (max 15min drift)");
        }
        if created > now + drift {
            return input("`created` cannot be in the future (max 15min drift)");
        }
        if created > deadline {
            return input("`deadline` cannot be later than `created`");
        }
        if deadline < now {
            return input("`deadline` cannot be in the past");
        }
        if let Some(existing) = self.tasks.get(task_id) {
            if existing.definition == def {
                return Reply::ok(json!({ "status": existing.status }));
            }
            return error_reply(
                409,
                "RequestConflict",
                method,
                &format!("taskId `{task_id}` already used by another task.\nThis could be the result of faulty idempotency!"),
                now,
            );
        }
        let deps = strings(&def, "dependencies");
        let missing: Vec<&String> = deps
            .iter()
            .filter(|d| !self.tasks.contains_key(*d))
            .collect();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|d| format!("  * {d}")).collect();
            return input(&format!("`task.dependencies` references non-existing tasks:\n{}\nAll taskIds in `task.dependencies` **must** exist before the task is created.", list.join("\n")));
        }
        let ready = deps.iter().all(|d| {
            self.tasks
                .get(d)
                .is_some_and(|t| state_of(&t.status) == TaskState::Completed)
        });
        let runs = if ready {
            vec![
                json!({"runId": 0, "state": "pending", "reasonCreated": "scheduled", "scheduled": format_timestamp(now)}),
            ]
        } else {
            Vec::new()
        };
        let status = status_from_definition(task_id, &def, runs);
        self.insert(task_id, def, status.clone());
        Reply::ok(json!({ "status": status }))
    }
}

fn past_deadline(
    task: &TaskRecord,
    task_id: &str,
    verb: &str,
    method: &str,
    now: DateTime<Utc>,
) -> Option<Reply> {
    let deadline = parse_timestamp(text(&task.definition, "deadline"))?;
    (deadline < now).then(|| {
        error_reply(
            409,
            "RequestConflict",
            method,
            &format!(
                "Task `{task_id}` can't be {verb} past its deadline of {}.",
                format_timestamp(deadline)
            ),
            now,
        )
    })
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}
