//! The calls of in-tree actions beyond the queue's usual ones: the queue's
//! latest-artifact endpoint (answered with a redirect, followed without
//! carrying our Hawk `Authorization` to another host), auth `expandScopes`,
//! and hooks `triggerHook` — sent once: a trigger is not idempotent, so a
//! lost answer is never replayed here (dispatch looks for the action task
//! first, DESIGN.md §10).

use super::client::{Attempt, QueueClient, Service};
use super::error::{error_message, QueueError};
use crate::types::TaskId;
use reqwest::{Method, Url};
use serde_json::{json, Value};

/// Redirects followed for one artifact (the queue answers one, to the
/// object store; a few more are tolerated, a loop is not).
const MAX_REDIRECTS: usize = 5;

impl QueueClient {
    /// `GET <queue>/task/<id>/artifacts/<name>` (getLatestArtifact), the
    /// redirect followed, as JSON. `NotFound` when the task has no such
    /// artifact. The `Authorization` header goes only to this deployment's
    /// own origin: a redirect elsewhere (an object store's signed URL) is
    /// fetched without it.
    pub async fn latest_artifact(&self, task_id: &TaskId, name: &str) -> Result<Value, QueueError> {
        let mut url = self.artifact_url(task_id, name)?;
        let retries = self.retries();
        let mut hops = 0;
        let mut attempt = 0;
        loop {
            let signed = self.is_own_origin(&url);
            let failure = match self.send(&Method::GET, &url, None, signed).await {
                Err(Attempt::Done(result)) => return result,
                Err(Attempt::Retryable(message)) => message,
                Ok((status, location, bytes)) if status.is_redirection() => {
                    hops += 1;
                    let next = location
                        .and_then(|l| url.join(&l).ok())
                        .filter(|u| matches!(u.scheme(), "http" | "https"));
                    match next {
                        Some(next) if hops <= MAX_REDIRECTS => {
                            url = next;
                            continue;
                        }
                        _ => {
                            return Err(QueueError::Unavailable {
                                message: format!(
                                    "artifact {name} of {task_id}: unusable redirect ({}): {}",
                                    status.as_u16(),
                                    error_message(&bytes)
                                ),
                            })
                        }
                    }
                }
                Ok((status, _, bytes)) if status.is_server_error() => {
                    format!("HTTP {}: {}", status.as_u16(), error_message(&bytes))
                }
                Ok((status, _, bytes)) if !status.is_success() => {
                    return Err(QueueError::from_response(status.as_u16(), &bytes))
                }
                Ok((_, _, bytes)) => {
                    return serde_json::from_slice(&bytes).map_err(|e| QueueError::Unavailable {
                        message: format!("artifact {name} of {task_id} is not JSON: {e}"),
                    })
                }
            };
            if attempt >= retries {
                return Err(QueueError::Unavailable {
                    message: format!("artifact {name} of {task_id}: {failure}"),
                });
            }
            tokio::time::sleep(self.retry_policy().delay(attempt)).await;
            attempt += 1;
        }
    }

    fn artifact_url(&self, task_id: &TaskId, name: &str) -> Result<Url, QueueError> {
        // The artifact name keeps its `/`s (`public/actions.json`), as
        // Taskcluster's own clients send it.
        let mut segments = vec!["task", task_id.as_str(), "artifacts"];
        segments.extend(name.split('/'));
        let mut url = self.queue_url()?;
        url.path_segments_mut()
            .map_err(|_| QueueError::Rejected {
                status: 0,
                message: "invalid Taskcluster root URL".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Auth `expandScopes`: `scopes` with every role they assume expanded.
    /// Needs no scope.
    pub async fn expand_scopes(&self, scopes: &[String]) -> Result<Vec<String>, QueueError> {
        let body = json!({ "scopes": scopes });
        let answer = self
            .service_call(
                Service::Auth,
                self.retries(),
                Method::POST,
                &["scopes", "expand"],
                &[],
                Some(&body),
            )
            .await?;
        match answer.get("scopes").and_then(Value::as_array) {
            Some(list) => Ok(list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()),
            None => Err(QueueError::Unavailable {
                message: "unexpected answer from auth: expandScopes has no scopes".to_owned(),
            }),
        }
    }

    /// Hooks `triggerHook`: the action task's id. Sent once: a 5xx or a
    /// timeout comes back `Unavailable` and may have created the task.
    pub async fn trigger_hook(
        &self,
        hook_group_id: &str,
        hook_id: &str,
        payload: &Value,
    ) -> Result<TaskId, QueueError> {
        // `hookId` may hold `/` (taskgraph's `in-tree-action-1-generic/<hash>`):
        // one path segment, so it is percent-encoded.
        let answer = self
            .service_call(
                Service::Hooks,
                0,
                Method::POST,
                &["hooks", hook_group_id, hook_id, "trigger"],
                &[],
                Some(payload),
            )
            .await?;
        answer
            .get("taskId")
            .or_else(|| answer.pointer("/status/taskId"))
            .and_then(Value::as_str)
            .map(TaskId::new)
            // The hook answered without creating a task: asking again would
            // do the same.
            .ok_or_else(|| QueueError::Rejected {
                status: 200,
                message: "the hook created no task".to_owned(),
            })
    }
}
