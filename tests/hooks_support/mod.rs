//! Shared setup for the sandbox hooks tests: the world's two groups with
//! their actions.json, Hawk-signed calls, and triggering an action of an
//! actions.json the way a client renders it.
#![allow(dead_code)]

use reqwest::{Method, Url};
use rerunbot::sandbox::taskcluster::fixtures::{self, pr, release, ACTIONS_JSON};
use rerunbot::sandbox::taskcluster::worker::Resolution;
use rerunbot::sandbox::taskcluster::{SandboxQueue, SandboxQueueConfig};
use rerunbot::taskcluster::hawk::{authorization, Signed};
use serde_json::{json, Value};
use std::time::Duration;

const REPO: &str = "mozilla/gecko-dev";
const HEAD_SHA: &str = "5c1e0c3b6a7d4f2e9b8a1c0d3e4f5a6b7c8d9e0f";
const MERGE_SHA: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";
const TOKEN: &str = "sandbox-access-token";

/// The world's two groups, with their actions.json; rerunbot's client
/// holds only queue scopes and the hook trigger scope (no task scopes).
pub async fn sandbox() -> SandboxQueue {
    let queue = SandboxQueue::start(SandboxQueueConfig::default())
        .await
        .expect("sandbox starts");
    for (group, actions, decision, sha) in [
        (
            fixtures::PR_GROUP,
            fixtures::PR_ACTIONS,
            pr::DECISION,
            HEAD_SHA,
        ),
        (
            fixtures::RELEASE_GROUP,
            fixtures::RELEASE_ACTIONS,
            release::DECISION,
            MERGE_SHA,
        ),
    ] {
        queue.seed_fixture(&fixtures::for_commit(group, REPO, sha));
        queue.seed_actions(decision, &fixtures::for_commit(actions, REPO, sha));
    }
    queue.set_scopes(
        "rerunbot",
        &[
            "queue:*",
            "assume:repo:github.com/*",
            "hooks:trigger-hook:project-gecko/in-tree-action-*",
        ],
    );
    queue
}

/// A Hawk-signed request as `rerunbot`; returns status, Location, body.
pub async fn call(
    queue: &SandboxQueue,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Option<String>, Value) {
    let url = Url::parse(&format!("{}{path}", queue.root_url())).expect("url");
    let bytes = body.map(|b| b.to_string().into_bytes());
    let signed = Signed {
        method: method.as_str(),
        url: &url,
        body: bytes.as_deref().map(|b| ("application/json", b)),
        ext: None,
    };
    let header = authorization("rerunbot", TOKEN, &signed).expect("sign");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = client.request(method, url).header("authorization", header);
    if let Some(bytes) = bytes {
        request = request
            .header("content-type", "application/json")
            .body(bytes);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, location, body)
}

/// The decision task's actions.json, read back from the sandbox.
pub fn action(queue: &SandboxQueue, decision: &str, callback: &str) -> Value {
    let actions = queue
        .json_artifact(decision, ACTIONS_JSON)
        .expect("actions.json");
    actions["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["hookPayload"]["decision"]["action"]["cb_name"] == callback)
        .cloned()
        .expect("action")
}

/// The three `$eval`s of a hookPayload (all JSON-e it uses), rendered.
pub fn render(template: &Value, context: &Value) -> Value {
    match template {
        Value::Object(map) if map.len() == 1 && map.contains_key("$eval") => {
            let name = map["$eval"].as_str().unwrap_or_default();
            context[name].clone()
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render(v, context)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, context)).collect()),
        other => other.clone(),
    }
}

/// Triggers `callback`'s action of `decision`'s actions.json for `task`.
pub async fn trigger(
    queue: &SandboxQueue,
    decision: &str,
    callback: &str,
    task: Option<&str>,
    input: Value,
) -> (u16, Value) {
    let action = action(queue, decision, callback);
    let context = json!({"taskGroupId": decision, "taskId": task, "input": input});
    let payload = render(&action["hookPayload"], &context);
    let path = format!(
        "/api/hooks/v1/hooks/{}/{}/trigger",
        action["hookGroupId"].as_str().unwrap_or_default(),
        action["hookId"]
            .as_str()
            .unwrap_or_default()
            .replace('/', "%2F"),
    );
    let (status, _, body) = call(queue, Method::POST, &path, Some(&payload)).await;
    (status, body)
}

/// [`trigger`] that must succeed: the id of the action task it made.
#[allow(dead_code)]
pub async fn trigger_action(
    queue: &SandboxQueue,
    decision: &str,
    callback: &str,
    task: Option<&str>,
    input: Value,
) -> String {
    let (status, body) = trigger(queue, decision, callback, task, input).await;
    assert_eq!(status, 200, "{body}");
    body["taskId"].as_str().expect("taskId").to_owned()
}

/// Waits (at most 10 s) until the worker resolved `task_id`.
pub async fn resolved(
    seen: &mut tokio::sync::broadcast::Receiver<Resolution>,
    task_id: &str,
) -> Resolution {
    let wait = async {
        loop {
            if let Ok(r) = seen.recv().await {
                if r.task_id == task_id {
                    return r;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("resolved in time")
}
