//! One row per rule of the §6 table and per bullet under it.

use crate::policy::task::{TaskSnapshot, TaskState::*};
use crate::policy::testutil::*;
use crate::policy::*;

struct Rule {
    name: &'static str,
    tasks: Vec<TaskSnapshot>,
    ctx: Ctx,
    command: Command,
    expect: fn(&Plan) -> bool,
}

fn ctx() -> Ctx {
    Ctx::default()
}
fn maintainer() -> Ctx {
    Ctx {
        role: Role::Maintain,
        ..Ctx::default()
    }
}
fn with(f: impl FnOnce(&mut Ctx)) -> Ctx {
    let mut c = Ctx::default();
    f(&mut c);
    c
}

fn only_row(p: &Plan) -> Option<&PlanRow> {
    (p.refusal.is_none() && p.rows.len() == 1).then(|| &p.rows[0])
}
fn row_decision(p: &Plan) -> Option<&Decision> {
    only_row(p).map(|r| &r.decision)
}
fn is_rerun(p: &Plan) -> bool {
    matches!(
        row_decision(p),
        Some(Decision::Act(Action::Rerun { runs_seen: 1 }))
    )
}
fn copies(p: &Plan) -> usize {
    match row_decision(p) {
        Some(Decision::Act(Action::Retrigger { copies })) => copies.len(),
        _ => 0,
    }
}
fn has_warning(p: &Plan, w: Warning) -> bool {
    only_row(p).is_some_and(|r| r.warnings.contains(&w))
}
fn refusal(p: &Plan) -> Option<&CommandRefusal> {
    p.refusal.as_ref().filter(|_| p.rows.is_empty())
}

fn rules() -> Vec<Rule> {
    // One failed task of the class, and a green one (keeps the failure
    // guard quiet for selector-less commands).
    let failed = |class: fn(TaskSnapshot) -> TaskSnapshot| {
        vec![class(task("T1", "a")), task("G1", "green").state(Completed)]
    };
    let id = |t: TaskSnapshot| t;
    let test = |t: TaskSnapshot| t.test();
    let release = |t: TaskSnapshot| t.release();
    vec![
        // ---- §6 table: /rerun of failed, exception
        Rule { name: "rerun failed test task", tasks: failed(test), ctx: ctx(), command: rerun(&[], false), expect: is_rerun },
        Rule { name: "rerun failed other task", tasks: failed(id), ctx: ctx(), command: rerun(&[], false), expect: is_rerun },
        Rule { name: "rerun failed release task", tasks: failed(release), ctx: ctx(), command: rerun(&[], false), expect: is_rerun },
        Rule { name: "rerun exception task", tasks: vec![task("T1", "a").state(Exception)], ctx: ctx(), command: rerun(&["a"], false), expect: is_rerun },
        // ---- completed
        Rule { name: "rerun completed is refused: green already", tasks: vec![task("T1", "a").state(Completed)], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::AlreadyGreen { force_role: Role::Maintain }))) },
        Rule { name: "rerun --force completed test task reruns, marked forced, no CoT", tasks: vec![task("T1", "a").test().state(Completed)], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| is_rerun(p) && has_warning(p, Warning::Forced { what: ForcedAction::RerunCompleted }) && !has_warning(p, Warning::ChainOfTrust) },
        Rule { name: "rerun --force completed other task reruns", tasks: vec![task("T1", "a").state(Completed)], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| is_rerun(p) && !has_warning(p, Warning::ChainOfTrust) },
        Rule { name: "rerun --force completed release task reruns with CoT warning", tasks: vec![task("T1", "a").release().state(Completed)], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| is_rerun(p) && has_warning(p, Warning::ChainOfTrust) },
        // ---- pending, running
        Rule { name: "rerun pending is skipped", tasks: vec![task("T1", "a").state(Pending)], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Skip(SkipReason::InProgress)) },
        Rule { name: "rerun running is skipped, even forced", tasks: vec![task("T1", "a").state(Running)], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Skip(SkipReason::InProgress)) },
        // ---- unscheduled
        Rule { name: "rerun unscheduled is refused: waits on dependencies", tasks: vec![task("D", "dep").state(Running), task("T1", "a").state(Unscheduled).runs(0).deps(&["D"])], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::WaitsOnDependencies { unresolved, .. })) if unresolved == &["dep".to_owned()]) },
        Rule { name: "rerun --force unscheduled with resolved dependencies cancels then reruns", tasks: vec![task("D1", "dep1").state(Completed), task("D2", "dep2").state(Failed), task("D3", "dep3").state(Exception), task("T1", "a").state(Unscheduled).runs(0).deps(&["D1", "D2", "D3"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Act(Action::CancelRerun { runs_seen: 0 })) && has_warning(p, Warning::Forced { what: ForcedAction::CancelRerun }) },
        Rule { name: "rerun --force unscheduled with an unresolved dependency is refused", tasks: vec![task("D1", "dep1").state(Completed), task("D2", "dep2").state(Pending), task("T1", "a").state(Unscheduled).runs(0).deps(&["D1", "D2", "GONE"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::DependenciesUnresolved { unresolved })) if unresolved == &["dep2".to_owned(), "GONE".to_owned()]) },
        Rule { name: "rerun --force unscheduled: dependencies outside the groups count by their looked-up state", tasks: vec![task("T1", "a").state(Unscheduled).runs(0).deps(&["DOCKER", "TOOLCHAIN"])],
            ctx: with(|c| { c.role = Role::Maintain; c.outside.states.insert("DOCKER".into(), Completed); c.outside.states.insert("TOOLCHAIN".into(), Failed); }), command: rerun(&["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Act(Action::CancelRerun { runs_seen: 0 })) },
        Rule { name: "rerun --force unscheduled: an outside dependency still running is unresolved", tasks: vec![task("T1", "a").state(Unscheduled).runs(0).deps(&["DOCKER"])],
            ctx: with(|c| { c.role = Role::Maintain; c.outside.states.insert("DOCKER".into(), Running); }), command: rerun(&["a"], true),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::DependenciesUnresolved { unresolved })) if unresolved == &["DOCKER".to_owned()]) },
        // ---- past deadline
        Rule { name: "rerun past deadline, test task: suggest /retrigger", tasks: vec![task("T1", "a").test().past_deadline()], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::Retrigger })) },
        Rule { name: "rerun past deadline, leaf release task: suggest /retrigger 1 --force", tasks: vec![task("T1", "a").release().past_deadline()], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::RetriggerForce })) },
        Rule { name: "rerun past deadline, release task with dependents: start a build 2 or use advanced release-promotion", tasks: vec![task("T1", "a").release().past_deadline().dependents(&["X"])], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::NewRelease })) },
        Rule { name: "rerun past deadline, other task with dependents: new push", tasks: vec![task("T1", "a").past_deadline().dependents(&["X"])], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::NewPush })) },
        Rule { name: "rerun --force of a completed task past deadline: the deadline, not 'green already'", tasks: vec![task("T1", "a").test().state(Completed).past_deadline()], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::Retrigger })) },
        // ---- 50 runs
        Rule { name: "rerun with 50 runs already is refused: run limit", tasks: vec![task("T1", "a").test().runs(50)], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::RunLimit { runs: 50, hint: Hint::Retrigger })) },
        // ---- /retrigger N
        Rule { name: "retrigger test task makes N copies", tasks: failed(test), ctx: ctx(), command: retrigger(3, &["a"], false), expect: |p| copies(p) == 3 },
        Rule { name: "retrigger other task is refused: not retriggerable", tasks: failed(id), ctx: ctx(), command: retrigger(3, &["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::NotRetriggerable { .. }))) },
        Rule { name: "retrigger release task is refused: disabled for release", tasks: failed(release), ctx: ctx(), command: retrigger(1, &["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::ReleaseRetriggerDisabled { .. }))) },
        Rule { name: "retrigger a completed test task (any state) makes copies", tasks: vec![task("T1", "a").test().state(Completed)], ctx: ctx(), command: retrigger(2, &["a"], false), expect: |p| copies(p) == 2 },
        // ---- /retrigger N --force
        Rule { name: "retrigger --force test task makes N copies", tasks: failed(test), ctx: maintainer(), command: retrigger(2, &["a"], true), expect: |p| copies(p) == 2 },
        Rule { name: "retrigger --force other task makes N copies, marked forced", tasks: failed(id), ctx: maintainer(), command: retrigger(2, &["a"], true),
            expect: |p| copies(p) == 2 && has_warning(p, Warning::Forced { what: ForcedAction::RetriggerNotRetriggerable }) },
        Rule { name: "retrigger --force release task: copies plus outside-graph warning naming dependents", tasks: vec![task("T1", "a").release().dependents(&["X", "Y"])], ctx: maintainer(), command: retrigger(1, &["a"], true),
            expect: |p| copies(p) == 1 && has_warning(p, Warning::CopyOutsideGraph { dependents: 2 }) },
        // ---- bullet: --force needs the force role
        Rule { name: "force without the force role is refused, saying which role", tasks: failed(id), ctx: ctx(), command: rerun(&["a"], true),
            expect: |p| refusal(p) == Some(&CommandRefusal::ForceNeedsRole { required: Role::Maintain, actual: Role::Write }) },
        Rule { name: "force role is configurable", tasks: vec![task("T1", "a").state(Completed)], ctx: with(|c| c.config.permissions.force = Role::Write), command: rerun(&["a"], true), expect: is_rerun },
        // ---- bullet: permissions
        Rule { name: "rerun below the rerun role is refused", tasks: failed(id), ctx: with(|c| c.role = Role::Read), command: rerun(&[], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::RoleTooLow { command: CommandKind::Rerun, required: Role::Write, actual: Role::Read, author_may_rerun: true }) },
        Rule { name: "retrigger below the retrigger role is refused", tasks: failed(test), ctx: with(|c| c.role = Role::Triage), command: retrigger(1, &[], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::RoleTooLow { command: CommandKind::Retrigger, required: Role::Write, actual: Role::Triage, author_may_rerun: false }) },
        Rule { name: "roles are configurable (rerun: triage)", tasks: failed(id), ctx: with(|c| { c.role = Role::Triage; c.config.permissions.rerun = Role::Triage }), command: rerun(&[], false), expect: is_rerun },
        // ---- bullet: pr_author_rerun
        Rule { name: "pr author may rerun failed tasks of their pull request", tasks: failed(id), ctx: with(|c| { c.role = Role::Read; c.author = true }), command: rerun(&[], false), expect: is_rerun },
        Rule { name: "pr author may not rerun the merge commit's (release) tasks of a merged pull request", tasks: failed(id), ctx: with(|c| { c.role = Role::Read; c.author = true; c.pr = PrState::Merged }), command: rerun(&[], false),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::RoleTooLow { .. })) },
        Rule { name: "pr author may not rerun when pr_author_rerun is off", tasks: failed(id), ctx: with(|c| { c.role = Role::Read; c.author = true; c.config.permissions.pr_author_rerun = false }), command: rerun(&[], false),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::RoleTooLow { .. })) },
        Rule { name: "pr author may not retrigger on authorship alone", tasks: failed(test), ctx: with(|c| { c.role = Role::Read; c.author = true }), command: retrigger(1, &[], false),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::RoleTooLow { .. })) },
        Rule { name: "pr author may not force on authorship alone", tasks: vec![task("T1", "a").state(Completed)], ctx: with(|c| { c.role = Role::Read; c.author = true }), command: rerun(&["a"], true),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::RoleTooLow { .. })) },
        Rule { name: "pr author still cannot rerun a completed task", tasks: vec![task("T1", "a").state(Completed)], ctx: with(|c| { c.role = Role::None; c.author = true }), command: rerun(&["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::AlreadyGreen { .. }))) },
        // ---- bullet: limits
        Rule { name: "max_retrigger: N over the limit is refused", tasks: failed(test), ctx: ctx(), command: retrigger(11, &["a"], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::CountOutOfRange { count: 11, max: 10 }) },
        Rule { name: "max_retrigger: N at the limit is fine", tasks: failed(test), ctx: ctx(), command: retrigger(10, &["a"], false), expect: |p| copies(p) == 10 },
        Rule { name: "max_new_tasks: a command creating more tasks is refused whole", tasks: (0..6).map(|i| task(&format!("T{i}"), &format!("t{i}")).test()).collect(), ctx: with(|c| c.config.limits.max_failure_percent = 100), command: retrigger(10, &[], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::TooManyNewTasks { requested: 60, max: 50, earlier: 0 }) },
        Rule { name: "max_reruns_per_task: the ledger's reruns of the label count", tasks: failed(id), ctx: with(|c| { c.ledger.reruns_by_task.insert("T1".into(), 3); }), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::RerunLimitPerTask { limit: 3, done: 3 })) },
        Rule { name: "max_reruns_per_task: a failed copy has its own budget, not the original's", tasks: vec![task("T1", "a"), task("T2", "a")], ctx: with(|c| { c.ledger.reruns_by_task.insert("T1".into(), 3); }), command: rerun(&["a"], false),
            expect: |p| p.rows.len() == 2 && matches!(p.rows[0].decision, Decision::Refuse(Refusal::RerunLimitPerTask { .. })) && matches!(p.rows[1].decision, Decision::Act(_)) },
        Rule { name: "max_failure_percent: bulk command refused when most tasks failed", tasks: vec![task("T1", "a"), task("T2", "b"), task("T3", "c").state(Completed)], ctx: ctx(), command: rerun(&[], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::FailureGuard { failed: 2, total: 3, max_percent: 50 }) },
        Rule { name: "max_failure_percent: exactly at the limit is allowed", tasks: vec![task("T1", "a"), task("T2", "b").state(Completed)], ctx: ctx(), command: rerun(&[], false), expect: is_rerun },
        Rule { name: "max_failure_percent: --force overrides the guard, with a warning", tasks: vec![task("T1", "a"), task("T2", "b"), task("T3", "c").state(Completed)], ctx: maintainer(), command: rerun(&[], true),
            expect: |p| p.rows.len() == 2 && p.warnings.contains(&Warning::FailureGuardOverridden { failed: 2, total: 3, max_percent: 50 }) },
        Rule { name: "max_failure_percent: a command with selectors is not guarded", tasks: vec![task("T1", "a"), task("T2", "b")], ctx: ctx(), command: rerun(&["a"], false), expect: is_rerun },
        Rule { name: "max_failure_percent: `*` is the bulk command and guarded like it", tasks: vec![task("T1", "a"), task("T2", "b"), task("T3", "c").state(Completed)], ctx: ctx(), command: rerun(&["*"], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::FailureGuard { failed: 2, total: 3, max_percent: 50 }) },
        Rule { name: "max_failure_percent: retrigger without selector is guarded too", tasks: vec![task("T1", "a").test(), task("T2", "b").test()], ctx: ctx(), command: retrigger(1, &[], false),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::FailureGuard { .. })) },
        // ---- issue 11.1: cancel-then-rerun and the artifacts of a failed dependency
        Rule { name: "11.1 rerun --force unscheduled that consumes a failed dependency's artifacts is refused, naming it", tasks: vec![task("D1", "poller").state(Failed), task("T1", "a").release().state(Unscheduled).runs(0).deps(&["D1"]).consumes(&["D1"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::ConsumesArtifacts { dependency: "poller".into() })) },
        Rule { name: "11.1 rerun --force unscheduled that uses no artifact of the failed dependency cancels then reruns", tasks: vec![task("D1", "poller").state(Failed), task("D2", "signed").state(Completed), task("T1", "a").state(Unscheduled).runs(0).deps(&["D1", "D2"]).consumes(&["D2"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Act(Action::CancelRerun { runs_seen: 0 })) },
        Rule { name: "§6/§13 rerun --force unscheduled while another dependency still runs: the cancel-then-rerun waits for it", tasks: vec![task("D1", "poller").state(Failed), task("D2", "other").state(Running), task("T1", "a").state(Unscheduled).runs(0).deps(&["D1", "D2"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| matches!(row_decision(p), Some(Decision::Wait(w)) if w.kind == WaitKind::ForcedCancel && w.action == Action::CancelRerun { runs_seen: 0 } && w.on.len() == 1 && w.on[0].label == "other" && w.on[0].run_id == 0 && !w.on[0].consumed) },
        Rule { name: "§6/§13 the forced wait remembers which running dependency's artifacts it uses (judged again when it resolves)", tasks: vec![task("D1", "poller").state(Failed), task("D2", "other").state(Running).runs(2), task("T1", "a").state(Unscheduled).runs(0).deps(&["D1", "D2"]).consumes(&["D2"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| matches!(row_decision(p), Some(Decision::Wait(w)) if w.on[0].run_id == 1 && w.on[0].consumed) },
        Rule { name: "§6 rerun --force unscheduled with no failed dependency, one running: refused (the queue schedules it), no wait", tasks: vec![task("D2", "other").state(Running), task("T1", "a").state(Unscheduled).runs(0).deps(&["D2"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::DependenciesUnresolved { unresolved })) if unresolved == &["other".to_owned()]) },
        Rule { name: "§6 rerun --force unscheduled behind another unscheduled dependency: refused (it may never run)", tasks: vec![task("D1", "poller").state(Failed), task("D2", "other").state(Unscheduled).runs(0), task("T1", "a").state(Unscheduled).runs(0).deps(&["D1", "D2"])], ctx: maintainer(), command: rerun(&["a"], true),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::DependenciesUnresolved { unresolved })) if unresolved == &["other".to_owned()]) },
        Rule { name: "§6/§13 a rerun whose dependency an earlier command of the comment reruns waits for that new run (notarization part 1 → poller)", tasks: vec![task("P1", "part-1").state(Completed), task("T1", "poller").deps(&["P1"])], ctx: with(|c| { c.ledger.rerun_in_comment.insert("P1".into()); c.ledger.reruns_by_task.insert("P1".into(), 1); }), command: rerun(&["poller"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Wait(w)) if w.kind == WaitKind::AfterRerun && w.action == Action::Rerun { runs_seen: 1 } && w.on.len() == 1 && w.on[0].label == "part-1" && w.on[0].run_id == 1) },
        Rule { name: "§6/§13 a rerun whose dependency an earlier comment reruns, still running, waits for that run", tasks: vec![task("P1", "part-1").state(Running).runs(2), task("T1", "poller").deps(&["P1"])], ctx: with(|c| { c.ledger.reruns_by_task.insert("P1".into(), 1); }), command: rerun(&["poller"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Wait(w)) if w.on.len() == 1 && w.on[0].run_id == 1) },
        Rule { name: "§6 a dependency an earlier comment reran that already completed: no wait, a plain rerun", tasks: vec![task("P1", "part-1").state(Completed).runs(2), task("T1", "poller").deps(&["P1"])], ctx: with(|c| { c.ledger.reruns_by_task.insert("P1".into(), 1); }), command: rerun(&["poller"], false),
            expect: is_rerun },
        Rule { name: "§6 a dependency merely running (not rerun by the app) is no reason to wait", tasks: vec![task("P1", "part-1").state(Running).runs(1), task("T1", "poller").deps(&["P1"])], ctx: ctx(), command: rerun(&["poller"], false),
            expect: is_rerun },
        Rule { name: "§6/§13 a waiting rerun counts against max_reruns_per_task like one sent now", tasks: vec![task("P1", "part-1").state(Completed), task("T1", "poller").deps(&["P1"])], ctx: with(|c| { c.ledger.rerun_in_comment.insert("P1".into()); c.ledger.reruns_by_task.insert("T1".into(), 3); }), command: rerun(&["poller"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::RerunLimitPerTask { .. }))) },
        // ---- issue 11.2: failed/exception that never ran is judged as unscheduled
        Rule { name: "11.2 rerun of a task canceled while unscheduled behind a failed build is refused: rerun the build first", tasks: vec![task("B", "build").state(Failed), task("T1", "test-a").test().state(Exception).never_ran("canceled").deps(&["B"]), task("G", "green").state(Completed)], ctx: ctx(), command: rerun(&["test-*"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::DependencyFailed { failed, .. })) if failed == &["build".to_owned()]) },
        Rule { name: "11.2 deadline passed while waiting on a running dependency: waits like unscheduled", tasks: vec![task("B", "build").state(Running), task("T1", "a").state(Exception).never_ran("deadline-exceeded").deps(&["B"])], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::WaitsOnDependencies { unresolved, .. })) if unresolved == &["build".to_owned()]) },
        Rule { name: "11.2 canceled while unscheduled, dependencies all completed: a plain rerun", tasks: vec![task("B", "build").state(Completed), task("T1", "a").state(Exception).never_ran("canceled").deps(&["B"])], ctx: ctx(), command: rerun(&["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Act(Action::Rerun { .. }))) },
        Rule { name: "11.2/§13 the bulk rerun reruns the build, and the test waits for the build's new run", tasks: vec![task("B", "build").state(Failed), task("T1", "test-a").state(Exception).never_ran("canceled").deps(&["B"]), task("G1", "g1").state(Completed), task("G2", "g2").state(Completed)], ctx: ctx(), command: rerun(&[], false),
            expect: |p| p.rows.len() == 2 && matches!(p.rows[0].decision, Decision::Act(Action::Rerun { .. })) && matches!(&p.rows[1].decision, Decision::Wait(w) if w.kind == WaitKind::AfterRerun && w.on.len() == 1 && w.on[0].label == "build" && w.on[0].run_id == 1) },
        Rule { name: "11.2 a dependency rerun by an earlier command: rerun X first; Y when X's new run completes", tasks: vec![task("B", "build").state(Failed), task("T1", "a").state(Unscheduled).runs(0).deps(&["B"])], ctx: with(|c| { c.ledger.reruns_by_task.insert("B".into(), 1); }), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::AfterDependencyRerun { dependency: "build".into() })) },
        // ---- issue 11.3: leaf release tasks across groups, phases, one copy
        Rule { name: "11.3 past deadline, release task with dependents in another group (listDependentTasks): start a build 2", tasks: vec![task("T1", "a").release().past_deadline()], ctx: with(|c| { c.outside.dependents.insert("T1".into(), vec!["LATER".into()]); }), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::NewRelease })) },
        Rule { name: "11.3 past deadline, release task with a dependency in an earlier phase's group: not a leaf", tasks: vec![task("T1", "a").release().past_deadline().deps(&["EARLIER"])], ctx: with(|c| { c.outside.states.insert("EARLIER".into(), Completed); }), command: rerun(&["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::PastDeadline { hint: Hint::NewRelease })) },
        Rule { name: "11.3 retrigger --force of a release task makes one copy; N > 1 is refused", tasks: vec![task("T1", "a").release()], ctx: maintainer(), command: retrigger(3, &["a"], true),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::ReleaseOneCopy)) },
        Rule { name: "11.3 retrigger --force of a release task counts dependents across groups", tasks: vec![task("T1", "a").release().dependents(&["X"])], ctx: with(|c| { c.role = Role::Maintain; c.outside.dependents.insert("T1".into(), vec!["X".into(), "LATER".into()]); }), command: retrigger(1, &["a"], true),
            expect: |p| copies(p) == 1 && has_warning(p, Warning::CopyOutsideGraph { dependents: 2 }) },
        Rule { name: "11.3 retrigger --force of a post-build phase task warns it may recreate on-push dependencies", tasks: vec![task("GROUP", "Action: Release Promotion").state(Completed).kind("action-callback"), task("T1", "a").release().deps(&["GROUP"])], ctx: maintainer(), command: retrigger(1, &["a"], true),
            expect: |p| copies(p) == 1 && has_warning(p, Warning::PostBuildPhase) },
        // ---- issue 11.4: a copy that cannot run
        Rule { name: "11.4 retrigger of a task whose dependency failed is refused: rerun the dependency", tasks: vec![task("B", "build").state(Failed), task("T1", "a").test().deps(&["B"])], ctx: ctx(), command: retrigger(2, &["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::CopyWouldWait { dependency: "build".into(), failed: true })) },
        Rule { name: "11.4 retrigger of an unscheduled task is refused", tasks: vec![task("B", "build").state(Running), task("T1", "a").test().state(Unscheduled).runs(0).deps(&["B"])], ctx: ctx(), command: retrigger(1, &["a"], false),
            expect: |p| row_decision(p) == Some(&Decision::Refuse(Refusal::CopyWouldWait { dependency: "build".into(), failed: false })) },
        // ---- issue 11.5: outside dependencies of the selected tasks
        Rule { name: "11.5 plain rerun behind a failed outside dependency names it, not 'not finished'", tasks: vec![task("T1", "a").state(Unscheduled).runs(0).deps(&["TOOLCHAIN"])], ctx: with(|c| { c.outside.states.insert("TOOLCHAIN".into(), Failed); }), command: rerun(&["a"], false),
            expect: |p| matches!(row_decision(p), Some(Decision::Refuse(Refusal::DependencyFailed { failed, .. })) if failed == &["TOOLCHAIN".to_owned()]) },
        // ---- issue 11.6: release classification by kind
        Rule { name: "11.6 a release-graph kind on a build pool is release (CoT warning)", tasks: vec![task("T1", "release-generate-checksums-firefox").kind("release-generate-checksums").state(Completed)], ctx: maintainer(), command: rerun(&["release-generate-checksums-firefox"], true),
            expect: |p| is_rerun(p) && has_warning(p, Warning::ChainOfTrust) },
        // ---- issue 11.7: failure guard
        Rule { name: "11.7 failure guard counts resolved tasks only, without decision/action tasks and earlier copies", tasks: vec![task("GROUP", "decision").state(Completed), task("T1", "a"), task("T1b", "a").created_mins_ago(5).state(Completed), task("T2", "b").state(Completed), task("P", "p").state(Pending), task("U", "u").state(Unscheduled)], ctx: ctx(), command: rerun(&[], false),
            expect: |p| refusal(p).is_none() && p.rows.len() == 1 },
        Rule { name: "11.7 failure guard: unresolved tasks do not dilute the denominator", tasks: vec![task("T1", "a"), task("T2", "b").state(Completed), task("T3", "c"), task("P1", "p1").state(Pending), task("P2", "p2").state(Pending)], ctx: ctx(), command: rerun(&[], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::FailureGuard { failed: 2, total: 3, max_percent: 50 }) },
        Rule { name: "11.7 failure guard applies to a glob matching more than 5 tasks", tasks: (0..6).map(|i| task(&format!("T{i}"), &format!("t{i}"))).chain([task("G", "green").state(Completed)]).collect(), ctx: ctx(), command: rerun(&["?*"], false),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::FailureGuard { failed: 6, total: 7, .. })) },
        Rule { name: "11.7 a glob matching 5 tasks or fewer is not guarded", tasks: (0..5).map(|i| task(&format!("T{i}"), &format!("t{i}"))).collect(), ctx: ctx(), command: rerun(&["t*"], false),
            expect: |p| refusal(p).is_none() && p.rows.len() == 5 },
        // ---- issue 11.8: limits
        Rule { name: "11.8 max_new_tasks is per comment: earlier commands' copies count", tasks: failed(test), ctx: with(|c| c.ledger.new_tasks_in_comment = 45), command: retrigger(6, &["a"], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::TooManyNewTasks { requested: 6, max: 50, earlier: 45 }) },
        Rule { name: "11.8 max_reruns_per_command", tasks: (0..4).map(|i| task(&format!("T{i}"), &format!("t{i}"))).collect(), ctx: with(|c| c.config.limits.max_reruns_per_command = 3), command: rerun(&["t0", "t1", "t2", "t3"], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::TooManyReruns { requested: 4, max: 3 }) },
        Rule { name: "11.8 max_retriggers_per_sha counts the commit's earlier copies", tasks: failed(test), ctx: with(|c| c.ledger.copies = 198), command: retrigger(3, &["a"], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::TooManyCopiesForCommit { requested: 3, done: 198, max: 200 }) },
        // ---- issue 11.10: merged pull request role refusal
        Rule { name: "11.10 merged pull request: the role refusal does not offer the author exemption", tasks: failed(id), ctx: with(|c| { c.role = Role::Read; c.pr = PrState::Merged }), command: rerun(&[], false),
            expect: |p| matches!(refusal(p), Some(CommandRefusal::RoleTooLow { author_may_rerun: false, .. })) },
        // ---- bullet: merged and closed pull requests
        Rule { name: "merged pull request acts normally, saying it uses the merge commit", tasks: failed(release), ctx: with(|c| c.pr = PrState::Merged), command: rerun(&[], false),
            expect: |p| is_rerun(p) && p.warnings == vec![Warning::MergedPullRequest] },
        Rule { name: "closed unmerged pull request is refused", tasks: failed(id), ctx: with(|c| c.pr = PrState::Closed), command: rerun(&[], false),
            expect: |p| refusal(p) == Some(&CommandRefusal::PullRequestClosed) },
    ]
}

#[test]
fn every_rule_of_the_table_and_its_bullets() {
    let mut failures = Vec::new();
    for rule in rules() {
        let plan = rule.ctx.plan(&rule.command, &rule.tasks);
        if !(rule.expect)(&plan) {
            failures.push(format!("{}: {:#?}", rule.name, plan));
        }
    }
    assert!(
        failures.is_empty(),
        "rules broken:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn a_plan_with_a_command_refusal_has_no_actions() {
    let p = Ctx::default().plan(&rerun(&[], true), &[task("T1", "a")]);
    assert!(p.refusal.is_some());
    assert_eq!(p.actions().count(), 0);
}

#[test]
fn plan_round_trips_through_json() {
    let tasks = vec![task("T1", "a").release().dependents(&["X"])];
    let p = Ctx {
        role: Role::Admin,
        ..Ctx::default()
    }
    .plan(&retrigger(2, &["a"], true), &tasks);
    let text = serde_json::to_string(&p).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    // Skips and refusals with data, and unmatched selectors, too.
    let tasks = vec![
        task("T1", "a").state(Running),
        task("T2", "b").state(Completed),
        task("T3", "c").state(Unscheduled).deps(&["T1"]),
        task("T4", "d").test().past_deadline(),
        task("T5", "e"),
    ];
    let p = Ctx::default().plan(&rerun(&["a", "b", "c", "d", "e", "zz"], false), &tasks);
    assert_eq!(p.rows.len(), 5);
    assert_eq!(p.unmatched.len(), 1);
    let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn role_from_permission_response() {
    let rows: &[(Option<&str>, Option<&str>, Role)] = &[
        (Some("admin"), Some("admin"), Role::Admin),
        (Some("maintain"), Some("write"), Role::Maintain),
        (Some("write"), Some("write"), Role::Write),
        (Some("triage"), Some("read"), Role::Triage),
        (Some("read"), Some("read"), Role::Read),
        (Some("security-manager"), Some("write"), Role::Write),
        (Some("custom-reviewer"), Some("read"), Role::Read),
        (None, Some("admin"), Role::Admin),
        (Some("custom"), None, Role::None),
        (None, None, Role::None),
        (None, Some("bogus"), Role::None),
    ];
    for (role_name, permission, want) in rows {
        assert_eq!(
            Role::from_permission_response(*role_name, *permission),
            *want,
            "{role_name:?} / {permission:?}"
        );
    }
    assert!(Role::None < Role::Read && Role::Read < Role::Triage && Role::Triage < Role::Write);
    assert!(Role::Write < Role::Maintain && Role::Maintain < Role::Admin);
}

#[test]
fn copy_ids_are_deterministic_distinct_and_slugid_shaped() {
    let d = DeliveryId::new("d");
    let t = crate::types::TaskId::new("T");
    let a = copy_ids(&d, &t, 0, 3);
    assert_eq!(a, copy_ids(&d, &t, 0, 3));
    let b = copy_ids(&d, &t, 1, 3);
    let all: std::collections::BTreeSet<_> = a.iter().chain(&b).collect();
    assert_eq!(all.len(), 6, "copies of two commands must not collide");
    for id in &a {
        assert_eq!(id.as_str().len(), 22);
        assert!(id.as_str().starts_with(|c: char| c.is_ascii_alphabetic()));
    }
}

#[test]
fn ledger_record_counts_reruns_per_label() {
    let p = Ctx::default().plan(&rerun(&["a"], false), &[task("T1", "a")]);
    let mut ledger = Ledger::default();
    ledger.record(&p);
    assert_eq!(ledger.reruns_by_task.get("T1"), Some(&1));
}
