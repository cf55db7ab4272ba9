//! Comment → reply latency with a distant GitHub and Taskcluster: both
//! sandboxes add 20 ms to every answer, and `/retrigger 10` over 10 failed
//! test tasks creates 100 tasks. Prints the median over several comments,
//! in sequential round trips, and the GitHub and Taskcluster calls made per
//! command (cold: first command, tokens and caches empty; warm: the rest).
//!
//! `cargo bench --bench latency`; with `LATENCY_TIMELINE=1` it also prints
//! when each call of the last round's commands arrived (ms after the
//! comment was posted), to see which calls wait on which.

use rerunbot::policy::copy_ids::copy_task_id;
use rerunbot::sandbox::github::SandboxCheckRun;
use rerunbot::sandbox::taskcluster::fixtures::pr;
use rerunbot::sandbox::world::{World, WorldOptions, HEAD_SHA, PR_OPEN};
use rerunbot::types::{CommitSha, DeliveryId, TaskId};
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(20);
const ROUNDS: usize = 7;

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs benches once in test mode: keep that quick.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        2
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(rounds))
}

async fn run(rounds: usize) -> anyhow::Result<()> {
    // A fresh world per round keeps the group at 22 tasks (+100 after the
    // first comment), so the figure is about round trips, not group size.
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut calls = None;
    for _ in 0..rounds {
        let mut world = World::start(WorldOptions {
            // Every run retriggers on the same commit, with a glob the
            // failure guard would otherwise stop; direct queue copies (the
            // createTask path this measures), not in-tree actions.
            repo_config: Some(
                "dispatch: queue\nlimits:\n  max_new_tasks: 100\n  max_retriggers_per_sha: 100000\n  max_failure_percent: 100\n"
                    .to_owned(),
            ),
            queue_page_size: 1000,
            ..WorldOptions::default()
        })
        .await?;
        seed_ten_failed_tests(&world)?;
        world.queue.set_latency(LATENCY);
        world.github.set_latency(LATENCY);
        let (c, cold_calls) = one_command(&mut world).await?;
        let (w, warm_calls) = one_command(&mut world).await?;
        cold.push(c);
        warm.push(w);
        calls = Some((cold_calls, warm_calls));
        let created = world.queue.accepted("PUT", "").len();
        anyhow::ensure!(
            created == 200,
            "expected 100 createTask per command, saw {created}"
        );
        world.shutdown().await;
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (cold, warm) = (median(&mut cold), median(&mut warm));
    let rtt = |d: Duration| d.as_secs_f64() / LATENCY.as_secs_f64();
    println!(
        "latency: /retrigger 10 over 10 tasks (100 createTask), {} ms per call, median of {rounds}: cold {:.0} ms ({:.1} round trips), warm {:.0} ms ({:.1} round trips)",
        LATENCY.as_millis(),
        cold.as_secs_f64() * 1000.0,
        rtt(cold),
        warm.as_secs_f64() * 1000.0,
        rtt(warm)
    );
    if let Some(((gh_cold, tc_cold), (gh_warm, tc_warm))) = calls {
        println!(
            "calls per command: GitHub cold {gh_cold} / warm {gh_warm}; Taskcluster cold {tc_cold} / warm {tc_warm} (100 of them createTask)"
        );
    }
    Ok(())
}

/// One `/retrigger 10`: its duration and the (GitHub, Taskcluster) calls it made.
async fn one_command(world: &mut World) -> anyhow::Result<(Duration, (usize, usize))> {
    let (gh, tc) = (world.github.calls().len(), world.queue.calls().len());
    let started = Instant::now();
    let timeline_from = (gh, tc);
    let answer = world
        .comment(
            PR_OPEN,
            "bob",
            "/retrigger 10 test-linux64/opt-mochitest-plain-*",
        )
        .await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        answer.reactions.last().map(String::as_str) == Some("rocket"),
        "not dispatched: {answer:?}"
    );
    if std::env::var_os("LATENCY_TIMELINE").is_some() {
        print_timeline(world, started, timeline_from, elapsed);
    }
    Ok((
        elapsed,
        (
            world.github.calls().len() - gh,
            world.queue.calls().len() - tc,
        ),
    ))
}

/// Each call the command made, in arrival order, ms after `started`;
/// consecutive createTask calls are one line.
fn print_timeline(world: &World, started: Instant, (gh, tc): (usize, usize), elapsed: Duration) {
    let mut lines: Vec<(Duration, String)> = Vec::new();
    for call in world.github.calls().into_iter().skip(gh) {
        let at = call.at.saturating_duration_since(started);
        lines.push((at, format!("GitHub {} {}", call.method, call.path)));
    }
    for call in world.queue.calls().into_iter().skip(tc) {
        let at = call.at.saturating_duration_since(started);
        let what = if call.method == "PUT" {
            "PUT createTask".to_owned()
        } else {
            format!("{} {}", call.method, call.path)
        };
        lines.push((at, format!("Taskcluster {what}")));
    }
    lines.sort_by_key(|(at, _)| *at);
    println!(
        "timeline ({:.1} ms in all):",
        elapsed.as_secs_f64() * 1000.0
    );
    let mut i = 0;
    while i < lines.len() {
        let (at, what) = &lines[i];
        let mut n = 1;
        while i + n < lines.len() && lines[i + n].1 == *what {
            n += 1;
        }
        let last = lines[i + n - 1].0;
        if n > 1 {
            println!(
                "  {:7.1}–{:7.1} ms  {what} ×{n}",
                at.as_secs_f64() * 1000.0,
                last.as_secs_f64() * 1000.0
            );
        } else {
            println!("  {:7.1} ms  {what}", at.as_secs_f64() * 1000.0);
        }
        i += n;
    }
}

/// Ten more failed, retriggerable test tasks in the pull request's group,
/// each with its check run.
fn seed_ten_failed_tests(world: &World) -> anyhow::Result<()> {
    let source = world
        .queue
        .task(pr::TEST_BC1_FAILED)
        .ok_or_else(|| anyhow::anyhow!("fixture task"))?;
    let root = world.queue.root_url();
    for i in 0..10u32 {
        let id = copy_task_id(
            &DeliveryId::from("bench-seed"),
            &TaskId::from(pr::TEST_BC1_FAILED),
            i,
        );
        let label = format!("test-linux64/opt-mochitest-plain-{}", i + 1);
        let mut task = source["task"].clone();
        task["tags"]["label"] = label.clone().into();
        task["metadata"]["name"] = label.clone().into();
        let mut status = source["status"].clone();
        status["taskId"] = id.to_string().into();
        world.queue.add_task(id.as_str(), task, status);
        world.github.add_check_run(
            &world.repo,
            &CommitSha::from(HEAD_SHA),
            SandboxCheckRun::for_task(&label, &root, id.as_str(), "failure"),
        );
    }
    Ok(())
}
