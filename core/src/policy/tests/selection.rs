//! Selections (DESIGN.md §5), suggestions and classification.

use crate::policy::task::{TaskSnapshot, TaskState::*};
use crate::policy::testutil::*;
use crate::policy::*;
use crate::repo_config::GlobPattern;

fn ids(p: &Plan) -> Vec<&str> {
    p.rows.iter().map(|r| r.task_id.as_str()).collect()
}

fn group() -> Vec<TaskSnapshot> {
    vec![
        task("B1", "build-linux64/opt").state(Completed),
        task("T1", "test-linux64/opt-mochitest-1").test(),
        task("T2", "test-linux64/opt-xpcshell-2")
            .test()
            .state(Completed),
        task("T3", "test-linux64/opt-mochitest-1")
            .test()
            .state(Exception)
            .created_mins_ago(5),
        task("L1", "source-test-lint").named("lint eslint"),
        task("S1", "signing-apk").release().state(Completed),
        task("D1", "decision").state(Completed),
        task("D2", "docs").state(Completed),
    ]
}

#[test]
fn default_rerun_takes_every_failed_or_exception_task_and_never_completed() {
    let p = Ctx::default().plan(&rerun(&[], false), &group());
    assert_eq!(ids(&p), ["T1", "T3", "L1"]);
}

#[test]
fn default_retrigger_takes_broken_retriggerable_tasks_once_per_label() {
    let p = Ctx::default().plan(&retrigger(2, &[], false), &group());
    // T1 and T3 share a label: one row, copied from the newest instance.
    assert_eq!(ids(&p), ["T3"]);
    assert_eq!(p.new_tasks(), 2);
}

#[test]
fn default_selection_with_nothing_broken_is_refused_as_nothing_selected() {
    let tasks = vec![
        task("A", "a").state(Completed),
        task("B", "b").test().state(Running),
    ];
    let p = Ctx::default().plan(&rerun(&[], false), &tasks);
    assert_eq!(
        p.refusal,
        Some(CommandRefusal::NothingSelected {
            command: CommandKind::Rerun
        })
    );
    let p = Ctx::default().plan(&retrigger(1, &[], false), &tasks);
    assert_eq!(
        p.refusal,
        Some(CommandRefusal::NothingSelected {
            command: CommandKind::Retrigger
        })
    );
}

#[test]
fn no_tasks_at_all_is_refused() {
    let p = Ctx::default().plan(&rerun(&[], false), &[]);
    assert_eq!(p.refusal, Some(CommandRefusal::NoTasks));
}

#[test]
fn selector_by_label_reruns_each_failed_instance() {
    let p = Ctx::default().plan(&rerun(&["test-linux64/opt-mochitest-1"], false), &group());
    assert_eq!(ids(&p), ["T1", "T3"]);
}

#[test]
fn selector_by_label_with_no_broken_instance_shows_the_newest() {
    let tasks = vec![
        task("A1", "a").state(Completed).created_mins_ago(50),
        task("A2", "a").state(Running).created_mins_ago(5),
    ];
    let p = Ctx::default().plan(&rerun(&["a"], false), &tasks);
    assert_eq!(ids(&p), ["A2"]);
    assert_eq!(p.rows[0].decision, Decision::Skip(SkipReason::InProgress));
}

#[test]
fn retrigger_label_makes_n_copies_in_total_from_the_newest_instance() {
    let p = Ctx::default().plan(
        &retrigger(3, &["test-linux64/opt-mochitest-1"], false),
        &group(),
    );
    assert_eq!(ids(&p), ["T3"]);
    assert_eq!(p.new_tasks(), 3);
}

#[test]
fn selector_by_task_id_selects_exactly_that_task() {
    let p = Ctx::default().plan(&rerun(&["T1"], false), &group());
    assert_eq!(ids(&p), ["T1"]);
    let p = Ctx::default().plan(&retrigger(2, &["T1"], false), &group());
    assert_eq!(ids(&p), ["T1"]);
}

#[test]
fn selector_by_name() {
    let p = Ctx::default().plan(&rerun(&["lint eslint"], false), &group());
    assert_eq!(ids(&p), ["L1"]);
}

#[test]
fn selector_by_glob_over_labels_and_names() {
    let p = Ctx::default().plan(&rerun(&["test-linux*"], false), &group());
    assert_eq!(ids(&p), ["T1", "T2", "T3"]);
    let p = Ctx::default().plan(&rerun(&["*eslint"], false), &group());
    assert_eq!(ids(&p), ["L1"]);
}

#[test]
fn selectors_are_deduplicated() {
    let p = Ctx::default().plan(
        &rerun(&["T1", "test-linux64/opt-mochitest-1", "test-*"], false),
        &group(),
    );
    assert_eq!(ids(&p), ["T1", "T2", "T3"]);
}

#[test]
fn unmatched_selector_gets_the_closest_names_while_others_run() {
    let p = Ctx::default().plan(&rerun(&["source-test-lnit", "T1"], false), &group());
    assert_eq!(ids(&p), ["T1"]);
    assert_eq!(p.unmatched.len(), 1);
    assert_eq!(p.unmatched[0].selector, "source-test-lnit");
    assert_eq!(
        p.unmatched[0].suggestions.first().map(String::as_str),
        Some("source-test-lint")
    );
}

#[test]
fn nothing_matching_is_refused_with_suggestions() {
    let p = Ctx::default().plan(&rerun(&["mochitest-1"], false), &group());
    assert_eq!(p.refusal, Some(CommandRefusal::NoMatch));
    assert_eq!(p.unmatched[0].suggestions, ["test-linux64/opt-mochitest-1"]);
    let p = Ctx::default().plan(&rerun(&["zzzzzzzzzzzzzzzzzzz"], false), &group());
    assert!(p.unmatched[0].suggestions.is_empty());
}

#[test]
fn suggestions_are_bounded_for_huge_or_many_selectors() {
    // A pasted blob is not a typo: no suggestions (and no quadratic scan).
    let blob = "x".repeat(60_000);
    let p = Ctx::default().plan(&rerun(&[blob.as_str()], false), &group());
    assert_eq!(p.refusal, Some(CommandRefusal::NoMatch));
    assert!(p.unmatched[0].suggestions.is_empty());
    // Many typos: each is reported, the first ten with suggestions.
    let typos: Vec<String> = (0..15).map(|n| format!("source-test-lni{n}")).collect();
    let typos: Vec<&str> = typos.iter().map(String::as_str).collect();
    let p = Ctx::default().plan(&rerun(&typos, false), &group());
    assert_eq!(p.unmatched.len(), 15);
    assert!(p.unmatched[..10]
        .iter()
        .all(|u| u.suggestions == ["source-test-lint"]));
    assert!(p.unmatched[10..].iter().all(|u| u.suggestions.is_empty()));
}

#[test]
fn classification_table() {
    use crate::policy::task::TaskSnapshot as T;
    let thk = |kind: &str| {
        let mut t = task("X", "x");
        t.job_kind = Some(kind.into());
        t
    };
    let default = RepoConfig::default();
    let mut custom = RepoConfig::default();
    custom.classify.release.task_queues = vec![GlobPattern("mozillavpn-*/signing".into())];
    custom.classify.test.treeherder_job_kinds = vec!["test".into(), "other".into()];
    let mut no_tags = RepoConfig::default();
    no_tags.classify.test.tags.clear();
    let rows: Vec<(&str, T, &RepoConfig, TaskClass)> = vec![
        (
            "scriptworker-k8s queue is release",
            task("X", "x").release(),
            &default,
            TaskClass::Release,
        ),
        (
            "scriptworker-prov-v1 queue is release",
            {
                let mut t = task("X", "x");
                t.task_queue_id = "scriptworker-prov-v1/signing-mac".into();
                t
            },
            &default,
            TaskClass::Release,
        ),
        (
            "release wins over a retrigger tag",
            task("X", "x").release().test(),
            &default,
            TaskClass::Release,
        ),
        (
            "retrigger tag is test",
            task("X", "x").test(),
            &default,
            TaskClass::Test,
        ),
        (
            "retrigger tag false is not test",
            {
                let mut t = task("X", "x");
                t.tags.insert("retrigger", "false");
                t
            },
            &default,
            TaskClass::Other,
        ),
        (
            "treeherder test job kind is test",
            thk("test"),
            &default,
            TaskClass::Test,
        ),
        (
            "treeherder build job kind is other",
            thk("build"),
            &default,
            TaskClass::Other,
        ),
        (
            "a build queue is other",
            task("X", "x"),
            &default,
            TaskClass::Other,
        ),
        (
            "custom release glob",
            {
                let mut t = task("X", "x");
                t.task_queue_id = "mozillavpn-3/signing".into();
                t
            },
            &custom,
            TaskClass::Release,
        ),
        (
            "custom config drops the default release globs",
            task("X", "x").release(),
            &custom,
            TaskClass::Other,
        ),
        ("custom job kinds", thk("other"), &custom, TaskClass::Test),
        (
            "an empty tag map matches nothing",
            task("X", "x").test(),
            &no_tags,
            TaskClass::Other,
        ),
    ];
    for (name, t, config, want) in rows {
        assert_eq!(config.classify(&t), want, "{name}");
    }
}
