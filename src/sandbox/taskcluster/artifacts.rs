//! Artifacts of the sandbox queue: stored per task (with the run that made
//! them), served the way the real queue serves them.
//!
//! `GET <root>/api/queue/v1/task/<taskId>/artifacts/<name>` (getLatestArtifact)
//! and `GET <root>/api/queue/v1/task/<taskId>/runs/<runId>/artifacts/<name>`
//! (getArtifact) answer `303 See Other` with a `Location` where the content
//! is served, as the real queue redirects to its object storage. The name
//! may be sent raw (`public/actions.json`) or URL-encoded
//! (`public%2Factions.json`, as the official clients send it). Names under
//! `public/` need no scope; others need `queue:get-artifact:<name>`, as on
//! the real queue. A missing task, run or artifact answers 404
//! `ResourceNotFound`.
//!
//! The content is served at `<root>/sandbox/artifacts/<taskId>/<runId>/<name>`
//! without authentication (object storage checks no Hawk header): a client
//! that follows the redirect on the same host keeps its `Authorization`
//! header, whose MAC covers the first URL only.
//!
//! The sandbox keeps one artifact per task and name (the run that made it
//! last); a request for another run's copy answers 404.

use super::scopes::satisfies;
use super::state::{error_reply, runs, Caller, QueueData, Reply};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Where the sandbox serves artifact content (no authentication).
pub const CONTENT_PREFIX: &str = "/sandbox/artifacts/";

/// One stored artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub run_id: u32,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// What an artifact request answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ArtifactAnswer {
    /// 303 to this path (under the root URL).
    Redirect(String),
    Error(Reply),
}

/// `%XX` sequences decoded (names and hook ids arrive URL-encoded); an
/// invalid sequence is kept as it is.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name` with every byte but unreserved ones and `/` percent-encoded.
fn encode_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl QueueData {
    /// Stores (or replaces) an artifact of `task_id`, made by its last run
    /// (run 0 when it has none yet).
    pub fn put_artifact(
        &mut self,
        task_id: &str,
        name: &str,
        content_type: &str,
        content: Vec<u8>,
    ) {
        let run_id = self
            .tasks
            .get(task_id)
            .map(|t| runs(&t.status).len().saturating_sub(1))
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        self.artifacts
            .entry(task_id.to_owned())
            .or_default()
            .insert(
                name.to_owned(),
                Artifact {
                    run_id,
                    content_type: content_type.to_owned(),
                    content,
                },
            );
    }

    /// Stores a JSON artifact.
    pub fn put_json_artifact(&mut self, task_id: &str, name: &str, value: &Value) {
        let body = serde_json::to_vec_pretty(value).unwrap_or_default();
        self.put_artifact(task_id, name, "application/json", body);
    }

    /// Removes an artifact; true if there was one.
    pub fn remove_artifact(&mut self, task_id: &str, name: &str) -> bool {
        self.artifacts
            .get_mut(task_id)
            .and_then(|a| a.remove(name))
            .is_some()
    }

    /// The stored artifact, if any.
    pub fn artifact(&self, task_id: &str, name: &str) -> Option<&Artifact> {
        self.artifacts.get(task_id)?.get(name)
    }

    /// getLatestArtifact (`run_id` `None`) or getArtifact.
    pub fn artifact_redirect(
        &self,
        task_id: &str,
        run_id: Option<&str>,
        raw_name: &str,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> ArtifactAnswer {
        let method = if run_id.is_some() {
            "getArtifact"
        } else {
            "getLatestArtifact"
        };
        let not_found =
            |m: &str| ArtifactAnswer::Error(error_reply(404, "ResourceNotFound", method, m, now));
        let name = percent_decode(raw_name);
        if !name.starts_with("public/") {
            let scope = format!("queue:get-artifact:{name}");
            if !satisfies(&caller.scopes, &scope) {
                let message = super::scopes::authorize(
                    &caller.client_id,
                    &caller.scopes,
                    &super::scopes::ScopeExpr::Scope(scope),
                )
                .err()
                .unwrap_or_default();
                return ArtifactAnswer::Error(error_reply(
                    403,
                    "InsufficientScopes",
                    method,
                    &message,
                    now,
                ));
            }
        }
        let Some(task) = self.tasks.get(task_id) else {
            return not_found(&format!("Task `{task_id}` not found"));
        };
        let run_count = runs(&task.status).len();
        let wanted = match run_id {
            None if run_count == 0 => return not_found("Task doesn't have any runs"),
            None => run_count - 1,
            Some(r) => match r.parse::<usize>() {
                Ok(r) if r < run_count => r,
                _ => return not_found(&format!("Run `{r}` of task `{task_id}` not found")),
            },
        };
        match self.artifact(task_id, &name) {
            Some(a) if a.run_id as usize == wanted => ArtifactAnswer::Redirect(format!(
                "{CONTENT_PREFIX}{task_id}/{wanted}/{}",
                encode_name(&name)
            )),
            _ => not_found(&format!(
                "Artifact `{name}` not found on run {wanted} of task `{task_id}`"
            )),
        }
    }

    /// The content at `<task>/<run>/<name>` under [`CONTENT_PREFIX`]:
    /// `(content type, bytes)`.
    pub fn artifact_content(&self, rest: &str) -> Option<(String, Vec<u8>)> {
        let mut parts = rest.splitn(3, '/');
        let (task_id, run, name) = (parts.next()?, parts.next()?, parts.next()?);
        let artifact = self.artifact(task_id, &percent_decode(name))?;
        (run.parse::<u32>().ok()? == artifact.run_id)
            .then(|| (artifact.content_type.clone(), artifact.content.clone()))
    }
}

impl super::SandboxQueue {
    /// Stores an artifact of `task_id` (made by its last run).
    pub fn add_artifact(&self, task_id: &str, name: &str, content_type: &str, content: Vec<u8>) {
        self.shared
            .lock()
            .data
            .put_artifact(task_id, name, content_type, content);
    }

    /// Removes an artifact (e.g. a group's `public/actions.json`, for a
    /// group without in-tree actions). True if there was one.
    pub fn remove_artifact(&self, task_id: &str, name: &str) -> bool {
        self.shared.lock().data.remove_artifact(task_id, name)
    }

    /// A stored artifact.
    pub fn artifact(&self, task_id: &str, name: &str) -> Option<Artifact> {
        self.shared.lock().data.artifact(task_id, name).cloned()
    }

    /// A stored JSON artifact, parsed.
    pub fn json_artifact(&self, task_id: &str, name: &str) -> Option<Value> {
        serde_json::from_slice(&self.artifact(task_id, name)?.content).ok()
    }

    /// Publishes `actions` (an `actions.json` document) as the
    /// `public/actions.json` of the decision task `decision`.
    pub fn seed_actions(&self, decision: &str, actions: &Value) {
        self.shared
            .lock()
            .data
            .put_json_artifact(decision, super::fixtures::ACTIONS_JSON, actions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_and_encode() {
        let cases = [
            ("public%2Factions.json", "public/actions.json"),
            ("public/actions.json", "public/actions.json"),
            ("a%20b", "a b"),
            ("bad%zz", "bad%zz"),
            ("end%2", "end%2"),
        ];
        for (raw, want) in cases {
            assert_eq!(percent_decode(raw), want, "{raw}");
        }
        assert_eq!(encode_name("public/a b.json"), "public/a%20b.json");
    }
}
