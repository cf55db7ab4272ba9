//! Routing: which actions go through in-tree actions, which to the queue,
//! which are refused, per dispatch mode.

use super::*;
use crate::policy::plan::{CommandRefusal, Role};
use crate::policy::task::TaskState;
use crate::policy::testutil::{task, TaskExt};
use crate::taskcluster::actions::parse_actions;
use crate::types::TaskId;

/// taskgraph's standard actions (retrigger, its force-needing fallback,
/// rerun, cancel, retrigger-multiple), each on its own hook.
fn actions(with_multiple: bool) -> ActionsJson {
    let payload = json!({"decision": {"action": {"cb_name": "X"}}, "user": {"input": {"$eval": "input"}, "taskId": {"$eval": "taskId"}, "taskGroupId": {"$eval": "taskGroupId"}}});
    let hook = |name: &str, perm: &str, context: Value| {
        json!({"name": name, "kind": "hook", "context": context, "hookGroupId": "project-gecko",
               "hookId": format!("in-tree-action-1-{perm}/h"), "hookPayload": payload})
    };
    let mut list = vec![
        hook("retrigger", "generic", json!([{"retrigger": "true"}])),
        hook("retrigger", "generic", json!([{}])),
        hook("rerun", "generic", json!([{}])),
        hook("cancel", "generic", json!([{}])),
    ];
    if with_multiple {
        list.push(hook("retrigger-multiple", "generic", json!([])));
    }
    parse_actions(
        json!({"version": 1, "actions": list})
            .to_string()
            .as_bytes(),
    )
    .expect("parses")
}

fn published(scopes: &[&str], with_multiple: bool) -> GroupActions {
    GroupActions::Published {
        actions: actions(with_multiple),
        decision_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

const ALLOWED: &[&str] = &["in-tree:hook-action:project-gecko/in-tree-action-1-*"];

fn row(t: &TaskSnapshot, class: TaskClass, action: Action, forced: bool) -> PlanRow {
    let warnings = if forced {
        vec![Warning::Forced {
            what: if class == TaskClass::Release {
                ForcedAction::RetriggerRelease
            } else {
                ForcedAction::RetriggerNotRetriggerable
            },
        }]
    } else {
        Vec::new()
    };
    PlanRow {
        task_id: t.task_id.clone(),
        label: t.label.to_string(),
        name: t.name().to_owned(),
        class,
        state: TaskState::Failed,
        decision: Decision::Act(action),
        warnings,
    }
}

fn completed_row(t: &TaskSnapshot) -> PlanRow {
    let mut row = row(t, TaskClass::Other, Action::Rerun { runs_seen: 1 }, false);
    row.state = TaskState::Completed;
    row
}

fn copies(n: usize) -> Action {
    Action::Retrigger {
        copies: (0..n).map(|i| TaskId::new(format!("C{i}"))).collect(),
    }
}

/// What became of the row: the actions it is sent with, or a refusal, or
/// `queue`.
fn fate(plan: &Plan, routed: &[Routed], r: usize) -> String {
    if let Some(entry) = routed.iter().find(|e| e.rows.contains(&r)) {
        let names: Vec<String> = entry
            .triggers
            .iter()
            .map(|t| format!("{}{}", t.action, t.input))
            .collect();
        return names.join(" then ");
    }
    match &plan.rows[r].decision {
        Decision::Refuse(Refusal::InTreeAction { problem }) => format!("refused: {problem:?}"),
        Decision::Act(_) => "queue".to_owned(),
        other => format!("{other:?}"),
    }
}

/// The fate of one row routed alone in `mode`.
fn fate_alone(
    mode: DispatchMode,
    groups: &BTreeMap<String, GroupActions>,
    tasks: &[TaskSnapshot],
    row: PlanRow,
) -> String {
    let mut plan = Plan {
        rows: vec![row],
        ..Plan::default()
    };
    let routed = route(
        &mut plan,
        0,
        &RouteInput {
            mode,
            groups,
            tasks,
        },
    );
    fate(&plan, &routed, 0)
}

#[test]
fn each_action_goes_where_the_mode_and_the_decision_task_allow() {
    let test = task("T1", "test-1").test();
    let build = task("B1", "build-1");
    let sign = task("S1", "signing-1").release();
    let tasks = vec![test.clone(), build.clone(), sign.clone()];
    let rerun = Action::Rerun { runs_seen: 1 };
    let cancel_rerun = Action::CancelRerun { runs_seen: 0 };
    type Case<'a> = (
        &'a str,
        DispatchMode,
        Option<GroupActions>,
        PlanRow,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "rerun, auto, published",
            DispatchMode::Auto,
            Some(published(ALLOWED, true)),
            row(&build, TaskClass::Other, rerun.clone(), false),
            "rerun{}",
        ),
        (
            "forced rerun of a completed task, auto",
            DispatchMode::Auto,
            Some(published(ALLOWED, true)),
            completed_row(&build),
            "queue",
        ),
        (
            "forced rerun of a completed task, actions",
            DispatchMode::Actions,
            Some(published(ALLOWED, true)),
            completed_row(&build),
            "refused: Unusable { action: \"rerun\", message: \"the repository's rerun action reruns only failed or exception tasks\" }",
        ),
        (
            "rerun, queue mode",
            DispatchMode::Queue,
            Some(published(ALLOWED, true)),
            row(&build, TaskClass::Other, rerun.clone(), false),
            "queue",
        ),
        (
            "rerun, auto, no actions.json",
            DispatchMode::Auto,
            Some(GroupActions::Absent),
            row(&build, TaskClass::Other, rerun.clone(), false),
            "queue",
        ),
        (
            "rerun, actions, no actions.json",
            DispatchMode::Actions,
            Some(GroupActions::Absent),
            row(&build, TaskClass::Other, rerun.clone(), false),
            "refused: NoActionsJson",
        ),
        (
            "cancel-then-rerun",
            DispatchMode::Auto,
            Some(published(ALLOWED, true)),
            row(&build, TaskClass::Other, cancel_rerun, false),
            "cancel{} then rerun{}",
        ),
        (
            "retrigger 3 of a test",
            DispatchMode::Auto,
            Some(published(ALLOWED, true)),
            row(&test, TaskClass::Test, copies(3), false),
            "retrigger{\"times\":3}",
        ),
        (
            "forced retrigger of a build",
            DispatchMode::Auto,
            Some(published(ALLOWED, true)),
            row(&build, TaskClass::Other, copies(1), true),
            "retrigger{\"force\":true,\"times\":1}",
        ),
        (
            "forced retrigger of a signing task",
            DispatchMode::Auto,
            Some(published(ALLOWED, true)),
            row(&sign, TaskClass::Release, copies(1), true),
            "retrigger{\"force\":true,\"times\":1}",
        ),
        (
            "forced release copy, auto, no actions.json",
            DispatchMode::Auto,
            Some(GroupActions::Absent),
            row(&sign, TaskClass::Release, copies(1), true),
            "refused: ReleaseCopyNeedsActions",
        ),
        (
            "forced release copy, auto, group unknown",
            DispatchMode::Auto,
            None,
            row(&sign, TaskClass::Release, copies(1), true),
            "refused: ReleaseCopyNeedsActions",
        ),
        (
            "forced other copy, auto, no actions.json",
            DispatchMode::Auto,
            Some(GroupActions::Absent),
            row(&build, TaskClass::Other, copies(1), true),
            "queue",
        ),
        (
            "hook not allowed to the decision task",
            DispatchMode::Auto,
            Some(published(
                &["in-tree:hook-action:project-gecko/in-tree-action-3-*"],
                true,
            )),
            row(&build, TaskClass::Other, rerun.clone(), false),
            "refused: HookNotAllowed { hook: \"project-gecko/in-tree-action-1-generic/h\" }",
        ),
        (
            "unreadable actions.json, actions mode",
            DispatchMode::Actions,
            Some(GroupActions::Unusable("bad".into())),
            row(&build, TaskClass::Other, rerun.clone(), false),
            "refused: Unusable { action: \"rerun\", message: \"bad\" }",
        ),
        (
            "unreadable actions.json, auto",
            DispatchMode::Auto,
            Some(GroupActions::Unusable("bad".into())),
            row(&build, TaskClass::Other, rerun, false),
            "queue",
        ),
        (
            "an action without a schema takes any input",
            DispatchMode::Actions,
            Some(published(ALLOWED, true)),
            row(&test, TaskClass::Test, copies(0), false),
            "retrigger{\"times\":0}",
        ),
    ];
    for (name, mode, group, row, expected) in cases {
        let groups: BTreeMap<String, GroupActions> =
            group.into_iter().map(|g| ("GROUP".to_owned(), g)).collect();
        let mut plan = Plan {
            rows: vec![row],
            ..Plan::default()
        };
        let routed = route(
            &mut plan,
            0,
            &RouteInput {
                mode,
                groups: &groups,
                tasks: &tasks,
            },
        );
        assert_eq!(fate(&plan, &routed, 0), expected, "{name}");
        assert!(
            routed
                .iter()
                .all(|e| e.triggers.iter().all(|t| t.task_group_id == "GROUP")),
            "{name}"
        );
    }
}

#[test]
fn missing_actions_are_refused_in_actions_mode_and_sent_to_the_queue_in_auto() {
    // An actions.json without `cancel`.
    let mut file: Value = json!({"version": 1, "actions": []});
    let payload = json!({"user": {"taskId": {"$eval": "taskId"}}});
    file["actions"] = json!([{"name": "rerun", "kind": "hook", "context": [{}], "hookGroupId": "g", "hookId": "h", "hookPayload": payload}]);
    let groups = BTreeMap::from([(
        "GROUP".to_owned(),
        GroupActions::Published {
            actions: parse_actions(file.to_string().as_bytes()).expect("parses"),
            decision_scopes: vec!["in-tree:hook-action:g/h".into()],
        },
    )]);
    let build = task("B1", "build-1");
    let tasks = vec![build.clone()];
    for (mode, expected) in [
        (
            DispatchMode::Actions,
            "refused: NoAction { action: \"cancel\" }",
        ),
        (DispatchMode::Auto, "queue"),
    ] {
        let cancel_rerun = row(
            &build,
            TaskClass::Other,
            Action::CancelRerun { runs_seen: 0 },
            false,
        );
        assert_eq!(
            fate_alone(mode, &groups, &tasks, cancel_rerun),
            expected,
            "{mode:?}"
        );
    }
}

#[test]
fn a_row_whose_task_is_unknown_is_judged_as_a_group_without_actions() {
    let groups = BTreeMap::from([("GROUP".to_owned(), published(ALLOWED, true))]);
    let known = task("K1", "known-1");
    let unknown = task("U1", "unknown-1");
    let release = task("U2", "release-1");
    let tasks = vec![known];
    // (mode, row, fate)
    let cases = [
        (
            DispatchMode::Actions,
            row(
                &unknown,
                TaskClass::Other,
                Action::Rerun { runs_seen: 1 },
                false,
            ),
            "refused: NoActionsJson",
        ),
        (
            DispatchMode::Auto,
            row(
                &unknown,
                TaskClass::Other,
                Action::Rerun { runs_seen: 1 },
                false,
            ),
            "queue",
        ),
        (
            DispatchMode::Auto,
            row(&release, TaskClass::Release, copies(1), true),
            "refused: ReleaseCopyNeedsActions",
        ),
    ];
    for (mode, planned, expected) in cases {
        assert_eq!(
            fate_alone(mode, &groups, &tasks, planned),
            expected,
            "{mode:?}"
        );
    }
}

#[test]
fn several_test_copies_of_a_group_become_one_retrigger_multiple() {
    let a = task("A", "test-a").test();
    let b = task("B", "test-b").test();
    let c = task("C", "test-c").test();
    let build = task("D", "build-d");
    let tasks = vec![a.clone(), b.clone(), c.clone(), build.clone()];
    let rows = vec![
        row(&a, TaskClass::Test, copies(2), false),
        row(&build, TaskClass::Other, copies(1), true),
        row(&b, TaskClass::Test, copies(2), false),
        row(&c, TaskClass::Test, copies(3), false),
    ];
    let groups = BTreeMap::from([("GROUP".to_owned(), published(ALLOWED, true))]);
    let mut plan = Plan {
        rows: rows.clone(),
        ..Plan::default()
    };
    let routed = route(
        &mut plan,
        2,
        &RouteInput {
            mode: DispatchMode::Auto,
            groups: &groups,
            tasks: &tasks,
        },
    );
    assert_eq!(routed.len(), 2, "{routed:#?}");
    let multiple = routed.iter().find(|e| e.rows.len() == 3).expect("combined");
    assert_eq!(multiple.plan, 2);
    assert_eq!(multiple.rows, vec![0, 2, 3]);
    assert_eq!(multiple.triggers[0].action, "retrigger-multiple");
    assert_eq!(multiple.triggers[0].target, None);
    assert_eq!(
        multiple.triggers[0].input,
        json!({"requests": [{"tasks": ["test-a", "test-b"], "times": 2}, {"tasks": ["test-c"], "times": 3}]})
    );
    assert_eq!(
        fate(&plan, &routed, 1),
        "retrigger{\"force\":true,\"times\":1}"
    );

    // Without retrigger-multiple: one retrigger per task.
    let groups = BTreeMap::from([("GROUP".to_owned(), published(ALLOWED, false))]);
    let mut plan = Plan {
        rows,
        ..Plan::default()
    };
    let routed = route(
        &mut plan,
        0,
        &RouteInput {
            mode: DispatchMode::Auto,
            groups: &groups,
            tasks: &tasks,
        },
    );
    assert_eq!(routed.len(), 4);
}

#[test]
fn rows_without_an_action_and_refused_commands_are_left_alone() {
    let build = task("B1", "build-1").state(TaskState::Completed);
    let tasks = vec![build.clone()];
    let mut refused_row = row(
        &build,
        TaskClass::Other,
        Action::Rerun { runs_seen: 1 },
        false,
    );
    refused_row.decision = Decision::Refuse(Refusal::AlreadyGreen {
        force_role: Role::Maintain,
    });
    let mut plan = Plan {
        rows: vec![refused_row.clone()],
        refusal: Some(CommandRefusal::NoMatch),
        ..Plan::default()
    };
    let groups = BTreeMap::new();
    let routed = route(
        &mut plan,
        0,
        &RouteInput {
            mode: DispatchMode::Actions,
            groups: &groups,
            tasks: &tasks,
        },
    );
    assert!(routed.is_empty());
    assert_eq!(plan.rows, vec![refused_row]);
}

/// A row that waits is routed like one sent now, marked to be sent when
/// its wait fires; it is never combined into a `retrigger-multiple`, and
/// without actions it is refused in `actions` mode and left to the queue
/// in `auto`.
#[test]
fn a_waiting_row_is_routed_to_be_sent_when_it_fires() {
    use crate::policy::plan::{Wait, WaitKind};
    let poller = task("P1", "poller-1");
    let tasks = vec![poller.clone()];
    let waiting = |action: Action| {
        let mut r = row(&poller, TaskClass::Release, action.clone(), false);
        r.decision = Decision::Wait(Wait {
            action,
            kind: WaitKind::AfterRerun,
            on: Vec::new(),
            deadline: chrono::Utc::now(),
        });
        r
    };
    let published = BTreeMap::from([("GROUP".to_owned(), published(ALLOWED, true))]);
    let absent = BTreeMap::from([("GROUP".to_owned(), GroupActions::Absent)]);
    type Groups = BTreeMap<String, GroupActions>;
    let rows: Vec<(DispatchMode, &Groups, Action, &str, bool)> = vec![
        (
            DispatchMode::Auto,
            &published,
            Action::Rerun { runs_seen: 1 },
            "rerun{}",
            true,
        ),
        (
            DispatchMode::Auto,
            &published,
            Action::CancelRerun { runs_seen: 1 },
            "cancel{} then rerun{}",
            true,
        ),
        (
            DispatchMode::Auto,
            &absent,
            Action::Rerun { runs_seen: 1 },
            "waits",
            false,
        ),
        (
            DispatchMode::Actions,
            &absent,
            Action::Rerun { runs_seen: 1 },
            "refused: NoActionsJson",
            false,
        ),
    ];
    for (mode, groups, action, expected, routed_to_wait) in rows {
        let mut plan = Plan {
            rows: vec![waiting(action)],
            ..Plan::default()
        };
        let routed = route(
            &mut plan,
            0,
            &RouteInput {
                mode,
                groups,
                tasks: &tasks,
            },
        );
        let fate = match (&plan.rows[0].decision, routed.first()) {
            (_, Some(_)) => fate(&plan, &routed, 0),
            (Decision::Wait(_), None) => "waits".to_owned(),
            _ => fate(&plan, &routed, 0),
        };
        assert_eq!(fate, expected, "{mode:?} {expected}");
        assert_eq!(routed.iter().any(|e| e.wait), routed_to_wait, "{expected}");
    }
}
