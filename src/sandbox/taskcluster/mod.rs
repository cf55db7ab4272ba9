//! A stateful stand-in for the Taskcluster queue, on loopback, for tests and
//! `demo`: task groups, states and runs, deadlines, the 50-run limit,
//! idempotent createTask, cancel, scope checks, Hawk verification (path +
//! query), small pages with continuation tokens, and fault injection.
//!
//! `authorizedScopes` in Hawk `ext` must lie within the caller's scopes
//! (else 401) and then replace them; both are expanded through a role
//! table (`assume:` scopes), as the auth service does.
//!
//! Temporary credentials: a certificate in Hawk `ext` is verified against
//! its issuer (a configured client) and the MAC checked with the derived
//! temporary token, as the auth service does; [`certificate::issue`] makes
//! such credentials. Nonces are not tracked.
//! createTask checks the task's scopes, `queue:route:<route>`, project,
//! scheduler and priority scopes; rerun/cancel check
//! `queue:<action>-task:<schedulerId>/<taskGroupId>/<taskId>` or the
//! project form, as the real queue does.
//!
//! Time: the sandbox judges deadlines and `created` drift against the real
//! clock. Fixtures carry fixed dates; seed them with [`SandboxQueue::seed_fixture`]
//! (or call [`crate::taskcluster::rebase_times`] first) so their deadlines
//! lie in the future, except those that were already past in the fixture.

pub mod action_task;
pub mod artifacts;
pub mod auth;
mod callbacks;
pub mod certificate;
mod control;
pub mod fixtures;
pub mod hooks;
mod http;
pub mod json_schema;
pub mod pulse;
pub mod roles;
pub mod scopes;
pub mod state;
pub mod worker;

use crate::policy::task::TaskState;
use crate::taskcluster::timestamps::rebase_times;
use chrono::Utc;
use serde_json::Value;
use state::QueueData;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// A client the sandbox accepts: Hawk id, key, and the scopes it holds
/// (a trailing `*` matches any suffix).
#[derive(Clone)]
pub struct SandboxClient {
    pub client_id: String,
    pub access_token: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for SandboxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxClient")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// How the sandbox queue behaves.
#[derive(Debug, Clone)]
pub struct SandboxQueueConfig {
    pub clients: Vec<SandboxClient>,
    /// Scopes of unauthenticated callers (the real queue: none needed for
    /// reads, which need no scopes anyway).
    pub anonymous_scopes: Vec<String>,
    /// listTaskGroup page size (the real queue: up to 1000).
    pub page_size: usize,
    /// The auth service's roles: `assume:` scopes of clients and of a
    /// request's `authorizedScopes` expand through them.
    pub roles: Vec<roles::SandboxRole>,
    /// The hooks service's hooks ([`hooks`]).
    pub hooks: Vec<hooks::SandboxHook>,
}

/// The role of the sandbox's repository, `mozilla/gecko-dev`: what its
/// decision tasks may do (its schedulers and the fixtures' task scopes).
/// Another repository's tasks are out of its reach.
pub fn gecko_dev_role() -> roles::SandboxRole {
    roles::SandboxRole::new(
        "repo:github.com/mozilla/gecko-dev:*",
        &[
            "queue:rerun-task:gecko-level-*",
            "queue:cancel-task:gecko-level-*",
            "queue:scheduler-id:gecko-level-*",
            "queue:create-task:*",
            "queue:route:*",
            "project:releng:*",
            "secrets:get:*",
            "docker-worker:*",
            "generic-worker:*",
        ],
    )
}

impl Default for SandboxQueueConfig {
    /// One client, `rerunbot` / `sandbox-access-token`, holding the queue
    /// scopes rerunbot needs (`queue:*`) and the test tasks' own scopes
    /// (`secrets:get:*`, `docker-worker:*`, `generic-worker:*`) but no
    /// signing or release scope (`project:releng:*`: release copies are made
    /// by the repository's action tasks), the `assume:repo:`
    /// scopes behind `authorizedScopes` and `hooks:trigger-hook:` for
    /// gecko's in-tree action hooks; the roles of [`roles::gecko_roles`];
    /// the hooks of [`hooks::gecko_action_hooks`].
    fn default() -> Self {
        Self {
            clients: vec![SandboxClient {
                client_id: "rerunbot".to_owned(),
                access_token: "sandbox-access-token".to_owned(),
                scopes: [
                    "queue:*",
                    "secrets:get:*",
                    "docker-worker:*",
                    "generic-worker:*",
                    "assume:repo:github.com/*",
                    "hooks:trigger-hook:project-gecko/in-tree-action-*",
                ]
                .map(str::to_owned)
                .to_vec(),
            }],
            anonymous_scopes: Vec::new(),
            page_size: 3,
            roles: roles::gecko_roles(),
            hooks: hooks::gecko_action_hooks(),
        }
    }
}

/// One request the sandbox received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The authenticated client, `None` when anonymous or rejected.
    pub client_id: Option<String>,
    /// The certificate carried in Hawk `ext`, if any.
    pub certificate: Option<Value>,
    /// The `authorizedScopes` carried in Hawk `ext`, if any.
    pub authorized_scopes: Option<Value>,
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
    /// Answered by an injected failure (nothing was done).
    pub injected: bool,
    /// When the request arrived (before the injected latency).
    pub at: std::time::Instant,
}

pub(crate) struct Inner {
    config: SandboxQueueConfig,
    data: QueueData,
    calls: Vec<RecordedCall>,
    fail_next: u32,
    fail_status: u16,
    /// Only requests with this method (e.g. "POST") fail, when set.
    fail_method: Option<String>,
    latency: Duration,
    /// Every request is answered 503 until then (an outage).
    down_until: Option<tokio::time::Instant>,
    /// The next request with this method is carried out, then answered
    /// with this status: the queue did the work, the answer was lost.
    lose_answer: Option<(String, u16)>,
    /// The hooks service's triggers and faults.
    hooks: hooks::HooksState,
    /// Action task callbacks the worker holds back (test control).
    held_callbacks: HashSet<String>,
}

impl Inner {
    fn take_lost_answer(&mut self, method: &str) -> Option<u16> {
        let (wanted, _) = self.lose_answer.as_ref()?;
        if !wanted.eq_ignore_ascii_case(method) {
            return None;
        }
        self.lose_answer.take().map(|(_, status)| status)
    }

    fn take_injected_failure(&mut self, method: &str) -> Option<u16> {
        if self
            .down_until
            .is_some_and(|until| tokio::time::Instant::now() < until)
        {
            return Some(503);
        }
        let applies = self
            .fail_method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        (self.fail_next > 0 && applies).then(|| {
            self.fail_next -= 1;
            self.fail_status
        })
    }
}

#[derive(Clone)]
pub(crate) struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data; keep serving.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running sandbox queue. Stops when dropped or on [`Self::shutdown`].
pub struct SandboxQueue {
    addr: SocketAddr,
    shared: Shared,
    resolved: broadcast::Sender<worker::Resolution>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl SandboxQueue {
    /// Binds `127.0.0.1:0` and serves the queue API under `/api/queue/v1`.
    pub async fn start(config: SandboxQueueConfig) -> std::io::Result<SandboxQueue> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Shared(Arc::new(Mutex::new(Inner {
            config,
            data: QueueData::default(),
            calls: Vec::new(),
            fail_next: 0,
            fail_method: None,
            fail_status: 500,
            latency: Duration::ZERO,
            down_until: None,
            lose_answer: None,
            hooks: hooks::HooksState::default(),
            held_callbacks: HashSet::new(),
        })));
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "sandbox queue stopped with an error");
            }
        });
        Ok(SandboxQueue {
            addr,
            shared,
            resolved: broadcast::channel(1024).0,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The root URL (`http://127.0.0.1:<port>`); the API is under
    /// `<root>/api/queue/v1`.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Seeds every `{status, task}` entry of a listTaskGroup-shaped JSON,
    /// as given (no time shifting). Returns how many tasks were added.
    pub fn add_task_group_from_list(&self, list: &Value) -> usize {
        let entries = list
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut inner = self.shared.lock();
        let mut added = 0;
        for entry in entries {
            let status = entry.get("status").cloned().unwrap_or_default();
            let Some(task_id) = status
                .get("taskId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            let task = entry.get("task").cloned().unwrap_or_default();
            inner.data.insert(&task_id, task, status);
            added += 1;
        }
        added
    }

    /// Rebases a fixture's times to now ([`rebase_times`]) and seeds it.
    pub fn seed_fixture(&self, list: &Value) -> usize {
        let mut list = list.clone();
        rebase_times(&mut list, Utc::now());
        self.add_task_group_from_list(&list)
    }

    /// Adds (or replaces) one task. `status` may be partial (`{"runs": []}`):
    /// missing fields come from the definition, `state` from the runs.
    pub fn add_task(&self, task_id: &str, definition: Value, status: Value) {
        self.shared.lock().data.insert(task_id, definition, status);
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    /// Paths of the requests with `method` whose path ends with `suffix`
    /// that the queue carried out (answered 2xx), in order.
    pub fn accepted(&self, method: &str, suffix: &str) -> Vec<String> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method && c.path.ends_with(suffix) && c.status < 300)
            .map(|c| c.path.clone())
            .collect()
    }

    /// Every write (create, rerun, cancel, hook trigger) the sandbox
    /// carried out, as `METHOD path`, in order. Auth `expandScopes` is a
    /// `POST` that changes nothing: not a write.
    pub fn accepted_writes(&self) -> Vec<String> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method != "GET" && c.status < 300)
            .filter(|c| !c.path.starts_with("/api/auth/v1/scopes/expand"))
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    /// The task's `{"status": ..., "task": ...}`, as listTaskGroup shows it.
    pub fn task(&self, task_id: &str) -> Option<Value> {
        let inner = self.shared.lock();
        inner
            .data
            .get(task_id)
            .map(|t| serde_json::json!({ "status": t.status, "task": t.definition }))
    }

    /// Task ids of a group, in the order they were added.
    pub fn tasks_in_group(&self, group_id: &str) -> Vec<String> {
        let inner = self.shared.lock();
        inner
            .data
            .group(group_id)
            .into_iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Moves a task to `state` as a worker would (pending → running →
    /// resolved, `reason` as `reasonResolved`). Completing a task schedules
    /// dependents whose dependencies are all completed. False if unknown.
    pub fn set_state(&self, task_id: &str, state: TaskState, reason: Option<&str>) -> bool {
        self.shared
            .lock()
            .data
            .set_state(task_id, state, reason, Utc::now())
    }

    /// The next `n` requests are answered `status` (e.g. 500) without being
    /// acted on.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut inner = self.shared.lock();
        inner.fail_next = n;
        inner.fail_status = status;
        inner.fail_method = None;
    }

    /// The next `n` requests with `method` (e.g. "POST", "PUT") are answered
    /// `status` without being acted on; other requests are served.
    pub fn fail_next_matching(&self, method: &str, n: u32, status: u16) {
        let mut inner = self.shared.lock();
        inner.fail_next = n;
        inner.fail_status = status;
        inner.fail_method = Some(method.to_owned());
    }

    /// The next request with `method` is carried out, then answered `status`
    /// (e.g. 502): the caller cannot know that it went through.
    pub fn lose_answer_next(&self, method: &str, status: u16) {
        self.shared.lock().lose_answer = Some((method.to_owned(), status));
    }

    /// Every request is answered 503, without being acted on, for `length`
    /// from now (on tokio's clock, so a paused test clock drives it).
    pub fn outage(&self, length: Duration) {
        self.shared.lock().down_until = Some(tokio::time::Instant::now() + length);
    }

    /// Delay every answer by `latency` (zero to stop).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Replaces the granted scopes of a configured client. False if unknown.
    pub fn set_scopes(&self, client_id: &str, scopes: &[&str]) -> bool {
        let mut inner = self.shared.lock();
        match inner
            .config
            .clients
            .iter_mut()
            .find(|c| c.client_id == client_id)
        {
            Some(c) => {
                c.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
                true
            }
            None => false,
        }
    }

    /// Starts the sandbox worker ([`worker`]): pending runs are claimed and
    /// resolved as `script` says, on tokio's clock. Runs until the handle
    /// is dropped. Each resolution is also sent to [`Self::resolutions`]'s
    /// receivers.
    pub fn start_worker(&self, script: worker::WorkerScript) -> WorkerHandle {
        let shared = self.shared.clone();
        let sender = self.resolved.clone();
        let task = tokio::spawn(async move {
            let mut state = worker::WorkerState::new(script, &shared.lock().data);
            let mut ticks = tokio::time::interval(state.tick_every());
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let now = tokio::time::Instant::now();
                let done = {
                    let mut guard = shared.lock();
                    let inner = &mut *guard;
                    state.tick(
                        &mut inner.data,
                        &inner.config.roles,
                        &inner.held_callbacks,
                        now,
                    )
                };
                for resolution in done {
                    let _ = sender.send(resolution);
                }
            }
        });
        WorkerHandle(task)
    }

    /// The worker holds action tasks whose callback is `callback` (e.g.
    /// `cancel`): they run, but neither carry it out nor resolve until
    /// [`Self::release_callback`] — an action task that has not taken
    /// effect yet, for as long as a test needs.
    pub fn hold_callback(&self, callback: &str) {
        self.shared
            .lock()
            .held_callbacks
            .insert(callback.to_owned());
    }

    /// Lets held action tasks with `callback` finish: each carries out its
    /// callback on the worker's next look (once its scripted delay passed).
    pub fn release_callback(&self, callback: &str) {
        self.shared.lock().held_callbacks.remove(callback);
    }

    /// Runs the sandbox worker resolves from now on.
    pub fn resolutions(&self) -> broadcast::Receiver<worker::Resolution> {
        self.resolved.subscribe()
    }

    /// Sets (adds or replaces) a role of the auth service's role table.
    pub fn set_role(&self, role_id: &str, scopes: &[&str]) {
        let role = roles::SandboxRole::new(role_id, scopes);
        let mut inner = self.shared.lock();
        let table = &mut inner.config.roles;
        table.retain(|r| r.role_id != role_id);
        table.push(role);
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for SandboxQueue {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// The running sandbox worker; stops when dropped.
pub struct WorkerHandle(JoinHandle<()>);

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}
