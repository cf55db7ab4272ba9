//! The sandbox's hooks service, auth and artifacts (issue 10 item 7):
//! `triggerHook` (scope, trigger schema, the action task under the hook's
//! role, the real response shape, faults), auth `expandScopes`, and the
//! queue's latest-artifact redirect, over HTTP with Hawk as a client calls
//! them.

mod hooks_support;

use hooks_support::*;
use reqwest::Method;
use rerunbot::sandbox::taskcluster::fixtures::{pr, release, ACTIONS_JSON};
use rerunbot::sandbox::taskcluster::hooks::TriggerFault;
use serde_json::{json, Value};

#[tokio::test]
async fn a_trigger_makes_an_action_task_under_the_hooks_role() {
    let queue = sandbox().await;
    let (status, body) = trigger(
        &queue,
        release::DECISION,
        "retrigger-disabled",
        Some(release::SIGNING_LINUX_COMPLETED),
        json!({"times": 1, "force": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let task_id = body["taskId"].as_str().expect("taskId").to_owned();
    assert_eq!(
        body,
        json!({"taskId": task_id, "status": {"taskId": task_id}})
    );

    let task = queue.task(&task_id).expect("the action task exists")["task"].clone();
    assert_eq!(task["taskGroupId"], release::DECISION);
    assert_eq!(task["tags"]["kind"], "action-callback");
    assert_eq!(task["extra"]["parent"], release::DECISION);
    assert_eq!(
        task["extra"]["action"],
        json!({"name": "retrigger", "context": {
            "taskGroupId": release::DECISION,
            "taskId": release::SIGNING_LINUX_COMPLETED,
            "input": {"times": 1, "force": true},
            "clientId": "rerunbot",
        }})
    );
    assert_eq!(
        task["scopes"],
        json!(["assume:repo:github.com/mozilla/gecko-dev:action:generic"])
    );
    assert_eq!(task["schedulerId"], "gecko-level-3");

    let actions = queue.action_tasks();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].task_id, task_id);
    assert_eq!(actions[0].callback, "retrigger-disabled");
    assert_eq!(
        actions[0].target.as_deref(),
        Some(release::SIGNING_LINUX_COMPLETED)
    );
    assert_eq!(actions[0].input, json!({"times": 1, "force": true}));
    let triggers = queue.triggers();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].hook_id, "in-tree-action-3-generic/7d2c9a4b1e");
    assert_eq!(
        triggers[0].action_task_id.as_deref(),
        Some(task_id.as_str())
    );
}

#[tokio::test]
async fn a_caller_without_the_trigger_scope_is_refused() {
    let queue = sandbox().await;
    queue.set_scopes(
        "rerunbot",
        &["queue:*", "hooks:trigger-hook:project-gecko/other"],
    );
    let (status, body) = trigger(
        &queue,
        pr::DECISION,
        "rerun",
        Some(pr::TEST_BC1_FAILED),
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "InsufficientScopes");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("hooks:trigger-hook:project-gecko/in-tree-action-1-generic/7d2c9a4b1e"),
        "{message}"
    );
    assert!(queue.action_tasks().is_empty());
}

#[tokio::test]
async fn a_payload_outside_the_trigger_schema_is_an_input_error() {
    let queue = sandbox().await;
    let good = render(
        &action(&queue, pr::DECISION, "rerun")["hookPayload"],
        &json!({"taskGroupId": pr::DECISION, "taskId": pr::TEST_BC1_FAILED, "input": {}}),
    );
    let mut extra = good.clone();
    extra["extra"] = json!(1);
    let mut user_extra = good.clone();
    user_extra["user"]["times"] = json!(3);
    let cases = [
        (
            "no user",
            json!({"decision": good["decision"]}),
            "data should have required property 'user'",
        ),
        (
            "no decision",
            json!({"user": good["user"]}),
            "data should have required property 'decision'",
        ),
        (
            "an extra property",
            extra,
            "data should NOT have additional properties",
        ),
        (
            "an extra user property",
            user_extra,
            "data.user should NOT have additional properties",
        ),
        ("not an object", json!([1]), "data should be object"),
    ];
    let path = "/api/hooks/v1/hooks/project-gecko/in-tree-action-1-generic%2F7d2c9a4b1e/trigger";
    for (name, payload, wanted) in cases {
        let (status, _, body) = call(&queue, Method::POST, path, Some(&payload)).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["code"], "InputError", "{name}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(wanted), "{name}: {message}");
    }
    let (status, _, body) = call(&queue, Method::POST, path, Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(
        &queue,
        Method::POST,
        "/api/hooks/v1/hooks/project-gecko/no-such-hook/trigger",
        Some(&good),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("InsufficientScopes"))
    );
    assert_eq!(queue.action_tasks().len(), 1);
}

#[tokio::test]
async fn injected_trigger_faults_create_or_not() {
    let queue = sandbox().await;
    let input = json!({"times": 1});
    queue.fault_next_trigger(TriggerFault::FailWithoutCreating(500));
    let (status, _) = trigger(
        &queue,
        pr::DECISION,
        "retrigger",
        Some(pr::TEST_BC1_FAILED),
        input.clone(),
    )
    .await;
    assert_eq!(status, 500);
    assert!(queue.action_tasks().is_empty());

    queue.fault_next_trigger(TriggerFault::CreateThenFail(500));
    let (status, _) = trigger(
        &queue,
        pr::DECISION,
        "retrigger",
        Some(pr::TEST_BC1_FAILED),
        input.clone(),
    )
    .await;
    assert_eq!(status, 500);
    let actions = queue.action_tasks();
    assert_eq!(actions.len(), 1, "the trigger went through");
    let triggers = queue.triggers();
    assert_eq!(triggers.len(), 2);
    assert_eq!(triggers[0].action_task_id, None);
    assert_eq!(
        triggers[1].action_task_id.as_deref(),
        Some(actions[0].task_id.as_str())
    );

    let (status, _) = trigger(
        &queue,
        pr::DECISION,
        "retrigger",
        Some(pr::TEST_BC1_FAILED),
        input,
    )
    .await;
    assert_eq!(status, 200, "a fault is used once");
    assert_eq!(queue.action_tasks().len(), 2);
}

#[tokio::test]
async fn the_latest_artifact_answers_a_redirect_to_its_content() {
    let queue = sandbox().await;
    for name in ["public/actions.json", "public%2Factions.json"] {
        for path in [
            format!("/api/queue/v1/task/{}/artifacts/{name}", pr::DECISION),
            format!(
                "/api/queue/v1/task/{}/runs/0/artifacts/{name}",
                pr::DECISION
            ),
        ] {
            let (status, location, _) = call(&queue, Method::GET, &path, None).await;
            assert_eq!(status, 303, "{path}");
            let location = location.expect("a Location");
            // Object storage wants no Hawk header: fetched anonymously.
            let content: Value = reqwest::get(&location)
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            assert_eq!(content["version"], 1, "{path}");
            assert_eq!(content["actions"][0]["hookGroupId"], "project-gecko");
        }
    }
    let cases = [
        (
            format!(
                "/api/queue/v1/task/{}/artifacts/public/nothing.json",
                pr::DECISION
            ),
            404,
            "ResourceNotFound",
        ),
        (
            format!(
                "/api/queue/v1/task/{}/runs/7/artifacts/public/actions.json",
                pr::DECISION
            ),
            404,
            "ResourceNotFound",
        ),
        (
            "/api/queue/v1/task/AAAAAAAAQAaAAAAAAAAAAA/artifacts/public/actions.json".to_owned(),
            404,
            "ResourceNotFound",
        ),
        (
            format!(
                "/api/queue/v1/task/{}/artifacts/private/secret.json",
                pr::DECISION
            ),
            404,
            "ResourceNotFound",
        ),
    ];
    for (path, status, code) in cases {
        let (got, _, body) = call(&queue, Method::GET, &path, None).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{path}");
    }
    // A private artifact needs queue:get-artifact:<name>: anonymous callers lack it.
    queue.add_artifact(
        pr::DECISION,
        "private/secret.json",
        "application/json",
        b"{}".to_vec(),
    );
    let url = format!(
        "{}/api/queue/v1/task/{}/artifacts/private/secret.json",
        queue.root_url(),
        pr::DECISION
    );
    let anonymous = reqwest::get(&url).await.expect("get");
    assert_eq!(anonymous.status().as_u16(), 403);
    assert!(queue.remove_artifact(pr::DECISION, ACTIONS_JSON));
    let path = format!(
        "/api/queue/v1/task/{}/artifacts/{ACTIONS_JSON}",
        pr::DECISION
    );
    assert_eq!(call(&queue, Method::GET, &path, None).await.0, 404);
}

#[tokio::test]
async fn expand_scopes_follows_the_role_table() {
    let queue = sandbox().await;
    let expand = |scopes: Value| {
        let queue = &queue;
        async move {
            let (status, _, body) = call(
                queue,
                Method::POST,
                "/api/auth/v1/scopes/expand",
                Some(&json!({ "scopes": scopes })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["scopes"].clone()
        }
    };
    let has = |scopes: &Value, s: &str| scopes.as_array().into_iter().flatten().any(|x| x == s);
    let pr_decision = queue.task(pr::DECISION).expect("decision")["task"]["scopes"].clone();
    let pr_scopes = expand(pr_decision).await;
    assert!(
        has(
            &pr_scopes,
            "in-tree:hook-action:project-gecko/in-tree-action-1-*"
        ),
        "{pr_scopes}"
    );
    assert!(
        !has(
            &pr_scopes,
            "in-tree:hook-action:project-gecko/in-tree-action-3-*"
        ),
        "{pr_scopes}"
    );
    let release_decision =
        queue.task(release::DECISION).expect("decision")["task"]["scopes"].clone();
    let release_scopes = expand(release_decision).await;
    assert!(
        has(
            &release_scopes,
            "in-tree:hook-action:project-gecko/in-tree-action-3-*"
        ),
        "{release_scopes}"
    );
    assert_eq!(
        expand(json!(["a:*", "a:b", "c"])).await,
        json!(["a:*", "c"])
    );
    let (status, _, body) = call(
        &queue,
        Method::POST,
        "/api/auth/v1/scopes/expand",
        Some(&json!({})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("InputError")));
}

/// The hook's role bounds what the action task may be: a payload naming
/// another repository makes no task, whatever the caller holds.
#[tokio::test]
async fn the_hook_role_cannot_make_another_repositorys_action_task() {
    let queue = sandbox().await;
    queue.set_scopes("rerunbot", &["*"]);
    let mut payload = render(
        &action(&queue, pr::DECISION, "rerun")["hookPayload"],
        &json!({"taskGroupId": pr::DECISION, "taskId": pr::TEST_BC1_FAILED, "input": {}}),
    );
    payload["decision"]["repository"]["url"] = json!("https://github.com/other/repo");
    let path = "/api/hooks/v1/hooks/project-gecko/in-tree-action-1-generic%2F7d2c9a4b1e/trigger";
    let (status, _, body) = call(&queue, Method::POST, path, Some(&payload)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("InsufficientScopes")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "The role `hook-id:project-gecko/in-tree-action-1-generic/7d2c9a4b1e` does not have sufficient scopes to create the task"
        ) && message.contains("assume:repo:github.com/other/repo:action:generic"),
        "{message}"
    );
    assert!(queue.action_tasks().is_empty());

    // A hook the caller may trigger but that does not exist.
    let path = "/api/hooks/v1/hooks/project-gecko/in-tree-action-9-generic%2Fnone/trigger";
    let (status, _, body) = call(&queue, Method::POST, path, Some(&payload)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("ResourceNotFound")),
        "{body}"
    );
}

/// Every action of both fixtures' actions.json, rendered as a client
/// renders it, names a hook the sandbox knows, of the group's level, and
/// passes that hook's trigger schema.
#[tokio::test]
async fn the_fixtures_actions_render_payloads_their_hooks_accept() {
    use rerunbot::sandbox::taskcluster::hooks::{gecko_action_hooks, GECKO_HOOK_GROUP};
    use rerunbot::sandbox::taskcluster::json_schema::validate;
    let queue = sandbox().await;
    let hooks = gecko_action_hooks();
    for (decision, level) in [(pr::DECISION, "1"), (release::DECISION, "3")] {
        let actions = queue
            .json_artifact(decision, ACTIONS_JSON)
            .expect("actions.json");
        assert_eq!(
            (actions["version"].clone(), actions["variables"].clone()),
            (json!(1), json!({}))
        );
        let names: Vec<&str> = actions["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["hookPayload"]["decision"]["action"]["cb_name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "retrigger-decision",
                "retrigger",
                "retrigger-disabled",
                "rerun",
                "cancel",
                "retrigger-multiple"
            ]
        );
        for action in actions["actions"].as_array().into_iter().flatten() {
            assert_eq!(action["kind"], "hook");
            assert_eq!(action["hookGroupId"], GECKO_HOOK_GROUP);
            let hook_id = action["hookId"].as_str().unwrap_or_default();
            assert!(
                hook_id.starts_with(&format!("in-tree-action-{level}-generic/")),
                "{hook_id}"
            );
            let hook = hooks
                .iter()
                .find(|h| h.hook_id == hook_id)
                .expect("a known hook");
            let payload = render(
                &action["hookPayload"],
                &json!({"taskGroupId": decision, "taskId": null, "input": {}}),
            );
            assert_eq!(payload["decision"]["action"]["taskGroupId"], decision);
            assert_eq!(
                payload["decision"]["repository"]["url"],
                "https://github.com/mozilla/gecko-dev"
            );
            assert_eq!(
                validate(&hook.trigger_schema, &payload),
                Ok(()),
                "{}",
                action["name"]
            );
        }
    }
}
