//! Config parsing: defaults, every error kind with its position, hard caps,
//! and `check-config`.

use super::*;
use crate::policy::plan::Role;

#[test]
fn empty_and_comment_only_files_give_the_defaults() {
    for text in ["", "\n", "# nothing here\n", "---\n"] {
        assert_eq!(parse(text), Ok(RepoConfig::default()), "{text:?}");
    }
}

#[test]
fn the_design_example_is_the_default() {
    let text = r#"
permissions:            # minimum repository role
  rerun: write
  retrigger: write
  force: maintain
  pr_author_rerun: true
limits:
  max_retrigger: 10
  max_new_tasks: 50
  max_reruns_per_task: 3
  max_failure_percent: 50
dispatch: auto          # auto: in-tree actions when published, else the queue
classify:               # first match wins: release, then test; else other
  release:
    task_queues: ["scriptworker-k8s/*", "scriptworker-prov-v1/*"]
  test:
    tags: { retrigger: "true" }
    treeherder_job_kinds: ["test"]
"#;
    assert_eq!(parse(text), Ok(RepoConfig::default()));
}

#[test]
fn partial_file_keeps_other_defaults() {
    let c = parse("permissions:\n  force: admin\nlimits:\n  max_retrigger: 5\n").unwrap();
    assert_eq!(c.permissions.force, Role::Admin);
    assert_eq!(c.permissions.rerun, Role::Write);
    assert_eq!(c.limits.max_retrigger, 5);
    assert_eq!(c.limits.max_new_tasks, 50);
    assert_eq!(c.classify, Classify::default());
}

#[test]
fn dispatch_modes_parse_and_default_to_auto() {
    let cases = [
        ("", DispatchMode::Auto),
        ("dispatch: auto\n", DispatchMode::Auto),
        ("dispatch: actions\n", DispatchMode::Actions),
        ("dispatch: queue\n", DispatchMode::Queue),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).map(|c| c.dispatch), Ok(expected), "{text:?}");
    }
}

#[test]
fn hard_caps_are_enforced_by_clamping() {
    let (c, notes) = parse_with_notes(
        "limits:\n  max_retrigger: 1000\n  max_new_tasks: 100000\n  max_reruns_per_task: 99\n",
    )
    .unwrap();
    assert_eq!(c.limits.max_retrigger, HARD_MAX_RETRIGGER);
    assert_eq!(c.limits.max_new_tasks, HARD_MAX_NEW_TASKS);
    assert_eq!(c.limits.max_reruns_per_task, HARD_MAX_RERUNS_PER_TASK);
    assert_eq!(notes.len(), 3);
    assert!(notes[0].contains("max_retrigger: 1000"), "{notes:?}");
}

/// (name, file, line, column, a piece of the message)
const ERRORS: &[(&str, &str, usize, usize, &str)] = &[
    (
        "unknown top-level key",
        "permissions:\n  rerun: write\nlimit:\n  max_retrigger: 3\n",
        3,
        1,
        "unknown field `limit`",
    ),
    (
        "unknown nested key",
        "limits:\n  max_retrigger: 3\n  max_retrigers: 4\n",
        3,
        3,
        "unknown field `max_retrigers`",
    ),
    (
        "wrong type: text for a number",
        "limits:\n  max_new_tasks: lots\n",
        2,
        18,
        "invalid type",
    ),
    (
        "wrong type: text for a bool",
        "permissions:\n  pr_author_rerun: sometimes\n",
        2,
        20,
        "invalid type",
    ),
    (
        "wrong type: a list for a section",
        "limits: [1, 2]\n",
        1,
        9,
        "invalid type",
    ),
    (
        "unknown role",
        "permissions:\n  force: owner\n",
        2,
        10,
        "unknown variant `owner`",
    ),
    (
        "bad glob",
        "classify:\n  release:\n    task_queues: [\"ok/*\", \"bad/[a-\"]\n",
        3,
        28,
        "invalid glob `bad/[a-`",
    ),
    (
        "negative number",
        "limits:\n  max_retrigger: -2\n",
        2,
        18,
        "integer `-2`",
    ),
    (
        "zero where at least one is needed",
        "limits:\n  max_retrigger: 0\n",
        2,
        18,
        "must be at least 1",
    ),
    (
        "percentage out of range",
        "limits:\n  max_failure_percent: 150\n",
        2,
        24,
        "out of range",
    ),
    (
        "auto_rerun: unknown key",
        "auto_rerun:\n  enabled: true\n  max_attempt: 2\n",
        3,
        3,
        "unknown field `max_attempt`",
    ),
    (
        "auto_rerun: a state that is no failure",
        "auto_rerun:\n  on_states: [exception, pending]\n",
        2,
        14,
        "`pending` is not a failure",
    ),
    (
        "auto_rerun: an unknown state",
        "auto_rerun:\n  on_states: [broken]\n",
        2,
        15,
        "unknown variant `broken`",
    ),
    (
        "auto_rerun: zero attempts",
        "auto_rerun:\n  enabled: true\n  max_attempts: 0\n",
        3,
        17,
        "auto_rerun.max_attempts: must be at least 1",
    ),
    (
        "auto_rerun: percentage out of range",
        "auto_rerun:\n  max_failure_percent: 0\n",
        2,
        24,
        "auto_rerun.max_failure_percent: 0 is out of range",
    ),
    (
        "auto_rerun: bad glob",
        "auto_rerun:\n  tasks: [\"test-[\"]\n",
        2,
        12,
        "invalid glob `test-[`",
    ),
    (
        "unknown dispatch mode",
        "limits:\n  max_retrigger: 3\ndispatch: hooks\n",
        3,
        11,
        "unknown variant `hooks`, expected one of `auto`, `actions`, `queue`",
    ),
    (
        "dispatch mode of the wrong type",
        "dispatch: [actions]\n",
        1,
        11,
        "invalid type",
    ),
    ("not YAML", "permissions:\n  rerun: [write\n", 3, 1, ""),
    (
        "a scalar instead of a mapping",
        "just text\n",
        1,
        1,
        "invalid type",
    ),
];

#[test]
fn every_error_kind_reports_its_position() {
    let mut failures = Vec::new();
    for (name, text, line, column, needle) in ERRORS {
        match parse(text) {
            Ok(c) => failures.push(format!("{name}: accepted as {c:?}")),
            Err(e) => {
                if e.path != CONFIG_PATH
                    || e.line != Some(*line)
                    || e.column != Some(*column)
                    || !e.message.contains(needle)
                    || e.message.contains(" at line ")
                {
                    failures.push(format!("{name}: {e:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_display_is_path_line_column_message() {
    let e = parse("limits:\n  max_retrigger: 0\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        ".github/rerunbot.yml:2:18: limits.max_retrigger: must be at least 1"
    );
}

#[test]
fn locate_finds_line_and_column() {
    assert_eq!(parse::locate("a\nbc [x\n", "[x"), Some((2, 4)));
    assert_eq!(parse::locate("abc", "z"), None);
}

#[test]
fn parser_positions_count_lines_at_newlines_only() {
    // (text, the parser's line and column, ours)
    type Position = (usize, usize);
    let cases: &[(&str, Position, Position)] = &[
        ("a: 1\nb: 2\n", (2, 1), (2, 1)),
        ("a: 1\r\nb: 2\r\n", (2, 3), (2, 3)),
        ("a: \u{2028}b: 2", (2, 1), (1, 5)),
        ("a: \u{85}\u{2029}x\nb", (4, 1), (2, 1)),
        ("a: ®\rb", (2, 2), (1, 7)),
        ("a", (9, 9), (1, 2)),
    ];
    for (text, yaml, ours) in cases {
        assert_eq!(
            super::parse::from_yaml_position(text, yaml.0, yaml.1),
            *ours,
            "{text:?}"
        );
    }
    // What the hostile-input property found: U+2028 ends a YAML line.
    let text = "A: ®\u{2028}a";
    let e = parse(text).expect_err("not a configuration");
    assert!(
        e.line.is_some_and(|l| l <= text.lines().count() + 1),
        "{e:?}"
    );
}

#[test]
fn locate_key_follows_block_nesting() {
    let text = "permissions:\n  force: admin\n# c\nlimits:\n\n  max_retrigger:   0\n";
    assert_eq!(
        parse::locate_key(text, &["limits", "max_retrigger"]),
        Some((6, 20))
    );
    assert_eq!(
        parse::locate_key(text, &["permissions", "max_retrigger"]),
        None
    );
    assert_eq!(
        parse::locate_key("limits: {max_retrigger: 0}", &["limits", "max_retrigger"]),
        None
    );
}

#[test]
fn check_config_cli_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "limits:\n  max_retrigger: 500\n").unwrap();
    let (code, out) = check_config_cli(&good);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid") && out.contains("hard cap"), "{out}");

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "limits:\n  nope: 1\n").unwrap();
    let (code, out) = check_config_cli(&bad);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!("{}:2:3: ", bad.display())),
        "{out}"
    );

    let (code, out) = check_config_cli(&dir.path().join("missing.yml"));
    assert_eq!(code, 1);
    assert!(out.contains("cannot read"), "{out}");
}

#[test]
fn the_auto_rerun_block_of_the_design_parses_to_its_defaults_and_clamps() {
    let text = r#"
auto_rerun:             # off unless enabled
  enabled: false
  max_attempts: 1
  on_states: [exception]
  on_reasons: [claim-expired, worker-shutdown, internal-error, resource-unavailable]
  opt_in_tag: retry-on-failure
  tasks: ["*"]
  max_failure_percent: 30
"#;
    assert_eq!(parse(text), Ok(RepoConfig::default()));
    let (c, notes) = parse_with_notes(
        "auto_rerun:\n  enabled: true\n  max_attempts: 9\n  on_states: [failed]\n",
    )
    .unwrap();
    assert!(c.auto_rerun.enabled);
    assert_eq!(c.auto_rerun.max_attempts, HARD_MAX_AUTO_ATTEMPTS);
    assert_eq!(
        c.auto_rerun.on_states,
        vec![crate::policy::task::TaskState::Failed]
    );
    assert_eq!(c.auto_rerun.max_failure_percent, 30);
    assert!(notes[0].contains("auto_rerun.max_attempts: 9"), "{notes:?}");
}
