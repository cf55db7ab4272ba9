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
