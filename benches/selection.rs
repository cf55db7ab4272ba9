//! Selection on a Firefox-sized graph: one command with 50 globs (the most
//! a command may hold) over 20,000 tasks, planned by `policy::plan` (the
//! glob set is compiled once and matched once per distinct label), and the
//! worst comment the grammar accepts: 10 such commands.
//!
//! `cargo bench --bench selection`

use chrono::{Duration, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rerunbot::command::Command;
use rerunbot::policy::task::{Tags, TaskSnapshot, TaskState};
use rerunbot::policy::{plan, Actor, Ledger, Outside, PlanInput, PrState, Role};
use rerunbot::repo_config::RepoConfig;
use rerunbot::types::{DeliveryId, Login, TaskGroupId, TaskId};

const PLATFORMS: [&str; 10] = [
    "linux1804-64-qr/opt",
    "linux1804-64-qr/debug",
    "linux1804-64-asan-qr/opt",
    "windows11-64-24h2/opt",
    "windows11-64-24h2/debug",
    "windows11-32-24h2/opt",
    "macosx1470-64/opt",
    "macosx1470-64/debug",
    "android-em-7.0-x86_64-qr/opt",
    "android-em-7.0-x86_64-qr/debug",
];
const SUITES: [&str; 8] = [
    "mochitest-browser-chrome",
    "mochitest-plain",
    "xpcshell",
    "web-platform-tests",
    "reftest",
    "crashtest",
    "marionette",
    "gtest",
];

fn tasks(n: usize) -> Vec<TaskSnapshot> {
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let label = format!(
                "test-{}-{}-{}",
                PLATFORMS[i % PLATFORMS.len()],
                SUITES[(i / PLATFORMS.len()) % SUITES.len()],
                i / (PLATFORMS.len() * SUITES.len()) + 1
            );
            let tags: Tags = [
                ("kind", "test"),
                ("retrigger", "true"),
                ("label", label.as_str()),
            ]
            .into_iter()
            .collect();
            TaskSnapshot {
                task_id: TaskId::new(format!("{i:0>22}")),
                name: None,
                label: label.into(),
                task_group_id: TaskGroupId::new("G"),
                state: if i % 997 == 0 {
                    TaskState::Failed
                } else {
                    TaskState::Completed
                },
                runs: 1,
                last_reason_resolved: Some("completed".into()),
                ran: true,
                created: now - Duration::hours(1),
                deadline: now + Duration::hours(23),
                expires: now + Duration::days(28),
                dependencies: Vec::new(),
                consumes: Vec::new(),
                dependents: Vec::new(),
                task_queue_id: "gecko-t/t-linux-docker".into(),
                tags,
                job_kind: Some("test".into()),
                provenance: None,
            }
        })
        .collect()
}

/// 50 distinct globs: most match a few hundred tasks, some none.
fn globs() -> Vec<String> {
    (0..50)
        .map(|g| match g % 5 {
            0 => format!("*{}*-{}", SUITES[g % SUITES.len()], g + 1),
            1 => format!("test-{}-*", PLATFORMS[g % PLATFORMS.len()]),
            2 => format!("?*{}?*", g),
            3 => format!("*-{}-[0-9]", SUITES[g % SUITES.len()]),
            _ => format!("nothing-like-this-{g}-*"),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let tasks = tasks(20_000);
    let config = RepoConfig::default();
    let actor = Actor {
        login: Login::new("mia"),
        role: Role::Maintain,
        is_pr_author: false,
    };
    let ledger = Ledger::default();
    let outside = Outside::default();
    let delivery = DeliveryId::new("bench");
    let command = Command::Rerun {
        selectors: globs(),
        force: false,
    };
    let input = PlanInput {
        command: &command,
        command_text: "/rerun ...",
        tasks: &tasks,
        actor: &actor,
        config: &config,
        ledger: &ledger,
        outside: &outside,
        pr: PrState::Open,
        delivery: &delivery,
        command_index: 0,
        now: Utc::now(),
    };
    let mut group = c.benchmark_group("selection");
    group.sample_size(10);
    group.bench_function("20000 tasks x 50 globs, one command", |b| {
        b.iter(|| black_box(plan(black_box(&input))))
    });
    group.bench_function("20000 tasks x 50 globs, ten commands", |b| {
        b.iter(|| {
            for index in 0..10 {
                black_box(plan(&PlanInput {
                    command_index: index,
                    ..input.clone()
                }));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
