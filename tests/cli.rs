//! The binary's commands as an operator or maintainer runs them.

use std::process::Command;

fn rerunbot(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rerunbot"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run rerunbot");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn serve_names_the_missing_setting_in_one_line() {
    let (code, _, stderr) = rerunbot(&["serve"], &[]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim(),
        "rerunbot: RERUNBOT_WEBHOOK_SECRET is required but not set"
    );
    let (code, _, stderr) = rerunbot(
        &["serve"],
        &[
            ("RERUNBOT_WEBHOOK_SECRET", "s"),
            ("RERUNBOT_GITHUB_APP_ID", "x"),
        ],
    );
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("RERUNBOT_GITHUB_APP_ID is invalid"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn plan_is_a_dry_run_over_a_task_group_file() {
    let group = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/taskcluster/pr-group.json"
    );
    let (code, stdout, _) = rerunbot(
        &[
            "plan",
            "--tasks",
            group,
            "--comment",
            "/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let text = plan.to_string();
    assert!(text.contains("\"decision\":\"retrigger\""), "{text}");
    assert!(text.contains("QgIehBqMQLuGKh7C410j_w"));
    let (code, stdout, _) = rerunbot(
        &[
            "plan",
            "--tasks",
            group,
            "--comment",
            "/rerun --force build-win64/opt",
            "--role",
            "write",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("maintain"),
        "force needs maintain:\n{stdout}"
    );
}

#[test]
fn check_config_shows_the_error_with_its_position() {
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&good, "limits:\n  max_retrigger: 5\n").expect("write");
    std::fs::write(&bad, "permissions:\n  rerun: writer\n").expect("write");
    let (code, stdout, _) = rerunbot(&["check-config", good.to_str().expect("path")], &[]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = rerunbot(&["check-config", bad.to_str().expect("path")], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("bad.yml:2:10:"), "{stderr}");
}

const RELEASE_GROUP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/taskcluster/release-group.json"
);
/// While the release fixture's tasks are within their deadlines (all but
/// the bouncer task's).
const DURING_RELEASE: &str = "2025-06-03T12:00:00Z";

fn plan_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = rerunbot(&all, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    serde_json::from_str(&stdout).expect("json")
}

fn row(plan: &serde_json::Value, command: usize) -> &serde_json::Value {
    &plan["commands"][command]["tasks"][0]
}

#[test]
fn plan_rule_1_cancel_then_rerun_only_without_the_failed_dependencys_artifacts() {
    let plan = plan_json(&[
        "--tasks",
        RELEASE_GROUP,
        "--role",
        "maintain",
        "--now",
        DURING_RELEASE,
        "--comment",
        "/rerun --force beetmover-repackage-macosx64-shippable/opt\n/rerun --force release-notify-push-firefox",
    ]);
    let uploads = row(&plan, 0);
    assert_eq!(uploads["decision"], "refuse", "{plan:#}");
    let reason = uploads["reason"].as_str().expect("reason");
    assert!(
        reason.contains(
            "uses artifacts of the failed dependency `notarization-poller-macosx64-shippable/opt`"
        ),
        "{reason}"
    );
    assert_eq!(
        uploads["suggestion"],
        "/rerun notarization-poller-macosx64-shippable/opt"
    );
    assert_eq!(row(&plan, 1)["decision"], "cancel-rerun", "{plan:#}");
}

#[test]
fn plan_rule_3_leaf_release_tasks_and_one_copy() {
    let plan = plan_json(&[
        "--tasks",
        RELEASE_GROUP,
        "--role",
        "maintain",
        "--now",
        "2025-06-07T12:00:00Z",
        "--comment",
        "/rerun release-bouncer-sub-firefox\n/rerun beetmover-repackage-linux64-shippable/opt\n/retrigger 3 release-bouncer-sub-firefox --force\n/retrigger 1 release-bouncer-sub-firefox --force",
    ]);
    // A leaf: a forced single copy stands in for it.
    assert_eq!(
        row(&plan, 0)["suggestion"],
        "/retrigger 1 release-bouncer-sub-firefox --force",
        "{plan:#}"
    );
    // Tasks depend on it: no copy would do.
    let beetmover = row(&plan, 1);
    assert_eq!(beetmover["decision"], "refuse");
    assert!(
        beetmover["reason"]
            .as_str()
            .expect("reason")
            .contains("start a build 2 or use advanced release-promotion"),
        "{beetmover}"
    );
    assert_eq!(beetmover["suggestion"], serde_json::Value::Null);
    // A release task gets one copy, never N.
    assert_eq!(row(&plan, 2)["decision"], "refuse", "{plan:#}");
    let one = row(&plan, 3);
    assert_eq!(one["decision"], "retrigger", "{plan:#}");
    assert_eq!(one["count"], 1);
    let warnings = one["warnings"].to_string();
    assert!(warnings.contains("post-build release phase"), "{warnings}");
}

#[test]
fn plan_rule_7_failure_guard_over_resolved_tasks_and_broad_globs() {
    let group = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/taskcluster/pr-group.json"
    );
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("rerunbot.yml");
    std::fs::write(&config, "limits:\n  max_failure_percent: 40\n").expect("write");
    let config = config.to_str().expect("path");
    let plan = plan_json(&[
        "--tasks",
        group,
        "--config",
        config,
        "--comment",
        "/rerun ?*\n/rerun test-linux64/opt-mochitest-browser-chrome-*",
    ]);
    // Of the 8 resolved tasks (the decision task, pending, running and
    // unscheduled ones not counted), 4 failed: more than 40%.
    let refusal = plan["commands"][0]["refusal"]["reason"]
        .as_str()
        .expect("refused");
    assert!(refusal.starts_with("4 of 8 tasks failed"), "{refusal}");
    // A glob naming 2 tasks is not a bulk command.
    assert_eq!(plan["commands"][1]["refusal"], serde_json::Value::Null);
    // 1 to 100 only.
    std::fs::write(
        dir.path().join("zero.yml"),
        "limits:\n  max_failure_percent: 0\n",
    )
    .expect("write");
    let zero = dir.path().join("zero.yml");
    let (code, _, _) = rerunbot(&["check-config", zero.to_str().expect("path")], &[]);
    assert_eq!(code, 1);
}

#[test]
fn the_demo_runs_every_scenario_end_to_end() {
    // The README's first command: each scenario gets its reply (the demo
    // exits non-zero when one does not), and the replies evolve as the
    // sandbox worker resolves what was started.
    let (code, stdout, stderr) = rerunbot(&["demo"], &[]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let scenarios = stdout.lines().filter(|l| l.starts_with("━━━ ")).count();
    assert_eq!(scenarios, 11, "{stdout}");
    assert!(
        stdout.contains("edit 1:"),
        "replies are edited as runs resolve"
    );
    assert!(
        stdout.trim_end().ends_with("rerunbot demo: done"),
        "{stdout}"
    );
}
