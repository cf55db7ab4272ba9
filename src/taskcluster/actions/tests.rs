//! actions.json: selection by name and context, rendering, input
//! validation, scope satisfaction, recognising an action task.

use super::*;
use crate::policy::tags::Tags;
use serde_json::json;

/// An actions.json of the shape taskgraph renders (registry.py,
/// retrigger.py, cancel.py), cut down to what rerunbot uses.
fn actions_json() -> Value {
    let times = json!({"type": "integer", "default": 1, "minimum": 1, "maximum": 100});
    let payload = |cb: &str| {
        json!({
            "decision": {
                "action": {"name": "x", "cb_name": cb, "taskGroupId": "DECISION"},
                "repository": {"url": "${repo}"},
            },
            "user": {
                "input": {"$eval": "input"},
                "taskId": {"$eval": "taskId"},
                "taskGroupId": {"$eval": "taskGroupId"},
            },
        })
    };
    let hook = |name: &str, cb: &str, context: Value, schema: Option<Value>| {
        let mut action = json!({
            "name": name,
            "title": name,
            "kind": "hook",
            "context": context,
            "hookGroupId": "project-gecko",
            "hookId": format!("in-tree-action-1-{cb}/abc"),
            "hookPayload": payload(cb),
            "extra": {"actionPerm": cb},
        });
        if let Some(schema) = schema {
            action["schema"] = schema;
        }
        action
    };
    json!({
        "version": 1,
        "variables": {"repo": "https://github.com/mozilla/gecko-dev", "taskId": "NOT-OURS"},
        "actions": [
            hook("retrigger", "retrigger-decision", json!([{"kind": "decision-task"}]), None),
            hook("retrigger", "retrigger", json!([{"retrigger": "true"}]), Some(json!({
                "type": "object",
                "properties": {"downstream": {"type": "boolean"}, "times": times},
            }))),
            hook("retrigger", "retrigger-disabled", json!([{}]), Some(json!({
                "type": "object",
                "properties": {"downstream": {"type": "boolean"}, "times": times, "force": {"type": "boolean"}},
            }))),
            hook("rerun", "rerun", json!([{}]), Some(json!({"type": "object", "properties": {}}))),
            hook("cancel", "cancel", json!([{}]), None),
            hook("retrigger-multiple", "retrigger-multiple", json!([]), Some(json!({
                "type": "object",
                "properties": {"requests": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"tasks": {"type": "array", "items": {"type": "string"}}, "times": times},
                    "additionalProperties": false,
                }}},
            }))),
        ],
    })
}

fn parsed() -> ActionsJson {
    parse_actions(actions_json().to_string().as_bytes()).expect("parses")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().copied().collect()
}

#[test]
fn the_first_action_of_a_name_whose_context_applies_wins() {
    let actions = parsed();
    type Case<'a> = (&'a str, Option<Tags>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "retrigger",
            Some(tags(&[("retrigger", "true"), ("kind", "test")])),
            Some("in-tree-action-1-retrigger/abc"),
        ),
        (
            "retrigger",
            Some(tags(&[("kind", "signing")])),
            Some("in-tree-action-1-retrigger-disabled/abc"),
        ),
        (
            "retrigger",
            Some(tags(&[("retrigger", "false")])),
            Some("in-tree-action-1-retrigger-disabled/abc"),
        ),
        (
            "retrigger",
            Some(tags(&[("kind", "decision-task")])),
            Some("in-tree-action-1-retrigger-decision/abc"),
        ),
        (
            "retrigger",
            Some(tags(&[])),
            Some("in-tree-action-1-retrigger-disabled/abc"),
        ),
        (
            "rerun",
            Some(tags(&[("kind", "build")])),
            Some("in-tree-action-1-rerun/abc"),
        ),
        // A task action is not a group action, and the reverse.
        ("rerun", None, None),
        (
            "retrigger-multiple",
            None,
            Some("in-tree-action-1-retrigger-multiple/abc"),
        ),
        ("retrigger-multiple", Some(tags(&[])), None),
        ("backfill", Some(tags(&[])), None),
    ];
    for (name, tags, expected) in cases {
        let found = actions
            .select(name, tags.as_ref())
            .and_then(|a| a.hook_id.as_deref());
        assert_eq!(found, expected, "{name} {tags:?}");
    }
}

#[test]
fn rendering_fills_the_context_and_names_the_callback() {
    let actions = parsed();
    let tags = tags(&[("kind", "signing")]);
    let action = actions.select("retrigger", Some(&tags)).expect("applies");
    let target = TaskId::new("T1");
    let input = json!({"times": 1, "force": true});
    let trigger = actions
        .render(action, "DECISION", Some(&target), input.clone())
        .expect("renders");
    assert_eq!(trigger.callback.as_deref(), Some("retrigger-disabled"));
    assert_eq!(trigger.hook_group_id, "project-gecko");
    assert_eq!(
        trigger.in_tree_scope(),
        "in-tree:hook-action:project-gecko/in-tree-action-1-retrigger-disabled/abc"
    );
    assert_eq!(
        trigger.payload["user"],
        json!({"input": input, "taskId": "T1", "taskGroupId": "DECISION"}),
        "a variable named taskId does not replace the target"
    );
    assert_eq!(
        trigger.payload["decision"]["repository"]["url"],
        "https://github.com/mozilla/gecko-dev"
    );

    let group = actions
        .select("retrigger-multiple", None)
        .expect("group action");
    let requests = json!({"requests": [{"tasks": ["a", "b"], "times": 2}]});
    let trigger = actions
        .render(group, "DECISION", None, requests)
        .expect("renders");
    assert_eq!(trigger.payload["user"]["taskId"], Value::Null);
}

#[test]
fn input_is_validated_against_the_schema() {
    let actions = parsed();
    let test = tags(&[("retrigger", "true")]);
    let retrigger = actions.select("retrigger", Some(&test)).expect("applies");
    let target = TaskId::new("T1");
    let cases = [
        (json!({"times": 3}), true),
        (json!({"times": 0}), false),
        (json!({"times": 101}), false),
        (json!({"times": "3"}), false),
        (json!("three"), false),
    ];
    for (input, ok) in cases {
        let result = actions.render(retrigger, "G", Some(&target), input.clone());
        assert_eq!(result.is_ok(), ok, "{input}: {result:?}");
        if let Err(e) = result {
            assert!(matches!(e, ActionError::InvalidInput(_)), "{e:?}");
        }
    }
    let multiple = actions.select("retrigger-multiple", None).expect("applies");
    let extra = json!({"requests": [{"tasks": ["a"], "times": 1, "label": "x"}]});
    assert!(
        actions.render(multiple, "G", None, extra).is_err(),
        "additionalProperties: false"
    );
}

#[test]
fn unusable_actions_files_and_actions_are_errors() {
    assert!(matches!(
        parse_actions(b"{}"),
        Err(ActionError::Unreadable(_))
    ));
    assert!(matches!(
        parse_actions(b"not json"),
        Err(ActionError::Unreadable(_))
    ));
    let v2 = json!({"version": 2, "actions": []}).to_string();
    assert_eq!(parse_actions(v2.as_bytes()), Err(ActionError::Version(2)));

    let mut file = actions_json();
    file["actions"][4]["kind"] = json!("task");
    file["actions"][3]
        .as_object_mut()
        .map(|a| a.remove("hookId"));
    let actions = parse_actions(file.to_string().as_bytes()).expect("parses");
    let any = tags(&[]);
    let target = TaskId::new("T");
    let cancel = actions.select("cancel", Some(&any)).expect("applies");
    assert!(matches!(
        actions.render(cancel, "G", Some(&target), json!({})),
        Err(ActionError::NotHook(..))
    ));
    let rerun = actions.select("rerun", Some(&any)).expect("applies");
    assert!(matches!(
        actions.render(rerun, "G", Some(&target), json!({})),
        Err(ActionError::Incomplete(_, "hookId"))
    ));
}

#[test]
fn scope_satisfaction_follows_taskcluster() {
    let granted = vec![
        "in-tree:hook-action:project-gecko/in-tree-action-1-*".to_owned(),
        "queue:route:checks".to_owned(),
    ];
    let cases = [
        (
            "in-tree:hook-action:project-gecko/in-tree-action-1-generic/abc",
            true,
        ),
        (
            "in-tree:hook-action:project-gecko/in-tree-action-3-generic/abc",
            false,
        ),
        (
            "in-tree:hook-action:project-other/in-tree-action-1-generic/abc",
            false,
        ),
        ("queue:route:checks", true),
        ("queue:route:checks2", false),
    ];
    for (required, ok) in cases {
        assert_eq!(scope_satisfied(&granted, required), ok, "{required}");
    }
    assert!(scope_satisfied(&["*".to_owned()], "anything"));
    assert!(!scope_satisfied(&[], "anything"));
}

fn trigger() -> HookTrigger {
    HookTrigger {
        action: "retrigger".into(),
        callback: Some("retrigger-disabled".into()),
        hook_group_id: "project-gecko".into(),
        hook_id: "in-tree-action-1-retrigger-disabled/abc".into(),
        task_group_id: "G".into(),
        target: Some(TaskId::new("T1")),
        input: json!({"times": 1, "force": true}),
        payload: json!({}),
    }
}

/// An action task as gecko's `.taskcluster.yml` renders it.
fn action_task(created: &str, callback: &str, target: Value, input: Value) -> Value {
    json!({
        "taskGroupId": "G",
        "created": created,
        "tags": {"kind": "action-callback"},
        "payload": {"env": {
            "ACTION_CALLBACK": callback,
            "ACTION_TASK_ID": target.to_string(),
            "ACTION_INPUT": input.to_string(),
            "ACTION_TASK_GROUP_ID": "G",
        }},
        "extra": {"parent": "G", "action": {"name": "retrigger", "context": {
            "taskGroupId": "G", "taskId": target, "input": input, "clientId": "rerunbot",
        }}},
    })
}

#[test]
fn an_action_task_is_recognised_by_callback_target_input_and_time() {
    let intent: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().expect("time");
    let input = json!({"times": 1, "force": true});
    let ours = action_task(
        "2026-01-01T10:00:05.000Z",
        "retrigger-disabled",
        json!("T1"),
        input.clone(),
    );
    let cases = [
        ("ours", ours.clone(), true),
        (
            "created a little before the intent (clocks)",
            action_task(
                "2026-01-01T09:59:30.000Z",
                "retrigger-disabled",
                json!("T1"),
                input.clone(),
            ),
            true,
        ),
        (
            "an earlier trigger",
            action_task(
                "2026-01-01T09:50:00.000Z",
                "retrigger-disabled",
                json!("T1"),
                input.clone(),
            ),
            false,
        ),
        (
            "another callback",
            action_task(
                "2026-01-01T10:00:05.000Z",
                "rerun",
                json!("T1"),
                input.clone(),
            ),
            false,
        ),
        (
            "another target",
            action_task(
                "2026-01-01T10:00:05.000Z",
                "retrigger-disabled",
                json!("T2"),
                input.clone(),
            ),
            false,
        ),
        (
            "another input",
            action_task(
                "2026-01-01T10:00:05.000Z",
                "retrigger-disabled",
                json!("T1"),
                json!({"times": 2, "force": true}),
            ),
            false,
        ),
        (
            "not an action task",
            json!({"taskGroupId": "G", "created": "2026-01-01T10:00:05.000Z", "payload": {}}),
            false,
        ),
    ];
    for (name, definition, expected) in cases {
        assert_eq!(
            is_action_task_for(&definition, &trigger(), intent),
            expected,
            "{name}"
        );
    }
    // Without extra.action, the ACTION_* variables tell the same.
    let mut env_only = ours;
    env_only["extra"] = json!({});
    assert!(is_action_task_for(&env_only, &trigger(), intent));
    let mut other_group = env_only;
    other_group["taskGroupId"] = json!("H");
    assert!(!is_action_task_for(&other_group, &trigger(), intent));
}

#[test]
fn the_task_graph_lists_the_copies() {
    let c1 = "C1aaaaaaaaaaaaaaaaaaaa";
    let c2 = "C2aaaaaaaaaaaaaaaaaaaa";
    let graph = json!({
        c2: {"label": "test-b", "task": {"taskGroupId": "G"}},
        c1: {"label": "test-a", "task": {"taskGroupId": "G"}},
        "not a task id": {"label": "x"},
        "C3aaaaaaaaaaaaaaaaaaaa": {},
    });
    let created = created_tasks(&graph, 10);
    let rows: Vec<(&str, &str, &str)> = created
        .iter()
        .map(|c| {
            (
                c.task_id.as_str(),
                c.label.as_str(),
                c.task_group_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (c1, "test-a", "G"),
            (c2, "test-b", "G"),
            ("C3aaaaaaaaaaaaaaaaaaaa", "", "")
        ]
    );
    assert_eq!(created_tasks(&graph, 2).len(), 2, "capped");
    assert!(created_tasks(&json!([]), 10).is_empty());
}
