//! Size limits, folding, the reaction summary and markdown escaping.

use super::*;
use crate::command::CommandError;
use crate::outcome::DispatchError;
use crate::policy::task::TaskState;

#[test]
fn ten_huge_sections_stay_under_the_limit() {
    let (plan, outcomes) = big_plan(300, 200);
    let long_command = format!("/retrigger 3 {}", "y".repeat(5_000));
    let sections = (0..10)
        .map(|_| planned(&long_command, &plan, &outcomes))
        .collect();
    let out = render(&ReplyInput {
        author: &login(),
        root_url: ROOT,
        sections,
        followed: None,
    });
    assert!(out.chars().count() < GITHUB_MAX_BODY);
    assert!(out.len() < GITHUB_MAX_BODY);
}

#[test]
fn twenty_rows_do_not_fold_twenty_one_do() {
    let (plan, outcomes) = big_plan(20, 3);
    assert!(!render_one(planned("/retrigger 3", &plan, &outcomes)).contains("<details>"));
    let (plan, outcomes) = big_plan(21, 3);
    let out = render_one(planned("/retrigger 3", &plan, &outcomes));
    assert!(out.contains("<details>") && !out.contains("not shown"));
}

#[test]
fn reaction_table() {
    let act = plan_of(vec![row(
        "A",
        "a",
        TaskClass::Test,
        TaskState::Failed,
        Decision::Act(Action::Rerun { runs_seen: 1 }),
    )]);
    let skip = plan_of(vec![row(
        "A",
        "a",
        TaskClass::Test,
        TaskState::Running,
        Decision::Skip(SkipReason::InProgress),
    )]);
    let refuse = plan_of(vec![row(
        "A",
        "a",
        TaskClass::Other,
        TaskState::Completed,
        Decision::Refuse(Refusal::AlreadyGreen {
            force_role: Role::Maintain,
        }),
    )]);
    let mut unmatched = act.clone();
    unmatched.unmatched = vec![UnmatchedSelector {
        selector: "x".into(),
        suggestions: vec![],
    }];
    let whole = Plan::refused(CommandRefusal::NoTasks);
    let ok = [ActionOutcome::Rerun { run_id: Some(1) }];
    let failed = [ActionOutcome::Failed {
        error: DispatchError::NotFound,
        created: vec![],
    }];
    let bad = CommandError::BadCount {
        written: "0".into(),
    };
    let rows: Vec<(&str, Vec<ReplySection>, Option<Reaction>)> = vec![
        (
            "every action dispatched",
            vec![planned("/rerun", &act, &ok)],
            Some(Reaction::Rocket),
        ),
        (
            "skips are fine",
            vec![planned("/rerun", &skip, &[]), planned("/rerun", &act, &ok)],
            Some(Reaction::Rocket),
        ),
        (
            "help alone",
            vec![ReplySection::Help { commands: &[] }],
            Some(Reaction::Rocket),
        ),
        (
            "still pending",
            vec![planned("/rerun", &act, &[ActionOutcome::Pending])],
            None,
        ),
        (
            "a dispatch failed",
            vec![planned("/rerun", &act, &failed)],
            Some(Reaction::Confused),
        ),
        (
            "a task refused",
            vec![
                planned("/rerun", &act, &ok),
                planned("/rerun", &refuse, &[]),
            ],
            Some(Reaction::Confused),
        ),
        (
            "a selector unmatched",
            vec![planned("/rerun", &unmatched, &ok)],
            Some(Reaction::Confused),
        ),
        (
            "whole command refused",
            vec![planned("/rerun", &whole, &[])],
            Some(Reaction::Confused),
        ),
        (
            "malformed command",
            vec![ReplySection::Malformed {
                command_text: "/retrigger 0",
                error: &bad,
            }],
            Some(Reaction::Confused),
        ),
    ];
    for (name, sections, want) in rows {
        assert_eq!(reaction_for(&sections), want, "{name}");
    }
    assert_eq!(Reaction::Rocket.as_str(), "rocket");
    assert_eq!(Reaction::Confused.as_str(), "confused");
}

#[test]
fn markdown_helpers_escape_what_they_must() {
    use super::markdown::*;
    assert_eq!(code("a`b"), "`` a`b ``");
    assert_eq!(code("plain"), "`plain`");
    assert_eq!(text("[x](y) @bob"), "\\[x\\](y) \\@bob");
    assert_eq!(cell("a|b\nc"), "a\\|b c");
    assert_eq!(shorten("abcdef", 4), "abc…");
    let mut s = "héllo".to_owned();
    truncate_bytes(&mut s, 2);
    assert_eq!(s, "h");
}
