//! `rerunbot plan` against the fixtures in `fixtures/policy/`.

use crate::command::{Command, CommandError, CommandLine, ParseLimits, ParsedComment};
use crate::dry_run::{run, DryRunArgs};
use crate::policy::testutil::now;
use crate::policy::Role;
use std::path::PathBuf;

/// A stand-in for the real parser: `/rerun [sel..] [--force]`,
/// `/retrigger N [sel..] [--force]`, and `/retriger` as an unknown command.
fn parse(text: &str, _: &ParseLimits) -> ParsedComment {
    let commands = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with('/'))
        .map(|(i, l)| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let force = words.contains(&"--force");
            let sel = |from: usize| -> Vec<String> {
                words
                    .iter()
                    .skip(from)
                    .filter(|w| **w != "--force")
                    .map(|w| w.to_string())
                    .collect()
            };
            let result = match words[0] {
                "/rerun" => Ok(Command::Rerun {
                    selectors: sel(1),
                    force,
                }),
                "/retrigger" => Ok(Command::Retrigger {
                    times: words[1].parse().unwrap_or(1),
                    selectors: sel(2),
                    force,
                }),
                other => Err(CommandError::UnknownCommand {
                    written: other.into(),
                    suggestion: Some("/retrigger".into()),
                }),
            };
            CommandLine {
                line: i + 1,
                text: l.trim().to_owned(),
                result,
            }
        })
        .collect();
    ParsedComment {
        commands,
        error: None,
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/policy")
        .join(name)
}

fn args(comment: &str) -> DryRunArgs {
    DryRunArgs {
        tasks: vec![fixture("group.json")],
        comment: comment.to_owned(),
        role: Role::Write,
        pr_author: false,
        config: None,
        json: false,
        now: now(),
    }
}

#[test]
fn text_table_shows_each_task_decision() {
    let (code, out) = run(&args("/rerun"), parse);
    assert_eq!(code, 0, "{out}");
    for want in [
        "TASK ID",
        "BuildLinux64Opt000000A",
        "test-linux64/opt-mochitest-1",
        "rerun",
        "source-test-mozlint-eslint",
    ] {
        assert!(out.contains(want), "missing {want}:\n{out}");
    }
    assert!(
        !out.contains("XpcshellTwo"),
        "completed tasks are not taken by default:\n{out}"
    );
}

#[test]
fn json_has_one_entry_per_task_with_the_documented_fields() {
    let mut a = args("/retrigger 2 test-linux64/opt-mochitest-1 signing-apk\n/rerun signing-apk beetmover-apk --force\n/retriger 2");
    a.json = true;
    a.role = Role::Maintain;
    let (code, out) = run(&a, parse);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let commands = v["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 3);
    let tasks = commands[0]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["task_id"], "MochitestOne000000000A");
    assert_eq!(tasks[0]["class"], "test");
    assert_eq!(tasks[0]["decision"], "retrigger");
    assert_eq!(tasks[0]["count"], 2);
    assert_eq!(tasks[1]["label"], "signing-apk");
    assert_eq!(tasks[1]["class"], "release");
    assert_eq!(tasks[1]["decision"], "refuse");
    assert_eq!(tasks[1]["suggestion"], "/rerun signing-apk");
    assert!(tasks[1]["reason"].as_str().unwrap().contains("release"));
    // signing-apk waits on a failed build: cancel then rerun; beetmover
    // waits on the signing task this command reruns: it waits for that
    // new run (DESIGN.md §13).
    let forced = commands[1]["tasks"].as_array().unwrap();
    assert_eq!(forced[0]["decision"], "cancel-rerun");
    assert!(!forced[0]["warnings"].as_array().unwrap().is_empty());
    assert_eq!(forced[1]["decision"], "wait");
    assert!(commands[2]["error"]
        .as_str()
        .unwrap()
        .contains("did you mean"));
}

#[test]
fn role_and_author_flags_are_honoured() {
    let mut a = args("/rerun");
    a.role = Role::Read;
    let (_, out) = run(&a, parse);
    assert!(out.contains("not run") && out.contains("`write`"), "{out}");
    a.pr_author = true;
    let (_, out) = run(&a, parse);
    assert!(out.contains("BuildLinux64Opt000000A"), "{out}");
}

#[test]
fn config_file_is_used_and_errors_exit_1() {
    let mut a = args("/rerun");
    a.config = Some(fixture("strict.yml"));
    let (code, out) = run(&a, parse);
    assert_eq!(code, 0);
    assert!(out.contains("`maintain`"), "{out}");
    a.config = Some(fixture("bad.yml"));
    let (code, out) = run(&a, parse);
    assert_eq!(code, 1);
    assert!(
        out.contains("bad.yml:3:3: permissions: unknown field `superpowers`"),
        "{out}"
    );
}

#[test]
fn unreadable_tasks_exit_1() {
    let mut a = args("/rerun");
    a.tasks.push(fixture("missing.json"));
    let (code, out) = run(&a, parse);
    assert_eq!(code, 1);
    assert!(out.contains("missing.json"), "{out}");
    a.tasks = vec![fixture("strict.yml")];
    assert_eq!(run(&a, parse).0, 1);
}

#[test]
fn unmatched_selector_prints_suggestions() {
    let (_, out) = run(&args("/rerun mochitest-1"), parse);
    assert!(
        out.contains("did you mean test-linux64/opt-mochitest-1"),
        "{out}"
    );
}
