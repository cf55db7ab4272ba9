//! The Taskcluster queue client: the six calls rerunbot makes, Hawk-signed
//! when credentials are set, with the only retry layer for 5xx, timeouts and
//! connection errors (callers must not retry these again).

use super::error::QueueError;
use super::hawk::{self, Ext};
use super::kept::KeptDefinitions;
use super::snapshot::GroupFold;
use crate::config::{Secret, TaskclusterCredentials};
use crate::policy::task::TaskSnapshot;
use crate::types::{TaskGroupId, TaskId};
use reqwest::{Method, Url};
use serde_json::Value;
use std::time::Duration;

/// Bounded exponential backoff: `retries` more attempts after the first,
/// waiting `base * 2^n` (at most `max`) before attempt n + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Signing material, prepared once.
#[derive(Clone)]
struct Signer {
    client_id: String,
    access_token: Secret,
    /// The certificate (temporary credentials) and the scopes every call is
    /// restricted to, carried in Hawk's `ext`. `Err` when the certificate is
    /// not JSON: every call then fails with 401 rather than sending unsigned
    /// or wrongly signed requests.
    ext: Result<Ext, hawk::HawkError>,
}

impl std::fmt::Debug for Signer {
    // Neither the token nor the certificate (in `ext`) is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("client_id", &self.client_id)
            .field(
                "certificate",
                &matches!(&self.ext, Ok(e) if e.certificate.is_some()),
            )
            .field(
                "authorized_scopes",
                &self
                    .ext
                    .as_ref()
                    .ok()
                    .and_then(|e| e.authorized_scopes.as_ref()),
            )
            .finish_non_exhaustive()
    }
}

/// A queue client for one deployment.
#[derive(Clone, Debug)]
pub struct QueueClient {
    http: reqwest::Client,
    /// `<rootUrl>/api/queue/v1/`, or why the root URL is unusable.
    base: Result<Url, String>,
    /// `<rootUrl>/`: the other services' URLs are built from it.
    root: Result<Url, String>,
    signer: Option<Signer>,
    retry: RetryPolicy,
    /// `RERUNBOT_AUTHORIZED_SCOPES`, `{owner}`/`{repo}` not yet filled.
    authorized_scopes_template: Vec<String>,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl QueueClient {
    /// A client for `<root_url>/api/queue/v1`. Unauthenticated when
    /// `credentials` is `None`.
    pub fn new(root_url: &str, credentials: Option<TaskclusterCredentials>) -> QueueClient {
        let root = Url::parse(&format!("{}/", root_url.trim_end_matches('/')))
            .map_err(|e| format!("invalid Taskcluster root URL: {e}"))
            .and_then(|u| match u.host_str() {
                Some(_) => Ok(u),
                None => Err("invalid Taskcluster root URL: no host".to_owned()),
            });
        let base = root.clone().and_then(|r| {
            r.join("api/queue/v1/")
                .map_err(|e| format!("invalid Taskcluster root URL: {e}"))
        });
        let signer = credentials.map(|c| Signer {
            ext: Ext::new(c.certificate.as_ref().map(Secret::expose), None),
            client_id: c.client_id,
            access_token: c.access_token,
        });
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        QueueClient {
            http,
            base,
            root,
            signer,
            retry: RetryPolicy::default(),
            authorized_scopes_template: Vec::new(),
        }
    }

    /// Sets the `authorizedScopes` template (`{owner}`, `{repo}`) that
    /// [`QueueClient::for_repository`] fills.
    pub fn with_authorized_scopes_template(mut self, template: Vec<String>) -> Self {
        self.authorized_scopes_template = template;
        self
    }

    /// Whether [`QueueClient::for_repository`] restricts calls.
    pub fn has_authorized_scopes_template(&self) -> bool {
        !self.authorized_scopes_template.is_empty()
    }

    /// This client restricted to `owner/repo`'s scopes: every call carries
    /// the filled template as Hawk `authorizedScopes` (DESIGN.md §12), so
    /// the queue itself refuses anything beyond that repository's role,
    /// whatever discovery was fooled into. Unchanged without a template.
    pub fn for_repository(&self, owner: &str, repo: &str) -> QueueClient {
        if self.authorized_scopes_template.is_empty() {
            return self.clone();
        }
        let scopes = self
            .authorized_scopes_template
            .iter()
            .map(|s| s.replace("{owner}", owner).replace("{repo}", repo))
            .collect();
        self.clone().with_authorized_scopes(scopes)
    }

    /// Replaces the retry policy (tests use a tiny base delay).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client with every call restricted to `scopes` (Hawk
    /// `authorizedScopes`): the queue then acts with no more than those,
    /// whatever else the credentials hold. No effect without credentials.
    pub fn with_authorized_scopes(mut self, scopes: Vec<String>) -> Self {
        if let Some(Ok(ext)) = self.signer.as_mut().map(|s| s.ext.as_mut()) {
            ext.authorized_scopes = Some(scopes);
        }
        self
    }

    /// Replaces the per-attempt timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        if let Ok(http) = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            self.http = http;
        }
        self
    }

    /// `GET /task/<id>`: the task definition.
    pub async fn task(&self, task_id: &TaskId) -> Result<Value, QueueError> {
        self.call(Method::GET, &["task", task_id.as_str()], &[], None)
            .await
    }

    /// `GET /task/<id>/status`: the `status` object (state, runs, ...).
    pub async fn status(&self, task_id: &TaskId) -> Result<Value, QueueError> {
        let body = self
            .call(
                Method::GET,
                &["task", task_id.as_str(), "status"],
                &[],
                None,
            )
            .await?;
        status_of(body)
    }

    /// `GET /task-group/<id>/list`, every page, as snapshots with dependents
    /// filled in within the group. Each page is folded into snapshots as it
    /// arrives and dropped: what stays is the compact snapshots, never the
    /// definitions.
    pub async fn list_task_group(
        &self,
        group_id: &TaskGroupId,
    ) -> Result<Vec<TaskSnapshot>, QueueError> {
        let mut nothing = KeptDefinitions::default();
        self.list_task_group_keeping(group_id, &mut nothing).await
    }

    /// As [`Self::list_task_group`], and the group's pages go to `kept`
    /// when they fit in what it has room for (see `taskcluster::kept`).
    pub async fn list_task_group_keeping(
        &self,
        group_id: &TaskGroupId,
        kept: &mut KeptDefinitions,
    ) -> Result<Vec<TaskSnapshot>, QueueError> {
        let mut fold = GroupFold::default();
        let mut pages = kept.group();
        self.for_each_group_entry(group_id, &mut |entry| fold.add(&entry), &mut |page| {
            pages.offer(page)
        })
        .await?;
        kept.add(pages);
        let (tasks, unreadable) = fold.finish();
        for error in unreadable {
            tracing::warn!(group = %group_id, %error, "skipping a task the queue listed but we cannot read");
        }
        Ok(tasks)
    }

    /// `GET /task-group/<id>/list`, every page: the full status (runs
    /// included) of each task `wanted` keeps, by taskId. What the
    /// follow-through's poller reads for a group with many watched tasks;
    /// definitions and the statuses of the other tasks (most of a Firefox
    /// group) are dropped as each page is read.
    pub async fn list_task_group_statuses(
        &self,
        group_id: &TaskGroupId,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<std::collections::BTreeMap<String, Value>, QueueError> {
        let mut statuses = std::collections::BTreeMap::new();
        self.for_each_group_entry(
            group_id,
            &mut |mut entry| {
                let Some(status) = entry.get_mut("status").map(Value::take) else {
                    return;
                };
                match status.get("taskId").and_then(Value::as_str) {
                    Some(id) if wanted(id) => {
                        statuses.insert(id.to_owned(), status);
                    }
                    _ => {}
                }
            },
            &mut drop::<Vec<u8>>,
        )
        .await?;
        Ok(statuses)
    }

    /// `GET /task-group/<id>/list`, every page: the definitions of the
    /// group's action tasks only, by taskId (what a resumed hook trigger
    /// searches for its action task). Other definitions are dropped as each
    /// page is read.
    pub async fn list_action_task_definitions(
        &self,
        group_id: &TaskGroupId,
    ) -> Result<Vec<(TaskId, Value)>, QueueError> {
        let mut found = Vec::new();
        self.for_each_group_entry(
            group_id,
            &mut |mut entry| {
                let Some(id) = entry.pointer("/status/taskId").and_then(Value::as_str) else {
                    return;
                };
                let id = TaskId::new(id);
                let Some(task) = entry.get_mut("task").map(Value::take) else {
                    return;
                };
                if super::actions::is_action_task(&task) {
                    found.push((id, task));
                }
            },
            &mut drop::<Vec<u8>>,
        )
        .await?;
        Ok(found)
    }

    /// Every `{status, task}` entry of a group, page after page, handed to
    /// `on_entry` as it is parsed (one page in memory at a time), then the
    /// page's bytes to `on_page`.
    async fn for_each_group_entry(
        &self,
        group_id: &TaskGroupId,
        on_entry: &mut (dyn FnMut(Value) + Send),
        on_page: &mut (dyn FnMut(Vec<u8>) + Send),
    ) -> Result<(), QueueError> {
        let mut token: Option<String> = None;
        loop {
            let query: Vec<(&str, &str)> = match &token {
                Some(t) => vec![("continuationToken", t.as_str())],
                None => Vec::new(),
            };
            let bytes = self
                .service_call_bytes(
                    Service::Queue,
                    self.retry.retries,
                    Method::GET,
                    &["task-group", group_id.as_str(), "list"],
                    &query,
                    None,
                )
                .await?;
            let end = super::pages::read_page(&bytes, on_entry)
                .map_err(|e| bad_response(&format!("invalid listTaskGroup page: {e}")))?;
            if !end.had_tasks {
                return Err(bad_response("listTaskGroup answer has no tasks array"));
            }
            token = end.continuation_token;
            on_page(bytes);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// `GET /task/<id>/dependents` (listDependentTasks), every page: the
    /// ids of the tasks that depend on `task_id`, in any task group.
    pub async fn dependent_tasks(&self, task_id: &TaskId) -> Result<Vec<TaskId>, QueueError> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query: Vec<(&str, &str)> = match &token {
                Some(t) => vec![("continuationToken", t.as_str())],
                None => Vec::new(),
            };
            let page = self
                .call(
                    Method::GET,
                    &["task", task_id.as_str(), "dependents"],
                    &query,
                    None,
                )
                .await?;
            let Some(tasks) = page.get("tasks").and_then(Value::as_array) else {
                return Err(bad_response("listDependentTasks answer has no tasks array"));
            };
            ids.extend(tasks.iter().filter_map(|t| {
                let id = t.pointer("/status/taskId").and_then(Value::as_str)?;
                Some(TaskId::new(id))
            }));
            token = page
                .get("continuationToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(ids)
    }

    /// `POST /task/<id>/rerun`: the task's new `status`. A no-op on a pending
    /// or running task (the queue returns the current status).
    ///
    /// Sent once: a rerun is not safe to replay blindly, so a 5xx or timeout
    /// comes back as `Unavailable` and the caller reads the task's status
    /// (and compares the run count) before sending it again.
    pub async fn rerun_task(&self, task_id: &TaskId) -> Result<Value, QueueError> {
        let body = self
            .call_once(Method::POST, &["task", task_id.as_str(), "rerun"])
            .await?;
        status_of(body)
    }

    /// `PUT /task/<id>` with `definition`: the new task's `status`.
    /// Idempotent for the same id and definition, so retries are safe.
    pub async fn create_task(
        &self,
        task_id: &TaskId,
        definition: &Value,
    ) -> Result<Value, QueueError> {
        let body = self
            .call(
                Method::PUT,
                &["task", task_id.as_str()],
                &[],
                Some(definition),
            )
            .await?;
        status_of(body)
    }

    /// createTask for a *stored* plan, which may be re-sent long after it was
    /// made. The queue checks `created` (±15 min) before its idempotency
    /// check, so a retried job re-sending the same definition after 15
    /// minutes gets 400. Then, if the task exists (an earlier attempt created
    /// it; the id is derived from the delivery), its status is returned;
    /// otherwise the 400 stands and the copy must be re-planned.
    pub async fn ensure_task_created(
        &self,
        task_id: &TaskId,
        definition: &Value,
    ) -> Result<Value, QueueError> {
        match self.create_task(task_id, definition).await {
            Err(QueueError::Rejected {
                status: 400,
                message,
            }) if message.contains("`created` cannot be in the") => {
                match self.status(task_id).await {
                    Ok(status) => Ok(status),
                    Err(QueueError::NotFound) => Err(QueueError::Rejected {
                        status: 400,
                        message,
                    }),
                    Err(other) => Err(other),
                }
            }
            other => other,
        }
    }

    /// `POST /task/<id>/cancel`: the task's `status` (last run
    /// `exception/canceled`).
    /// Sent once, like [`Self::rerun_task`].
    pub async fn cancel_task(&self, task_id: &TaskId) -> Result<Value, QueueError> {
        let body = self
            .call_once(Method::POST, &["task", task_id.as_str(), "cancel"])
            .await?;
        status_of(body)
    }

    /// The retry policy, for callers that retry calls sent once.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// One API call with retries. The body is serialized once, so every
    /// attempt sends identical bytes; each attempt is signed afresh.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, QueueError> {
        self.call_with(self.retry.retries, method, segments, query, body)
            .await
    }

    /// One call without a body, sent once: a retryable failure is answered
    /// `Unavailable` at once (the caller checks what happened).
    async fn call_once(&self, method: Method, segments: &[&str]) -> Result<Value, QueueError> {
        self.call_with(0, method, segments, &[], None).await
    }

    async fn call_with(
        &self,
        retries: u32,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, QueueError> {
        let bytes = self
            .service_call_bytes(Service::Queue, retries, method, segments, query, body)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad_response(&format!("invalid JSON: {e}")))
    }

    /// The base URL of `service`.
    fn service_base(&self, service: Service) -> Result<Url, QueueError> {
        let unusable = |message| QueueError::Rejected { status: 0, message };
        match service {
            Service::Queue => self.base.clone().map_err(unusable),
            Service::Hooks | Service::Auth => {
                let root = self.root.clone().map_err(unusable)?;
                root.join(service.path())
                    .map_err(|e| unusable(format!("invalid Taskcluster root URL: {e}")))
            }
        }
    }

    /// One call to `service` with up to `retries` retries (0: sent once, a
    /// retryable failure is answered `Unavailable` at once), as JSON.
    pub(super) async fn service_call(
        &self,
        service: Service,
        retries: u32,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, QueueError> {
        let bytes = self
            .service_call_bytes(service, retries, method, segments, query, body)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad_response(&format!("invalid JSON: {e}")))
    }

    /// The one call path: `service` with up to `retries` retries, the
    /// successful answer's bytes (a task-group page is read from them
    /// without building a JSON tree of the whole page).
    async fn service_call_bytes(
        &self,
        service: Service,
        retries: u32,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>, QueueError> {
        let mut url = self.service_base(service)?;
        url.path_segments_mut()
            .map_err(|_| bad_url())?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let bytes = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| QueueError::Rejected {
                status: 0,
                message: format!("cannot encode the request body: {e}"),
            })?),
            None => None,
        };
        let mut attempt = 0;
        loop {
            let last_failure = match self.attempt(&method, &url, bytes.as_deref()).await {
                Attempt::Done(result) => return result,
                Attempt::Retryable(message) => message,
            };
            if attempt >= retries {
                return Err(QueueError::Unavailable {
                    message: format!(
                        "{} {} failed after {} attempt{}: {last_failure}",
                        method,
                        url.path(),
                        attempt + 1,
                        if attempt == 0 { "" } else { "s" }
                    ),
                });
            }
            tracing::warn!(
                method = %method,
                path = url.path(),
                attempt = attempt + 1,
                error = %last_failure,
                "taskcluster queue call failed; retrying"
            );
            tokio::time::sleep(self.retry.delay(attempt)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, method: &Method, url: &Url, body: Option<&[u8]>) -> Attempt<Vec<u8>> {
        let (status, _, bytes) = match self.send(method, url, body, true).await {
            Ok(answer) => answer,
            Err(attempt) => return attempt,
        };
        if status.is_server_error() {
            return Attempt::Retryable(format!(
                "HTTP {}: {}",
                status.as_u16(),
                super::error::error_message(&bytes)
            ));
        }
        if !status.is_success() {
            return Attempt::Done(Err(QueueError::from_response(status.as_u16(), &bytes)));
        }
        Attempt::Done(Ok(bytes))
    }
}

/// One attempt's outcome: done (the answer, or a failure not worth
/// retrying) or a failure worth retrying.
pub(super) enum Attempt<T = Value> {
    Done(Result<T, QueueError>),
    Retryable(String),
}

/// A Taskcluster service rerunbot calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    Queue,
    Hooks,
    Auth,
}

impl Service {
    fn path(self) -> &'static str {
        match self {
            Service::Queue => "api/queue/v1/",
            Service::Hooks => "api/hooks/v1/",
            Service::Auth => "api/auth/v1/",
        }
    }
}

type Answer = (reqwest::StatusCode, Option<String>, Vec<u8>);

/// The most a Content-Length may make us reserve before the body arrives.
const PREALLOCATE_AT_MOST: u64 = 32 * 1024 * 1024;

impl QueueClient {
    /// Sends one request, Hawk-signed when `signed` and credentials are
    /// set: the status, the `Location` header and the body.
    pub(super) async fn send<T>(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        signed: bool,
    ) -> Result<Answer, Attempt<T>> {
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(bytes) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.to_vec());
        }
        if let Some(signer) = self.signer.as_ref().filter(|_| signed) {
            match sign(signer, method, url, body) {
                Ok(header) => request = request.header(reqwest::header::AUTHORIZATION, header),
                Err(e) => return Err(Attempt::Done(Err(e))),
            }
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Attempt::Retryable(transport_error(e)))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Read chunk by chunk into one buffer sized from Content-Length: a
        // listTaskGroup page of 1,000 full definitions (~4 MB) is held once,
        // not collected and then copied.
        let announced = response
            .content_length()
            .unwrap_or(0)
            .min(PREALLOCATE_AT_MOST);
        let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Attempt::Retryable(transport_error(e)))?
        {
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, location, bytes))
    }

    /// Whether `url` is served by this deployment (same scheme, host and
    /// port as the root URL): only there may a request carry our Hawk
    /// `Authorization`.
    pub(super) fn is_own_origin(&self, url: &Url) -> bool {
        self.root
            .as_ref()
            .is_ok_and(|root| root.origin() == url.origin())
    }

    /// `<rootUrl>/api/queue/v1/`.
    pub(super) fn queue_url(&self) -> Result<Url, QueueError> {
        self.service_base(Service::Queue)
    }

    /// The retry policy's retries.
    pub(super) fn retries(&self) -> u32 {
        self.retry.retries
    }
}

fn sign(
    signer: &Signer,
    method: &Method,
    url: &Url,
    body: Option<&[u8]>,
) -> Result<String, QueueError> {
    let rejected = |e: hawk::HawkError| QueueError::Rejected {
        status: 401,
        message: format!("TASKCLUSTER_CERTIFICATE: {e}"),
    };
    let ext = signer
        .ext
        .as_ref()
        .map_err(|e| rejected(e.clone()))?
        .encode();
    hawk::authorization(
        &signer.client_id,
        signer.access_token.expose(),
        &hawk::Signed {
            method: method.as_str(),
            url,
            body: body.map(|b| ("application/json", b)),
            ext: ext.as_deref(),
        },
    )
    .map_err(|e| QueueError::Rejected {
        status: 401,
        message: format!("cannot sign the request: {e}"),
    })
}

/// The number of runs in a task status (what a rerun records having seen).
pub fn run_count(status: &Value) -> u32 {
    status
        .get("runs")
        .and_then(Value::as_array)
        .map_or(0, |r| u32::try_from(r.len()).unwrap_or(u32::MAX))
}

/// The `runId` of the last run in a task status, if any.
pub fn last_run_id(status: &Value) -> Option<u32> {
    status
        .get("runs")?
        .as_array()?
        .last()?
        .get("runId")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
}

/// The `status` member of a `{status: ...}` answer.
fn status_of(mut body: Value) -> Result<Value, QueueError> {
    match body.get_mut("status").map(Value::take) {
        Some(status @ Value::Object(_)) => Ok(status),
        _ => Err(bad_response("answer has no status object")),
    }
}

fn bad_response(message: &str) -> QueueError {
    QueueError::Unavailable {
        message: format!("unexpected answer from the queue: {message}"),
    }
}

fn bad_url() -> QueueError {
    QueueError::Rejected {
        status: 0,
        message: "invalid Taskcluster root URL".to_owned(),
    }
}

/// Describes a transport failure without the URL and without any header.
fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let p = RetryPolicy {
            retries: 3,
            base: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        let delays: Vec<u128> = (0..5).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 350, 350, 350]);
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(350));
    }

    #[test]
    fn run_helpers_read_statuses() {
        let cases = [
            (serde_json::json!({"runs": []}), 0, None),
            (serde_json::json!({}), 0, None),
            (
                serde_json::json!({"runs": [{"runId": 0}, {"runId": 1}]}),
                2,
                Some(1),
            ),
        ];
        for (status, count, last) in cases {
            assert_eq!(run_count(&status), count, "{status}");
            assert_eq!(last_run_id(&status), last, "{status}");
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let client = QueueClient::new(
            "https://tc.example.com",
            Some(TaskclusterCredentials {
                client_id: "me".into(),
                access_token: Secret::new("tok-secret-123"),
                certificate: Some(Secret::new(r#"{"signature":"sig-secret-456"}"#)),
            }),
        );
        let shown = format!("{client:?}");
        assert!(!shown.contains("tok-secret-123"), "{shown}");
        assert!(!shown.contains("sig-secret"), "{shown}");
        assert!(!shown.contains("eyJzaWdu"), "{shown}");
    }

    #[test]
    fn signs_path_and_query_and_carries_authorized_scopes() {
        let signer = Signer {
            client_id: "me".into(),
            access_token: Secret::new("k"),
            ext: Ok(Ext {
                certificate: None,
                authorized_scopes: Some(vec!["queue:rerun-task:*".to_owned()]),
            }),
        };
        let url = Url::parse(
            "https://tc.example.com/api/queue/v1/task-group/g/list?continuationToken=a%2Fb",
        )
        .expect("url");
        let header = sign(&signer, &Method::GET, &url, None).expect("signs");
        let presented = hawk::Presented::parse(&header).expect("parses");
        assert_eq!(
            presented.ext().and_then(|e| e.authorized_scopes),
            Some(vec!["queue:rerun-task:*".to_owned()])
        );
        let received = |resource| hawk::Received {
            method: "GET",
            host: "tc.example.com",
            port: 443,
            resource,
            body: None,
        };
        assert_eq!(
            presented.verify(
                "k",
                &received("/api/queue/v1/task-group/g/list?continuationToken=a%2Fb")
            ),
            Ok(())
        );
        assert!(presented
            .verify("k", &received("/api/queue/v1/task-group/g/list"))
            .is_err());
    }
}
