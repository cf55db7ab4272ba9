//! Which planned actions go through the repository's in-tree actions
//! (DESIGN.md §8, §12) and which go to the queue directly, decided once,
//! before the plan is stored, from what each task group's decision task
//! publishes. Pure: the I/O that gathers [`GroupActions`] is in the
//! pipeline.
//!
//! Mapping: rerun → `rerun`; `/retrigger N` → `retrigger` with `times: N`
//! (one `retrigger-multiple` when several retriggerable labels of a group
//! are copied by one command); a forced retrigger → `retrigger` with
//! `force: true`; cancel-then-rerun → `cancel`, then `rerun`. An action
//! that waits is routed the same way and sent when the wait fires. A forced
//! rerun of a completed task is not something taskgraph's `rerun` does
//! (failed or exception only): it goes to the queue. Without a
//! usable action, `dispatch: actions` refuses, and `dispatch: auto` sends
//! the action to the queue — except a copy of a release task, which only
//! the repository's own action can make so that it passes Chain of Trust.

use crate::policy::plan::{
    Action, ActionProblem, Decision, ForcedAction, Plan, PlanRow, Refusal, TaskClass, Warning,
};
use crate::policy::task::{TaskSnapshot, TaskState};
use crate::repo_config::DispatchMode;
use crate::taskcluster::actions::{scope_satisfied, ActionsJson, HookTrigger};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What one task group's decision task offers, as gathered before planning.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupActions {
    /// No `public/actions.json`.
    Absent,
    /// Published; `decision_scopes` are the decision task's scopes, with
    /// the roles they assume expanded (auth `expandScopes`).
    Published {
        actions: ActionsJson,
        decision_scopes: Vec<String>,
    },
    /// Published, but unreadable (`message` says why).
    Unusable(String),
}

/// Rows of one plan that one sequence of hook triggers carries out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Routed {
    /// The plan's index among the job's plans.
    pub plan: usize,
    /// Its rows (several for one `retrigger-multiple`), in order.
    pub rows: Vec<usize>,
    /// Sent in order, each after the one before took effect.
    pub triggers: Vec<HookTrigger>,
    /// The row waits (DESIGN.md §13): its triggers are sent when the wait
    /// fires (`follow::waits`), not with the job's dispatch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
}

/// What routing judges by.
pub struct RouteInput<'a> {
    pub mode: DispatchMode,
    /// By task group id.
    pub groups: &'a BTreeMap<String, GroupActions>,
    pub tasks: &'a [TaskSnapshot],
}

/// Routes the actions of `plan` (the `index`th of the job): the rows that
/// go through hooks are returned; rows that may go neither through hooks
/// nor to the queue become refusals; the others stay for the queue.
pub fn route(plan: &mut Plan, index: usize, input: &RouteInput) -> Vec<Routed> {
    if input.mode == DispatchMode::Queue {
        return Vec::new();
    }
    let mut routed = Vec::new();
    for (r, row) in plan.rows.iter_mut().enumerate() {
        let (action, wait) = match &row.decision {
            Decision::Act(action) => (action, false),
            Decision::Wait(w) => (&w.action, true),
            _ => continue,
        };
        // A row whose task is not among the groups' tasks has no group
        // actions to go through: judged as a group without actions.json
        // (refused in `actions` mode), never sent to the queue unasked.
        let task = input.tasks.iter().find(|t| t.task_id == row.task_id);
        let group = task.and_then(|t| input.groups.get(t.task_group_id.as_str()));
        let release_copy =
            matches!(action, Action::Retrigger { .. }) && row.class == TaskClass::Release;
        let triggers = match (task, group) {
            (
                Some(task),
                Some(GroupActions::Published {
                    actions,
                    decision_scopes,
                }),
            ) => triggers_for(actions, decision_scopes, task, row, action),
            (_, Some(GroupActions::Unusable(message))) => Err(ActionProblem::Unusable {
                action: first_action(action).to_owned(),
                message: message.clone(),
            }),
            _ => Err(ActionProblem::NoActionsJson),
        };
        let problem = match triggers {
            Ok(triggers) => {
                routed.push(Routed {
                    plan: index,
                    rows: vec![r],
                    triggers,
                    wait,
                });
                continue;
            }
            Err(problem) => problem,
        };
        let refusal = match (input.mode, problem) {
            (DispatchMode::Actions, problem) => Some(problem),
            // A decision task that may not trigger its own hook is
            // misconfigured or not what it seems: nothing goes ahead.
            (_, problem @ ActionProblem::HookNotAllowed { .. }) => Some(problem),
            (_, ActionProblem::NoActionsJson | ActionProblem::NoAction { .. }) if release_copy => {
                Some(ActionProblem::ReleaseCopyNeedsActions)
            }
            (_, problem) if release_copy => Some(problem),
            // Auto: the queue, as before in-tree actions.
            (_, _) => None,
        };
        if let Some(problem) = refusal {
            row.decision = Decision::Refuse(Refusal::InTreeAction { problem });
            // They were about the action, which does not happen.
            row.warnings.clear();
        }
    }
    combine_retriggers(plan, index, input, routed)
}

/// The hook triggers that carry out `action` on `task`, in order.
fn triggers_for(
    actions: &ActionsJson,
    decision_scopes: &[String],
    task: &TaskSnapshot,
    row: &PlanRow,
    action: &Action,
) -> Result<Vec<HookTrigger>, ActionProblem> {
    let one = |name: &str, input: Value| {
        let def =
            actions
                .select(name, Some(&task.tags))
                .ok_or_else(|| ActionProblem::NoAction {
                    action: name.to_owned(),
                })?;
        let trigger = actions
            .render(def, task.task_group_id.as_str(), Some(&task.task_id), input)
            .map_err(|e| ActionProblem::Unusable {
                action: name.to_owned(),
                message: e.to_string(),
            })?;
        allowed(trigger, decision_scopes)
    };
    match action {
        // taskgraph's `rerun` reruns failed or exception tasks only: a
        // forced rerun of a completed task is not one it would do.
        Action::Rerun { .. } if row.state == TaskState::Completed => Err(ActionProblem::Unusable {
            action: "rerun".to_owned(),
            message: "the repository's rerun action reruns only failed or exception tasks"
                .to_owned(),
        }),
        Action::Rerun { .. } => Ok(vec![one("rerun", json!({}))?]),
        Action::CancelRerun { .. } => Ok(vec![one("cancel", json!({}))?, one("rerun", json!({}))?]),
        Action::Retrigger { copies } => {
            let mut input = json!({ "times": copies.len() });
            if forced_copy(row) {
                input["force"] = Value::Bool(true);
            }
            Ok(vec![one("retrigger", input)?])
        }
    }
}

/// `trigger`, when the decision task's scopes satisfy
/// `in-tree:hook-action:<hookGroupId>/<hookId>`.
fn allowed(trigger: HookTrigger, decision_scopes: &[String]) -> Result<HookTrigger, ActionProblem> {
    if scope_satisfied(decision_scopes, &trigger.in_tree_scope()) {
        Ok(trigger)
    } else {
        Err(ActionProblem::HookNotAllowed {
            hook: format!("{}/{}", trigger.hook_group_id, trigger.hook_id),
        })
    }
}

/// The first action an action is carried out with.
fn first_action(action: &Action) -> &'static str {
    match action {
        Action::Rerun { .. } => "rerun",
        Action::CancelRerun { .. } => "cancel",
        Action::Retrigger { .. } => "retrigger",
    }
}

/// A copy the rules allowed only with `--force` (not a test task).
fn forced_copy(row: &PlanRow) -> bool {
    row.warnings.iter().any(|w| {
        matches!(
            w,
            Warning::Forced {
                what: ForcedAction::RetriggerNotRetriggerable | ForcedAction::RetriggerRelease
            }
        )
    })
}

/// Several unforced copies of retriggerable tasks of one group become one
/// `retrigger-multiple` (one action task instead of one per label), when
/// the decision task offers it. taskgraph's `retrigger-multiple` reruns
/// labels it does not consider retriggerable, so only tasks tagged
/// `retrigger: "true"` are combined.
fn combine_retriggers(
    plan: &Plan,
    index: usize,
    input: &RouteInput,
    routed: Vec<Routed>,
) -> Vec<Routed> {
    let mut by_group: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, entry) in routed.iter().enumerate() {
        let [trigger] = entry.triggers.as_slice() else {
            continue;
        };
        if entry.wait {
            continue;
        }
        let retriggerable = entry
            .rows
            .first()
            .and_then(|r| plan.rows.get(*r))
            .and_then(|row| input.tasks.iter().find(|t| t.task_id == row.task_id))
            .is_some_and(|t| t.tags.get("retrigger") == Some("true"));
        if trigger.action == "retrigger" && trigger.input.get("force").is_none() && retriggerable {
            by_group
                .entry(trigger.task_group_id.clone())
                .or_default()
                .push(n);
        }
    }
    let mut combined = Vec::new();
    let mut replaced = vec![false; routed.len()];
    for (group, members) in by_group {
        if members.len() < 2 {
            continue;
        }
        let Some(GroupActions::Published {
            actions,
            decision_scopes,
        }) = input.groups.get(&group)
        else {
            continue;
        };
        let Some(def) = actions.select("retrigger-multiple", None) else {
            continue;
        };
        // One request per number of copies, labels in row order.
        let mut requests: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut rows = Vec::new();
        for &n in &members {
            let entry = &routed[n];
            let times = entry.triggers[0]
                .input
                .get("times")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            for &r in &entry.rows {
                if let Some(row) = plan.rows.get(r) {
                    requests.entry(times).or_default().push(row.label.clone());
                    rows.push(r);
                }
            }
        }
        let requests: Vec<Value> = requests
            .into_iter()
            .map(|(times, tasks)| json!({ "tasks": tasks, "times": times }))
            .collect();
        let rendered = actions
            .render(def, &group, None, json!({ "requests": requests }))
            .ok()
            .and_then(|t| allowed(t, decision_scopes).ok());
        if let Some(trigger) = rendered {
            rows.sort_unstable();
            members.iter().for_each(|&n| replaced[n] = true);
            combined.push(Routed {
                plan: index,
                rows,
                triggers: vec![trigger],
                wait: false,
            });
        }
    }
    routed
        .into_iter()
        .zip(replaced)
        .filter_map(|(entry, gone)| (!gone).then_some(entry))
        .chain(combined)
        .collect()
}

#[cfg(test)]
mod tests;
