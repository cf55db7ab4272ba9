//! Crash-and-fault run of the release binary (`scripts/chaos.sh`): starts
//! the seeded sandboxes (GitHub and Taskcluster, `sandbox::world`) in this
//! process, runs `rerunbot serve` as a child process on one SQLite file,
//! posts commands as GitHub does (a delivery is sent again, same GUID, until
//! it is answered 2xx), kills the child with SIGKILL at random moments and
//! starts it again on the same file, while both sandboxes answer random
//! calls with 5xx (some after carrying them out). Then it lets the last
//! child finish and checks that nothing was lost or doubled: every command
//! answered by exactly one reply, every retrigger copy created once, every
//! rerun sent once. The fixture publishes in-tree actions, so the commands
//! go through hook triggers (each action task made once, run by the
//! sandbox worker, which makes the copies and reruns counted).
//!
//! ```sh
//! cargo run --release --example chaos -- BINARY [RUNS] [COMMANDS] [KILLS] [SEED]
//! ```

use rerunbot::sandbox::github::BOT_LOGIN;
use rerunbot::sandbox::taskcluster::fixtures::pr;
use rerunbot::sandbox::taskcluster::worker::WorkerScript;
use rerunbot::sandbox::world::{self, Sandboxes, WorldOptions, PR_OPEN, SECRET};
use rerunbot::types::{CommentId, Login, PullRequestNumber};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Retriggerable failed tasks of the fixture's pull-request group.
const RETRIGGERED: &[&str] = &[
    "test-linux64/opt-mochitest-browser-chrome-1",
    "test-linux64/debug-xpcshell-3",
];
/// Failed tasks rerun, each by one command.
const RERUN: &[(&str, &str)] = &[
    ("build-win64/opt", pr::BUILD_WIN64_OPT_FAILED),
    ("source-test-mozlint-eslint", pr::LINT_ESLINT_FAILED),
];
/// Copies per retrigger command.
const COPIES: usize = 2;
/// How long the last child gets to answer everything.
const SETTLE: Duration = Duration::from_secs(240);

/// A small xorshift generator: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The figures of one run.
#[derive(Default, Debug)]
struct Figures {
    commands: usize,
    kills: usize,
    redeliveries: usize,
    injected: usize,
    lost: usize,
    doubled: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let binary = PathBuf::from(
        args.get(1)
            .map_or("target/release/rerunbot", String::as_str),
    );
    let arg = |i: usize, default: u64| -> anyhow::Result<u64> {
        Ok(args
            .get(i)
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (runs, commands, kills) = (arg(2, 3)?, arg(3, 40)?, arg(4, 25)?);
    let seed = arg(5, u64::from(std::process::id()) * 7919 + 1)?;
    println!("chaos: {runs} runs x {commands} commands, {kills} SIGKILLs per run, seed {seed}");
    let mut total = Figures::default();
    for run in 0..runs {
        let figures = one_run(&binary, commands as usize, kills as usize, seed + run).await?;
        println!("run {}: {figures:?}", run + 1);
        total.commands += figures.commands;
        total.kills += figures.kills;
        total.redeliveries += figures.redeliveries;
        total.injected += figures.injected;
        total.lost += figures.lost;
        total.doubled += figures.doubled;
    }
    println!(
        "total: runs {runs}, kills {}, commands {}, redeliveries {}, injected 5xx {}, losses {}, doubles {}",
        total.kills, total.commands, total.redeliveries, total.injected, total.lost, total.doubled
    );
    anyhow::ensure!(total.lost == 0 && total.doubled == 0, "lost or doubled");
    Ok(())
}

/// The rerunbot under test: a child process, started again after each kill.
struct Rerunbot {
    binary: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    health: String,
}

impl Rerunbot {
    async fn start(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(command.spawn()?);
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(&self.health).send().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("rerunbot did not start")
    }

    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // SIGKILL: no shutdown, no lease released, nothing flushed.
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Rerunbot {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

async fn one_run(
    binary: &Path,
    commands: usize,
    kills: usize,
    seed: u64,
) -> anyhow::Result<Figures> {
    let mut rng = Rng(seed.max(1));
    let sandboxes = Arc::new(Sandboxes::start(&WorldOptions::default()).await?);
    // The fixture's decision task publishes in-tree actions, so commands go
    // through hook triggers: the worker carries out the action tasks (their
    // copies and reruns are what is counted); other tasks keep their state.
    let _worker = sandboxes.queue.start_worker(WorkerScript {
        default: None,
        ..WorkerScript::default()
    });
    let dir =
        std::env::temp_dir().join(format!("rerunbot-chaos-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let key = dir.join("app-key.pem");
    std::fs::write(&key, rerunbot::sandbox::github::TEST_APP_PRIVATE_KEY)?;
    let mut child = Rerunbot {
        binary: binary.to_owned(),
        env: [
            ("RERUNBOT_LISTEN", format!("127.0.0.1:{port}")),
            (
                "RERUNBOT_DATABASE_URL",
                format!("sqlite://{}", dir.join("chaos.db").display()),
            ),
            ("RERUNBOT_WEBHOOK_SECRET", SECRET.to_owned()),
            ("RERUNBOT_GITHUB_APP_ID", world::APP_ID.to_string()),
            ("RERUNBOT_GITHUB_PRIVATE_KEY", key.display().to_string()),
            (
                "RERUNBOT_GITHUB_API_URL",
                sandboxes.github.api_url().to_owned(),
            ),
            ("TASKCLUSTER_ROOT_URL", sandboxes.queue.root_url()),
            (
                "TASKCLUSTER_CLIENT_ID",
                world::TASKCLUSTER_CLIENT_ID.to_owned(),
            ),
            (
                "TASKCLUSTER_ACCESS_TOKEN",
                world::TASKCLUSTER_ACCESS_TOKEN.to_owned(),
            ),
            ("RERUNBOT_LEASE", "5s".to_owned()),
            ("RERUNBOT_WORKERS", "4".to_owned()),
            ("RUST_LOG", "error".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        child: None,
        health: format!("http://127.0.0.1:{port}/healthz"),
    };
    child.start().await?;
    let before = Before::read(&sandboxes);

    // Random 5xx from both sandboxes while the kills go on.
    let faults = Arc::new(AtomicBool::new(true));
    let injector = tokio::spawn(inject(sandboxes.clone(), faults.clone(), rng.next()));

    // The commands, posted at random moments; each retried until answered.
    let plan = command_plan(commands);
    let url = format!("http://127.0.0.1:{port}/webhook");
    let poster = tokio::spawn(post_all(sandboxes.clone(), url, plan.clone(), rng.next()));

    let mut figures = Figures {
        commands: plan.len(),
        ..Figures::default()
    };
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(100 + rng.below(1400))).await;
        child.kill()?;
        figures.kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        child.start().await?;
    }
    let (comments, redeliveries) = poster.await??;
    figures.redeliveries = redeliveries;
    faults.store(false, Ordering::Relaxed);
    figures.injected = injector.await?;

    // The last child answers everything (or the run counts losses).
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline && !all_answered(&sandboxes, &comments) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give a late duplicate a moment to show before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.kill()?;
    let (lost, doubled) = check(&sandboxes, &before, &comments);
    figures.lost = lost;
    figures.doubled = doubled;
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}

/// What the sandboxes held before the run: the group's tasks and the runs
/// of the tasks to rerun.
struct Before {
    tasks: usize,
    runs: BTreeMap<&'static str, usize>,
}

impl Before {
    fn read(sandboxes: &Sandboxes) -> Self {
        Self {
            tasks: tasks_in_group(sandboxes),
            runs: RERUN
                .iter()
                .map(|(_, id)| (*id, runs(sandboxes, id)))
                .collect(),
        }
    }
}

/// The group's tasks, action tasks left out (what they made is counted).
fn tasks_in_group(sandboxes: &Sandboxes) -> usize {
    sandboxes
        .queue
        .tasks_in_group(pr::GROUP)
        .iter()
        .filter(|id| {
            sandboxes
                .queue
                .task(id)
                .is_some_and(|t| t["task"]["tags"]["kind"].as_str() != Some("action-callback"))
        })
        .count()
}

fn runs(sandboxes: &Sandboxes, task_id: &str) -> usize {
    sandboxes
        .queue
        .task(task_id)
        .and_then(|t| t["status"]["runs"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// One command per comment: reruns of distinct tasks first, then retriggers.
fn command_plan(commands: usize) -> Vec<String> {
    (0..commands)
        .map(|i| match RERUN.get(i) {
            Some((label, _)) => format!("/rerun {label}"),
            None => {
                let label = RETRIGGERED[i % RETRIGGERED.len()];
                format!("/retrigger {COPIES} {label}")
            }
        })
        .collect()
}

/// A posted command: its comment and delivery GUID.
#[derive(Clone, Debug)]
struct Posted {
    comment: CommentId,
    guid: String,
    text: String,
}

/// Posts every command as a new comment by bob, each delivery sent again
/// (same GUID) until answered 2xx, as GitHub redelivers.
async fn post_all(
    sandboxes: Arc<Sandboxes>,
    url: String,
    plan: Vec<String>,
    seed: u64,
) -> anyhow::Result<(Vec<Posted>, usize)> {
    let mut rng = Rng(seed.max(1));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut posted = Vec::new();
    let mut redeliveries = 0;
    for (i, text) in plan.into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        let comment = sandboxes.github.add_user_comment(
            &sandboxes.repo,
            PullRequestNumber(PR_OPEN),
            &Login::from("bob"),
            &text,
        );
        let guid = format!("chaos-{seed:x}-{i}");
        let body = world::comment_payload("created", PR_OPEN, comment.0, "bob", &text, None);
        let signature = rerunbot::webhook::signature::sign(SECRET, &body);
        let started = Instant::now();
        loop {
            let answer = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-github-event", "issue_comment")
                .header("x-github-delivery", &guid)
                .header("x-hub-signature-256", &signature)
                .body(body.clone())
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => break,
                _ => {
                    anyhow::ensure!(
                        started.elapsed() < Duration::from_secs(60),
                        "{guid} never accepted"
                    );
                    redeliveries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        posted.push(Posted {
            comment,
            guid,
            text,
        });
    }
    Ok((posted, redeliveries))
}

/// Answers random calls of both sandboxes with 5xx while `on`: some
/// refused outright, some carried out with the answer lost.
async fn inject(sandboxes: Arc<Sandboxes>, on: Arc<AtomicBool>, seed: u64) -> usize {
    let mut rng = Rng(seed.max(1));
    let mut injected = 0;
    while on.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50 + rng.below(250))).await;
        match rng.below(6) {
            0 => sandboxes.github.fail_next(1, 500),
            1 => sandboxes.github.fail_next(1, 502),
            2 => sandboxes
                .github
                .fail_after_effect_next("POST", "/comments", 502),
            3 => sandboxes.queue.fail_next(1, 500),
            4 => sandboxes.queue.lose_answer_next("PUT", 500),
            _ => sandboxes.queue.lose_answer_next("POST", 503),
        }
        injected += 1;
    }
    injected
}

/// The app's replies on the pull request, by the delivery marker they hold.
fn replies_by_marker(sandboxes: &Sandboxes) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for c in sandboxes
        .github
        .comments(&sandboxes.repo, PullRequestNumber(PR_OPEN))
    {
        if c.author.as_str() != BOT_LOGIN {
            continue;
        }
        for line in c.body.lines().filter(|l| l.contains("rerunbot delivery=")) {
            *found.entry(line.trim().to_owned()).or_default() += 1;
        }
    }
    found
}

fn all_answered(sandboxes: &Sandboxes, posted: &[Posted]) -> bool {
    let replies = replies_by_marker(sandboxes);
    posted.iter().all(|p| {
        replies.contains_key(&rerunbot::reply::delivery_marker(&p.guid))
            && sandboxes
                .github
                .reactions(p.comment)
                .iter()
                .any(|r| r == "rocket" || r == "confused")
    })
}

/// (lost, doubled): commands without exactly one reply or final reaction,
/// copies or reruns missing or beyond one per command.
fn check(sandboxes: &Sandboxes, before: &Before, posted: &[Posted]) -> (usize, usize) {
    let (mut lost, mut doubled) = (0, 0);
    let replies = replies_by_marker(sandboxes);
    for p in posted {
        match replies.get(&rerunbot::reply::delivery_marker(&p.guid)) {
            None => {
                println!("  lost: no reply to {:?} ({})", p.text, p.guid);
                lost += 1;
            }
            Some(1) => {}
            Some(n) => {
                println!("  doubled: {n} replies to {:?} ({})", p.text, p.guid);
                doubled += n - 1;
            }
        }
        let reactions = sandboxes.github.reactions(p.comment);
        if reactions.iter().filter(|r| *r == "rocket").count() != 1 {
            println!("  {:?}: reactions {reactions:?}", p.text);
            lost += 1;
        }
    }
    let retriggers = posted
        .iter()
        .filter(|p| p.text.starts_with("/retrigger"))
        .count();
    let created = tasks_in_group(sandboxes) - before.tasks;
    // A hook triggered twice makes a second action task: for a rerun of a
    // task already rerun it changes nothing, so action tasks are counted.
    let actions = sandboxes.queue.action_tasks();
    let retrigger_actions = actions.iter().filter(|a| a.name == "retrigger").count();
    if retrigger_actions > retriggers {
        println!("  doubled: {retrigger_actions} retrigger action tasks, {retriggers} commands");
        doubled += retrigger_actions - retriggers;
    }
    for (_, id) in RERUN {
        let n = actions
            .iter()
            .filter(|a| a.name == "rerun" && a.target.as_deref() == Some(*id))
            .count();
        if n > 1 {
            println!("  doubled: {n} rerun action tasks for {id}");
            doubled += n - 1;
        }
    }
    let expected = retriggers * COPIES;
    if created < expected {
        println!("  lost: {created} copies created, {expected} expected");
        lost += expected - created;
    } else if created > expected {
        println!("  doubled: {created} copies created, {expected} expected");
        doubled += created - expected;
    }
    for (id, was) in &before.runs {
        let now = runs(sandboxes, id);
        match now.cmp(&(was + 1)) {
            std::cmp::Ordering::Less => {
                println!("  lost: {id} has {now} runs, {} expected", was + 1);
                lost += 1;
            }
            std::cmp::Ordering::Greater => {
                println!("  doubled: {id} has {now} runs, {} expected", was + 1);
                doubled += now - was - 1;
            }
            std::cmp::Ordering::Equal => {}
        }
    }
    (lost, doubled)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
