//! Properties no plan may break, whatever the tasks, command, actor and
//! configuration.

use crate::policy::task::{TaskSnapshot, TaskState};
use crate::policy::testutil::*;
use crate::policy::*;
use proptest::prelude::*;

fn arb_state() -> impl Strategy<Value = TaskState> {
    prop_oneof![
        Just(TaskState::Unscheduled),
        Just(TaskState::Pending),
        Just(TaskState::Running),
        Just(TaskState::Completed),
        Just(TaskState::Failed),
        Just(TaskState::Exception),
    ]
}

fn arb_role() -> impl Strategy<Value = Role> {
    (0usize..6).prop_map(|i| Role::ALL[i])
}

fn arb_task(i: usize) -> impl Strategy<Value = TaskSnapshot> {
    (
        arb_state(),
        0u8..3,
        0u32..52,
        any::<bool>(),
        0usize..4,
        0usize..3,
    )
        .prop_map(move |(state, class, runs, late, label, deps)| {
            let mut t = task(&format!("T{i}"), &format!("label-{label}"))
                .state(state)
                .runs(runs);
            t = match class {
                0 => t.release(),
                1 => t.test(),
                _ => t,
            };
            if late {
                t = t.past_deadline();
            }
            let dep_ids: Vec<String> = (0..deps).map(|d| format!("T{d}")).collect();
            t.dependencies = dep_ids.into_iter().map(crate::types::TaskId::new).collect();
            t
        })
}

fn arb_tasks() -> impl Strategy<Value = Vec<TaskSnapshot>> {
    (0usize..12).prop_flat_map(|n| (0..n).map(arb_task).collect::<Vec<_>>())
}

fn arb_command() -> impl Strategy<Value = Command> {
    let selectors = prop::collection::vec(
        prop_oneof![
            (0usize..5).prop_map(|l| format!("label-{l}")),
            (0usize..12).prop_map(|i| format!("T{i}")),
            Just("label-*".to_owned()),
        ],
        0..3,
    );
    (any::<bool>(), 0u32..25, selectors, any::<bool>()).prop_map(|(rerun, n, selectors, force)| {
        if rerun {
            Command::Rerun { selectors, force }
        } else {
            Command::Retrigger {
                times: n,
                selectors,
                force,
            }
        }
    })
}

fn arb_ctx() -> impl Strategy<Value = Ctx> {
    (
        arb_role(),
        any::<bool>(),
        arb_role(),
        arb_role(),
        arb_role(),
        any::<bool>(),
        1u32..30,
        1u32..60,
        1u32..4,
        0u32..101,
        0usize..3,
    )
        .prop_map(
            |(
                role,
                author,
                rerun_r,
                retrigger_r,
                force_r,
                par,
                max_rt,
                max_new,
                max_rr,
                pct,
                done,
            )| {
                let mut c = Ctx {
                    role,
                    author,
                    ..Ctx::default()
                };
                let p = &mut c.config.permissions;
                (p.rerun, p.retrigger, p.force, p.pr_author_rerun) =
                    (rerun_r, retrigger_r, force_r, par);
                let l = &mut c.config.limits;
                (
                    l.max_retrigger,
                    l.max_new_tasks,
                    l.max_reruns_per_task,
                    l.max_failure_percent,
                ) = (max_rt, max_new, max_rr, pct);
                c.ledger.reruns_by_task.insert("T0".into(), done as u32);
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_plan_breaks_the_rules(tasks in arb_tasks(), command in arb_command(), ctx in arb_ctx()) {
        let plan = ctx.plan(&command, &tasks);
        let (force, kind) = match &command {
            Command::Rerun { force, .. } => (*force, CommandKind::Rerun),
            Command::Retrigger { force, .. } => (*force, CommandKind::Retrigger),
            Command::Help => unreachable!(),
        };
        let perms = &ctx.config.permissions;
        let acts = plan.actions().count() > 0;
        if plan.refusal.is_some() {
            prop_assert!(!acts, "a refused command has no action");
        }
        // Nobody below the required role gets an action.
        if acts {
            let allowed = match kind {
                CommandKind::Rerun => ctx.role >= perms.rerun || (perms.pr_author_rerun && ctx.author && !force),
                CommandKind::Retrigger => ctx.role >= perms.retrigger,
            };
            prop_assert!(allowed, "action for an actor below the required role");
            if force {
                prop_assert!(ctx.role >= perms.force, "forced action without the force role");
            }
        }
        prop_assert!(plan.new_tasks() <= ctx.config.limits.max_new_tasks as usize);
        for (row, action) in plan.actions() {
            match action {
                Action::Rerun { .. } => {
                    prop_assert!(force || row.state != TaskState::Completed, "rerun of a completed task without force");
                    prop_assert!(row.state.is_resolved());
                }
                Action::CancelRerun { .. } => {
                    prop_assert!(force && row.state == TaskState::Unscheduled);
                }
                Action::Retrigger { copies } => {
                    prop_assert!(force || row.class == TaskClass::Test, "retrigger of a release or non-retriggerable task without force");
                    prop_assert!(copies.len() as u32 <= ctx.config.limits.max_retrigger);
                }
            }
        }
        let task = |id: &crate::types::TaskId| tasks.iter().find(|t| &t.task_id == id);
        for row in &plan.rows {
            if let (Decision::Act(Action::Rerun { .. } | Action::CancelRerun { .. }), Some(t)) = (&row.decision, task(&row.task_id)) {
                prop_assert!(t.runs < 50 && t.deadline >= now(), "rerun the queue would refuse");
            }
        }
    }
}
