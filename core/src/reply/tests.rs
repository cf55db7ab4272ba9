//! Reply snapshots (insta) for every decision kind, command refusals,
//! malformed commands, configuration and comment errors, help, a 300-task
//! reply; size-cap and reaction tests.

use super::*;
use crate::command::{CommandError, CommentError};
use crate::outcome::DispatchError;
use crate::policy::plan::*;
use crate::policy::task::TaskState;
use crate::types::TaskId;

mod limits;

pub(super) const ROOT: &str = "https://firefox-ci-tc.services.mozilla.com";

pub(super) fn login() -> Login {
    Login::new("alice")
}

pub(super) fn row(
    id: &str,
    label: &str,
    class: TaskClass,
    state: TaskState,
    decision: Decision,
) -> PlanRow {
    PlanRow {
        task_id: TaskId::new(id),
        label: label.to_owned(),
        name: label.to_owned(),
        class,
        state,
        decision,
        warnings: Vec::new(),
    }
}

pub(super) fn ids(prefix: &str, n: usize) -> Vec<TaskId> {
    (0..n)
        .map(|i| TaskId::new(format!("{prefix}{i}xQ2wErTyUiOpAsDfGhJ")))
        .collect()
}

pub(super) fn plan_of(rows: Vec<PlanRow>) -> Plan {
    Plan {
        rows,
        ..Plan::default()
    }
}

pub(super) fn planned<'a>(
    text: &'a str,
    plan: &'a Plan,
    outcomes: &'a [ActionOutcome],
) -> ReplySection<'a> {
    ReplySection::Planned {
        command_text: text,
        plan,
        outcomes,
        force_role: Role::Maintain,
    }
}

pub(super) fn render_one(section: ReplySection) -> String {
    render(&ReplyInput {
        author: &login(),
        root_url: ROOT,
        sections: vec![section],
        followed: None,
    })
}

/// Actions and their outcomes: rerun, cancel-rerun, retrigger, failures.
#[test]
fn actions_and_outcomes() {
    use TaskClass::*;
    use TaskState::*;
    let mut forced = row(
        "Cr1",
        "build-signing",
        Other,
        Unscheduled,
        Decision::Act(Action::CancelRerun { runs_seen: 0 }),
    );
    forced.warnings = vec![Warning::Forced {
        what: ForcedAction::CancelRerun,
    }];
    let mut cot = row(
        "Rel",
        "beetmover-repackage",
        Release,
        Completed,
        Decision::Act(Action::Rerun { runs_seen: 1 }),
    );
    cot.warnings = vec![
        Warning::Forced {
            what: ForcedAction::RerunCompleted,
        },
        Warning::ChainOfTrust,
    ];
    let mut copy = row(
        "Sig",
        "signing-apk",
        Release,
        Failed,
        Decision::Act(Action::Retrigger {
            copies: ids("s", 1),
        }),
    );
    copy.warnings = vec![
        Warning::Forced {
            what: ForcedAction::RetriggerRelease,
        },
        Warning::CopyOutsideGraph { dependents: 3 },
    ];
    let plan = Plan {
        rows: vec![
            row(
                "Aa1",
                "test-linux64/opt-mochitest-1",
                Test,
                Failed,
                Decision::Act(Action::Retrigger {
                    copies: ids("c", 3),
                }),
            ),
            row(
                "Bb2",
                "build-linux64/opt",
                Other,
                Exception,
                Decision::Act(Action::Rerun { runs_seen: 1 }),
            ),
            forced,
            cot,
            copy,
            row(
                "Pp1",
                "test-pending",
                Test,
                Failed,
                Decision::Act(Action::Rerun { runs_seen: 1 }),
            ),
            row(
                "Ff1",
                "test-scopes",
                Test,
                Failed,
                Decision::Act(Action::Retrigger {
                    copies: ids("f", 2),
                }),
            ),
            row(
                "Ff2",
                "lint | pipes",
                Other,
                Failed,
                Decision::Act(Action::Rerun { runs_seen: 2 }),
            ),
        ],
        warnings: vec![Warning::MergedPullRequest],
        ..Plan::default()
    };
    let outcomes = vec![
        ActionOutcome::Retriggered { task_ids: ids("c", 3) },
        ActionOutcome::Rerun { run_id: Some(1) },
        ActionOutcome::CancelRerun { run_id: Some(1) },
        ActionOutcome::Rerun { run_id: None },
        ActionOutcome::Retriggered { task_ids: ids("s", 1) },
        ActionOutcome::Pending,
        ActionOutcome::Failed {
            error: DispatchError::InsufficientScopes {
                message: "Client ID rerunbot does not have sufficient scopes: queue:create-task:highest:proj-gecko/t-linux".into(),
            },
            created: ids("f", 1),
        },
        ActionOutcome::Failed { error: DispatchError::RunLimit, created: vec![] },
    ];
    insta::assert_snapshot!(render_one(planned("/rerun --force", &plan, &outcomes)));
}

/// Every skip and refusal of a task.
#[test]
fn skips_and_refusals() {
    use TaskClass::*;
    use TaskState::*;
    let f = Role::Maintain;
    let plan = plan_of(vec![
        row(
            "S1",
            "test-running",
            Test,
            Running,
            Decision::Skip(SkipReason::InProgress),
        ),
        row(
            "S2",
            "test-pending",
            Test,
            Pending,
            Decision::Skip(SkipReason::InProgress),
        ),
        row(
            "G1",
            "build-green",
            Other,
            Completed,
            Decision::Refuse(Refusal::AlreadyGreen { force_role: f }),
        ),
        row(
            "W1",
            "test-waiting",
            Test,
            Unscheduled,
            Decision::Refuse(Refusal::WaitsOnDependencies {
                unresolved: vec!["build-linux64/opt".into()],
                force_role: f,
            }),
        ),
        row(
            "W2",
            "test-blocked",
            Test,
            Unscheduled,
            Decision::Refuse(Refusal::WaitsOnDependencies {
                unresolved: vec![],
                force_role: f,
            }),
        ),
        row(
            "U1",
            "test-unresolved",
            Test,
            Unscheduled,
            Decision::Refuse(Refusal::DependenciesUnresolved {
                unresolved: (1..=7).map(|i| format!("dep-{i}")).collect(),
            }),
        ),
        row(
            "D1",
            "test-late",
            Test,
            Failed,
            Decision::Refuse(Refusal::PastDeadline {
                hint: Hint::Retrigger,
            }),
        ),
        row(
            "D2",
            "signing-late",
            Release,
            Failed,
            Decision::Refuse(Refusal::PastDeadline {
                hint: Hint::RetriggerForce,
            }),
        ),
        row(
            "D3",
            "build-late",
            Other,
            Failed,
            Decision::Refuse(Refusal::PastDeadline {
                hint: Hint::NewPush,
            }),
        ),
        row(
            "R1",
            "test-runs",
            Test,
            Failed,
            Decision::Refuse(Refusal::RunLimit {
                runs: 50,
                hint: Hint::Retrigger,
            }),
        ),
        row(
            "N1",
            "build-linux",
            Other,
            Failed,
            Decision::Refuse(Refusal::NotRetriggerable { force_role: f }),
        ),
        row(
            "N2",
            "signing-apk",
            Release,
            Failed,
            Decision::Refuse(Refusal::ReleaseRetriggerDisabled { force_role: f }),
        ),
        row(
            "L1",
            "test-flaky",
            Test,
            Failed,
            Decision::Refuse(Refusal::RerunLimitPerTask { limit: 3, done: 3 }),
        ),
    ]);
    insta::assert_snapshot!(render_one(planned("/rerun test-*", &plan, &[])));
}

/// Every whole-command refusal, and unmatched selectors.
#[test]
fn command_refusals() {
    let refusals = [
        ("/rerun", CommandRefusal::PullRequestClosed),
        (
            "/rerun",
            CommandRefusal::RoleTooLow {
                command: CommandKind::Rerun,
                required: Role::Write,
                actual: Role::Read,
                author_may_rerun: true,
            },
        ),
        (
            "/rerun",
            CommandRefusal::RoleTooLow {
                command: CommandKind::Rerun,
                required: Role::Write,
                actual: Role::Read,
                author_may_rerun: false,
            },
        ),
        (
            "/retrigger 2",
            CommandRefusal::RoleTooLow {
                command: CommandKind::Retrigger,
                required: Role::Write,
                actual: Role::Triage,
                author_may_rerun: false,
            },
        ),
        (
            "/rerun build-* --force",
            CommandRefusal::ForceNeedsRole {
                required: Role::Maintain,
                actual: Role::Write,
            },
        ),
        (
            "/retrigger 40",
            CommandRefusal::CountOutOfRange { count: 40, max: 10 },
        ),
        ("/rerun", CommandRefusal::NoTasks),
        (
            "/rerun",
            CommandRefusal::NothingSelected {
                command: CommandKind::Rerun,
            },
        ),
        (
            "/retrigger",
            CommandRefusal::NothingSelected {
                command: CommandKind::Retrigger,
            },
        ),
        (
            "/rerun",
            CommandRefusal::FailureGuard {
                failed: 40,
                total: 60,
                max_percent: 50,
            },
        ),
        (
            "/retrigger 10 test-*",
            CommandRefusal::TooManyNewTasks {
                requested: 120,
                max: 50,
                earlier: 0,
            },
        ),
        (
            "/retrigger 10 test-*",
            CommandRefusal::TooManyNewTasks {
                requested: 30,
                max: 50,
                earlier: 30,
            },
        ),
        (
            "/rerun test-*",
            CommandRefusal::TooManyReruns {
                requested: 60,
                max: 50,
            },
        ),
        (
            "/retrigger 10 test-*",
            CommandRefusal::TooManyCopiesForCommit {
                requested: 30,
                done: 190,
                max: 200,
            },
        ),
    ];
    let plans: Vec<(String, Plan)> = refusals
        .into_iter()
        .map(|(t, r)| (t.to_owned(), Plan::refused(r)))
        .collect();
    let mut no_match = Plan::refused(CommandRefusal::NoMatch);
    no_match.unmatched = vec![
        UnmatchedSelector {
            selector: "mochitest-1".into(),
            suggestions: vec![
                "test-linux64/opt-mochitest-1".into(),
                "test-mac/opt-mochitest-1".into(),
            ],
        },
        UnmatchedSelector {
            selector: "`weird`".into(),
            suggestions: vec![],
        },
    ];
    let mut sections: Vec<ReplySection> = plans.iter().map(|(t, p)| planned(t, p, &[])).collect();
    sections.push(planned("/rerun mochitest-1 `weird`", &no_match, &[]));
    insta::assert_snapshot!(render(&ReplyInput {
        author: &login(),
        root_url: ROOT,
        sections,
        followed: None
    }));
}

#[test]
fn malformed_commands() {
    let errors = [
        (
            "/retriger 3",
            CommandError::UnknownCommand {
                written: "/retriger".into(),
                suggestion: Some("/retrigger".into()),
            },
        ),
        (
            "/rerunn",
            CommandError::UnknownCommand {
                written: "/rerunn".into(),
                suggestion: None,
            },
        ),
        (
            "/retrigger 0",
            CommandError::BadCount {
                written: "0".into(),
            },
        ),
        (
            "/retrigger 500",
            CommandError::CountTooLarge {
                count: 500,
                max: 10,
            },
        ),
        (
            "/rerun --forse",
            CommandError::UnknownFlag {
                flag: "--forse".into(),
                suggestion: Some("--force".into()),
            },
        ),
        (
            "/rerun --now",
            CommandError::UnknownFlag {
                flag: "--now".into(),
                suggestion: None,
            },
        ),
        (
            "/rerun --force --force",
            CommandError::DuplicateFlag {
                flag: "--force".into(),
            },
        ),
        (
            "/rerunbot frobnicate",
            CommandError::UnknownSubcommand {
                written: "frobnicate".into(),
            },
        ),
    ];
    let sections = errors
        .iter()
        .map(|(text, error)| ReplySection::Malformed {
            command_text: text,
            error,
        })
        .collect();
    let out = render(&ReplyInput {
        author: &login(),
        root_url: ROOT,
        sections,
        followed: None,
    });
    insta::assert_snapshot!(out);
}

#[test]
fn dispatch_errors() {
    let errors = [
        DispatchError::PastDeadline,
        DispatchError::RunLimit,
        DispatchError::Conflict {
            message: "taskId exists with a different definition".into(),
        },
        DispatchError::InsufficientScopes {
            message: "missing scopes:\n  queue:rerun-task:proj/x".into(),
        },
        DispatchError::NotFound,
        DispatchError::Unavailable {
            message: "503 Service Unavailable".into(),
        },
        DispatchError::Rejected {
            status: 400,
            message: "Input failed validation".into(),
        },
        DispatchError::CancelWithoutEffect {
            action_task: TaskId::new("fXxW0rkNRpmx5aTx3LmPZA"),
            state: "completed".into(),
        },
    ];
    let rows: Vec<PlanRow> = (0..errors.len())
        .map(|i| {
            row(
                &format!("E{i}"),
                &format!("task-{i}"),
                TaskClass::Test,
                TaskState::Failed,
                Decision::Act(Action::Rerun { runs_seen: 1 }),
            )
        })
        .collect();
    let outcomes: Vec<ActionOutcome> = errors
        .into_iter()
        .map(|error| ActionOutcome::Failed {
            error,
            created: vec![],
        })
        .collect();
    let plan = plan_of(rows);
    insta::assert_snapshot!(render_one(planned("/rerun", &plan, &outcomes)));
}

#[test]
fn config_error() {
    let e = crate::repo_config::parse("limits:\n  max_retriger: 3\n").unwrap_err();
    insta::assert_snapshot!(render_config_error(&login(), &e));
}

#[test]
fn comment_error() {
    insta::assert_snapshot!(render_comment_error(
        &login(),
        &CommentError::TooManyCommands { found: 12, max: 10 }
    ));
}

#[test]
fn help() {
    let commands = [
        (
            "/rerun [SELECTOR ...] [--force]",
            "rerun failed tasks (the same taskId runs again)",
        ),
        (
            "/retrigger [N] [SELECTOR ...] [--force]",
            "make N new copies of failed test tasks",
        ),
        ("/rerunbot help", "this help"),
    ];
    insta::assert_snapshot!(render_one(ReplySection::Help {
        commands: &commands
    }));
}

pub(super) fn big_plan(n: usize, label_len: usize) -> (Plan, Vec<ActionOutcome>) {
    let rows = (0..n)
        .map(|i| {
            let label = format!("test-linux64-{i}-{}", "x".repeat(label_len));
            row(
                &format!("Task{i:018}"),
                &label,
                TaskClass::Test,
                TaskState::Failed,
                Decision::Act(Action::Retrigger {
                    copies: ids(&format!("{i}-"), 3),
                }),
            )
        })
        .collect();
    let outcomes = (0..n)
        .map(|i| ActionOutcome::Retriggered {
            task_ids: ids(&format!("{i}-"), 3),
        })
        .collect();
    (plan_of(rows), outcomes)
}

#[test]
fn three_hundred_tasks_fold_and_stay_under_the_limit() {
    let (plan, outcomes) = big_plan(300, 10);
    let out = render_one(planned("/retrigger 3", &plan, &outcomes));
    assert!(
        out.chars().count() < GITHUB_MAX_BODY,
        "{} chars",
        out.chars().count()
    );
    assert!(
        out.contains("<details>\n<summary>300 tasks: 300 acted on, 0 skipped, 0 refused</summary>")
    );
    assert!(
        out.contains("not shown"),
        "300 rows of links do not fit: a note says so"
    );
    insta::assert_snapshot!(out.lines().take(8).collect::<Vec<_>>().join("\n"));
}

#[test]
fn unconfirmed_actions_say_what_is_known_and_never_to_ask_again() {
    let unavailable = || DispatchError::Unavailable {
        message: "PUT /task/C2 failed after 4 attempts: HTTP 500".into(),
    };
    let copies: Vec<TaskId> = ["C0", "C1", "C2"].map(TaskId::from).to_vec();
    let rows = vec![
        row(
            "R1",
            "task-rerun",
            TaskClass::Test,
            TaskState::Failed,
            Decision::Act(Action::Rerun { runs_seen: 1 }),
        ),
        row(
            "R2",
            "task-retrigger",
            TaskClass::Test,
            TaskState::Failed,
            Decision::Act(Action::Retrigger {
                copies: copies.clone(),
            }),
        ),
    ];
    let outcomes = vec![
        ActionOutcome::Failed {
            error: unavailable(),
            created: vec![],
        },
        ActionOutcome::Failed {
            error: unavailable(),
            created: copies[..2].to_vec(),
        },
    ];
    let plan = plan_of(rows);
    let out = render_one(planned("/retrigger 3", &plan, &outcomes));
    assert!(!out.contains("comment again"), "{out}");
    insta::assert_snapshot!(out);
}

/// Issue 11.10: a label from the pull request's own task graph cannot
/// mention anyone, link an issue or break a line, in the table or in a row
/// warning; a rerun that found its task queued says so.
#[test]
fn task_labels_stay_in_code_spans_and_link_text_on_one_line() {
    let label = "evil\n@mozilla/releng #123 **bold**";
    let mut warned = row(
        "Evl",
        label,
        TaskClass::Release,
        TaskState::Completed,
        Decision::Act(Action::Rerun { runs_seen: 1 }),
    );
    warned.warnings = vec![Warning::ChainOfTrust];
    let plan = plan_of(vec![warned]);
    let outcomes = vec![ActionOutcome::AlreadyQueued {
        state: "pending".into(),
    }];
    let body = render_one(planned("/rerun --force", &plan, &outcomes));
    for line in body.lines() {
        if line.contains("@mozilla/releng") {
            let in_code = line.contains("`evil @mozilla/releng #123 **bold**`");
            let in_link = line.contains("[evil \\@mozilla/releng \\#123 \\*\\*bold\\*\\*](");
            assert!(in_code || in_link, "{line}");
        }
    }
    assert!(!body.contains("evil\n"), "{body}");
    assert!(
        body.contains("already `pending`: the queue made no new run"),
        "{body}"
    );
    assert!(!body.contains("rerun started"), "{body}");
}

/// In-tree actions: the action tasks each row was carried out with (one,
/// a cancel then a rerun, one `retrigger-multiple` for two rows), as sent
/// and once followed; and every reason an action could not go through
/// them.
#[test]
fn in_tree_actions() {
    use crate::outcome::TriggeredAction;
    use crate::reply::follow::{Followed, Made, RunProgress};
    use TaskClass::*;
    use TaskState::*;
    let mut signing = row(
        "Sg1",
        "signing-apk",
        Release,
        Failed,
        Decision::Act(Action::Retrigger {
            copies: ids("s", 1),
        }),
    );
    signing.warnings = vec![
        Warning::Forced {
            what: ForcedAction::RetriggerRelease,
        },
        Warning::CopyOutsideGraph { dependents: 0 },
    ];
    let plan = plan_of(vec![
        signing,
        row(
            "Bd1",
            "build-linux",
            Other,
            Unscheduled,
            Decision::Act(Action::CancelRerun { runs_seen: 0 }),
        ),
        row(
            "Ta1",
            "test-a",
            Test,
            Failed,
            Decision::Act(Action::Retrigger {
                copies: ids("a", 2),
            }),
        ),
        row(
            "Tb1",
            "test-b",
            Test,
            Failed,
            Decision::Act(Action::Retrigger {
                copies: ids("b", 2),
            }),
        ),
    ]);
    let task = |action: &str, id: &str| TriggeredAction {
        action: action.into(),
        task_id: TaskId::new(id),
    };
    let multiple = ActionOutcome::Triggered {
        actions: vec![task("retrigger-multiple", "ActMulti0xQ2wErTyUiOp")],
    };
    let outcomes = vec![
        ActionOutcome::Triggered {
            actions: vec![task("retrigger", "ActRetrig0xQ2wErTyUiO")],
        },
        ActionOutcome::Triggered {
            actions: vec![
                task("cancel", "ActCancel0xQ2wErTyUiO"),
                task("rerun", "ActRerun00xQ2wErTyUiO"),
            ],
        },
        multiple.clone(),
        multiple,
    ];
    let sent = render_one(planned(
        "/retrigger 1 signing-apk --force",
        &plan,
        &outcomes,
    ));
    let done = || RunProgress::Resolved {
        state: Completed,
        reason: None,
    };
    let runs = [
        (
            "ActRetrig0xQ2wErTyUiO",
            0,
            RunProgress::Resolved {
                state: Failed,
                reason: Some("failed".into()),
            },
        ),
        ("ActCancel0xQ2wErTyUiO", 0, done()),
        ("ActRerun00xQ2wErTyUiO", 0, done()),
        // What the rerun action made: run 1 of the build.
        ("Bd1", 1, RunProgress::Open),
        ("ActMulti0xQ2wErTyUiOp", 0, done()),
        // What retrigger-multiple made: two copies of test-a, one of test-b.
        ("CopyA1xxxxxxxxxxxxxxxx", 0, done()),
        ("CopyA2xxxxxxxxxxxxxxxx", 0, RunProgress::Open),
        (
            "CopyB1xxxxxxxxxxxxxxxx",
            0,
            RunProgress::Resolved {
                state: Exception,
                reason: Some("claim-expired".into()),
            },
        ),
    ];
    let made = |task: &str, run: u32, label: &str| Made {
        task_id: task.into(),
        run_id: run,
        label: label.into(),
    };
    let followed = Followed {
        runs: runs
            .into_iter()
            .map(|(id, run, p)| ((id.to_owned(), run), p))
            .collect(),
        made: [
            (
                "ActRerun00xQ2wErTyUiO".to_owned(),
                vec![made("Bd1", 1, "build-linux")],
            ),
            (
                "ActMulti0xQ2wErTyUiOp".to_owned(),
                vec![
                    made("CopyA1xxxxxxxxxxxxxxxx", 0, "test-a"),
                    made("CopyA2xxxxxxxxxxxxxxxx", 0, "test-a"),
                    made("CopyB1xxxxxxxxxxxxxxxx", 0, "test-b"),
                ],
            ),
        ]
        .into_iter()
        .collect(),
    };
    let live = render(&ReplyInput {
        author: &login(),
        root_url: ROOT,
        sections: vec![planned(
            "/retrigger 1 signing-apk --force",
            &plan,
            &outcomes,
        )],
        followed: Some(&followed),
    });
    let refused = |problem| Decision::Refuse(Refusal::InTreeAction { problem });
    let refusals = plan_of(vec![
        row(
            "R1",
            "build-a",
            Other,
            Failed,
            refused(ActionProblem::NoActionsJson),
        ),
        row(
            "R2",
            "build-b",
            Other,
            Failed,
            refused(ActionProblem::NoAction {
                action: "rerun".into(),
            }),
        ),
        row(
            "R3",
            "signing-c",
            Release,
            Failed,
            refused(ActionProblem::ReleaseCopyNeedsActions),
        ),
        row(
            "R4",
            "build-d",
            Other,
            Failed,
            refused(ActionProblem::HookNotAllowed {
                hook: "project-gecko/in-tree-action-3-generic/abc".into(),
            }),
        ),
        row(
            "R5",
            "build-e",
            Other,
            Failed,
            refused(ActionProblem::Unusable {
                action: "retrigger".into(),
                message:
                    "input rejected by the action's schema: 0 is less than the minimum of 1 | `x`"
                        .into(),
            }),
        ),
    ]);
    let refused = render_one(planned("/rerun", &refusals, &[]));
    insta::assert_snapshot!(format!(
        "{sent}\n\n---- once followed ----\n\n{live}\n\n---- refused ----\n\n{refused}"
    ));
}
