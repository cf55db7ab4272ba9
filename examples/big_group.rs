//! A Firefox-sized task group against the real binary: starts the sandbox
//! GitHub and a sandbox queue holding one pull request's group of TASKS
//! tasks (default 20,000) with realistic definitions (~3 KB each: payload
//! with env, command, artifacts, mounts; dependencies, routes, scopes,
//! tags, extra), served in pages of 1,000; runs `rerunbot serve` (the binary
//! given, normally `target/release/rerunbot`) as a child process wired to
//! them; times one listing of the group with rerunbot's own queue client;
//! then posts three signed comments one after the other (a bare `/rerun`, a
//! glob selector, a `/retrigger`) and times each from the delivery to the
//! reply. Prints one line of `key=value` figures, among them the child's
//! peak RSS (`VmHWM` of `/proc/<pid>/status`). Loopback only.
//!
//! ```sh
//! cargo build --release --bin rerunbot --example big_group
//! target/release/examples/big_group target/release/rerunbot [TASKS]
//! ```

use base64::Engine;
use chrono::{Duration as Span, Utc};
use rerunbot::policy::Role;
use rerunbot::sandbox::github::{
    SandboxCheckRun, SandboxGithub, SandboxGithubConfig, SandboxPull, BOT_LOGIN,
    TEST_APP_PRIVATE_KEY,
};
use rerunbot::sandbox::taskcluster::{SandboxQueue, SandboxQueueConfig};
use rerunbot::sandbox::world::comment_payload;
use rerunbot::types::{CommitSha, Login, PullRequestNumber, RepoName, TaskGroupId};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "big-group-secret";
const SHA: &str = "5c1e0c3b6a7d4f2e9b8a1c0d3e4f5a6b7c8d9e0f";
const PR: u64 = 7;
const PAGE: usize = 1000;
/// One failed test task in this many (Firefox try pushes: a handful of
/// failures among thousands of tasks).
const FAIL_EVERY: usize = 997;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .get(1)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("usage: big_group PATH_TO_RERUNBOT [TASKS]"))?;
    let count: usize = args
        .get(2)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);

    let queue = SandboxQueue::start(SandboxQueueConfig {
        page_size: PAGE,
        ..SandboxQueueConfig::default()
    })
    .await?;
    let repo = RepoName::new("mozilla", "gecko-dev");
    let graph = Graph::generate(&queue, &repo, count);
    let github = SandboxGithub::start(SandboxGithubConfig::default()).await?;
    github.add_repo(&repo, "main");
    github.add_pull_request(&repo, SandboxPull::open(PR, SHA, "alice"));
    for (login, role) in [("alice", Role::Write), ("bob", Role::Write)] {
        github.set_role(&repo, &Login::from(login), role);
    }
    let root = queue.root_url();
    // The decision task's check run first, then the failures' (what
    // taskcluster-github shows on the pull request).
    for (name, id, conclusion) in &graph.checks {
        github.add_check_run(
            &repo,
            &CommitSha::from(SHA),
            SandboxCheckRun::for_task(name, &root, id, conclusion),
        );
    }

    let dir = std::env::temp_dir().join(format!("rerunbot-big-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = std::process::Command::new(&binary)
        .arg("serve")
        .env("RERUNBOT_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "RERUNBOT_DATABASE_URL",
            format!("sqlite://{}", dir.join("big.db").display()),
        )
        .env("RERUNBOT_WEBHOOK_SECRET", SECRET)
        .env("RERUNBOT_GITHUB_APP_ID", "4242")
        .env("RERUNBOT_GITHUB_PRIVATE_KEY", TEST_APP_PRIVATE_KEY)
        .env("RERUNBOT_GITHUB_API_URL", github.api_url())
        .env("TASKCLUSTER_ROOT_URL", &root)
        .env("TASKCLUSTER_CLIENT_ID", "rerunbot")
        .env("TASKCLUSTER_ACCESS_TOKEN", "sandbox-access-token")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or("warn".into()),
        )
        .spawn()?;
    let result = measure(&child, port, &queue, &github, &repo, &graph).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", result?);
    Ok(())
}

async fn measure(
    child: &std::process::Child,
    port: u16,
    queue: &SandboxQueue,
    github: &SandboxGithub,
    repo: &RepoName,
    graph: &Graph,
) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let up = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(
            up.elapsed() < Duration::from_secs(20),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_idle = status_kb(child.id(), "VmRSS")?;

    // One listing of the group, with rerunbot's own client (page by page).
    let client = rerunbot::taskcluster::QueueClient::new(
        &queue.root_url(),
        Some(rerunbot::config::TaskclusterCredentials {
            client_id: "rerunbot".into(),
            access_token: rerunbot::config::Secret::new("sandbox-access-token"),
            certificate: None,
        }),
    );
    let started = Instant::now();
    let listed = client
        .list_task_group(&TaskGroupId::new(graph.group.clone()))
        .await?;
    let listing = started.elapsed();
    anyhow::ensure!(listed.len() == graph.tasks, "listed {} tasks", listed.len());
    drop(listed);

    let commands = [
        "/rerun".to_owned(),
        "/rerun test-linux1804-64-qr/opt-mochitest-browser-chrome-*".to_owned(),
        format!("/retrigger 3 {}", graph.failed_test),
    ];
    let mut figures = vec![
        format!("tasks={}", graph.tasks),
        format!("definition_bytes={}", graph.definition_bytes / graph.tasks),
        format!("listing_ms={}", listing.as_millis()),
    ];
    for (n, command) in commands.iter().enumerate() {
        let id = github.add_user_comment(repo, PullRequestNumber(PR), &Login::from("bob"), command);
        let payload = comment_payload("created", PR, id.0, "bob", command, None);
        let guid = format!("00000000-0000-4000-8000-{:012}", n + 1);
        let marker = format!("delivery={guid}");
        let sent = Instant::now();
        let response = http
            .post(format!("{base}/webhook"))
            .header("content-type", "application/json")
            .header("x-github-event", "issue_comment")
            .header("x-github-delivery", &guid)
            .header(
                "x-hub-signature-256",
                rerunbot::webhook::signature::sign(SECRET, &payload),
            )
            .body(payload)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 202,
            "delivery answered {}",
            response.status()
        );
        let reply = loop {
            let found = github
                .comments(repo, PullRequestNumber(PR))
                .into_iter()
                .find(|c| c.author.as_str() == BOT_LOGIN && c.body.contains(&marker));
            if let Some(reply) = found {
                break reply;
            }
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(120),
                "no reply to `{command}`"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        figures.push(format!("cmd{}_ms={}", n + 1, sent.elapsed().as_millis()));
        if std::env::var_os("BIG_GROUP_REPLIES").is_some() {
            eprintln!("--- {command}\n{}\n", reply.body);
        }
    }
    figures.push(format!("rss_idle_kb={rss_idle}"));
    figures.push(format!("peak_rss_kb={}", status_kb(child.id(), "VmHWM")?));
    Ok(figures.join(" "))
}

/// A field of `/proc/<pid>/status`, in kB.
fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} for {pid}"))
}

/// The generated group, as seeded.
struct Graph {
    group: String,
    tasks: usize,
    definition_bytes: usize,
    /// (check run name, taskId, conclusion)
    checks: Vec<(String, String, &'static str)>,
    failed_test: String,
}

fn slug(n: u128) -> String {
    let bytes = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)).to_be_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const PLATFORMS: &[&str] = &[
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
const SUITES: &[&str] = &[
    "mochitest-browser-chrome",
    "mochitest-plain",
    "mochitest-devtools-chrome",
    "mochitest-a11y",
    "mochitest-media",
    "xpcshell",
    "web-platform-tests",
    "web-platform-tests-reftest",
    "reftest",
    "crashtest",
    "jsreftest",
    "marionette",
    "gtest",
    "cppunit",
    "talos-tp5o",
    "raptor-browsertime-tp6",
];

impl Graph {
    fn generate(queue: &SandboxQueue, repo: &RepoName, count: usize) -> Graph {
        let group = slug(1);
        let now = Utc::now();
        let time =
            |h: i64| (now + Span::hours(h)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let repo_url = format!("https://github.com/{repo}");
        let mut bytes = 0;
        let mut checks = Vec::new();
        let mut seed = |id: &str, def: Value, status: Value| {
            bytes += def.to_string().len();
            queue.add_task(id, def, status);
        };
        // The decision task: it names the repository and the commit.
        let decision = json!({
            "provisionerId": "gecko-1", "workerType": "decision-gcp",
            "taskQueueId": "gecko-1/decision-gcp", "schedulerId": "gecko-level-1",
            "taskGroupId": group, "dependencies": [], "requires": "all-completed",
            "routes": ["checks", format!("tc-treeherder.v2.try.{SHA}")],
            "created": time(-3), "deadline": time(21), "expires": time(24 * 28),
            "scopes": [format!("assume:repo:github.com/{repo}:pull-request")],
            "payload": {"env": {"GECKO_HEAD_REPOSITORY": repo_url, "GECKO_HEAD_REV": SHA,
                                "GECKO_BASE_REPOSITORY": repo_url}, "maxRunTime": 5400},
            "metadata": {"name": "Gecko Decision Task", "owner": "alice@example.com",
                         "description": "decision", "source": format!("{repo_url}/raw/{SHA}/.taskcluster.yml")},
            "tags": {"kind": "decision-task", "createdForUser": "alice@example.com"},
            "extra": {"tasks_for": "github-pull-request"}
        });
        seed(&group, decision, completed(&group, &time(-3)));
        checks.push(("Gecko Decision Task".to_owned(), group.clone(), "success"));
        let image = slug(2);
        let toolchain = slug(3);
        for (id, label, kind) in [
            (&image, "docker-image-ubuntu1804-test", "docker-image"),
            (&toolchain, "toolchain-linux64-clang-19", "toolchain"),
        ] {
            let def = build_like(&group, id, label, kind, &[], &time, repo);
            seed(id, def, completed(id, &time(-3)));
        }
        let builds: Vec<String> = (0..PLATFORMS.len() * 4)
            .map(|n| slug(10 + n as u128))
            .collect();
        for (n, id) in builds.iter().enumerate() {
            let label = format!(
                "build-{}-{}",
                PLATFORMS[n % PLATFORMS.len()].replace('/', "-"),
                n / PLATFORMS.len()
            );
            let def = build_like(
                &group,
                id,
                &label,
                "build",
                &[&image, &toolchain],
                &time,
                repo,
            );
            seed(id, def, completed(id, &time(-2)));
        }
        let mut made = 3 + builds.len();
        let mut failed_test = String::new();
        let mut n = 0usize;
        while made < count {
            let platform = PLATFORMS[n % PLATFORMS.len()];
            let suite = SUITES[(n / PLATFORMS.len()) % SUITES.len()];
            let chunk = n / (PLATFORMS.len() * SUITES.len()) + 1;
            let label = format!("test-{platform}-{suite}-{chunk}");
            let id = slug(1000 + n as u128);
            let build = &builds[n % builds.len()];
            let def = test_def(
                &group, &id, &label, suite, chunk, build, &image, &toolchain, &time, repo,
            );
            let failed = n % FAIL_EVERY == FAIL_EVERY - 1;
            let status = if failed {
                if failed_test.is_empty() {
                    failed_test = label.clone();
                }
                checks.push((label.clone(), id.clone(), "failure"));
                resolved(&id, "failed", "failed", &time(-1))
            } else {
                completed(&id, &time(-1))
            };
            seed(&id, def, status);
            made += 1;
            n += 1;
        }
        Graph {
            group,
            tasks: made,
            definition_bytes: bytes,
            checks,
            failed_test,
        }
    }
}

fn completed(id: &str, at: &str) -> Value {
    resolved(id, "completed", "completed", at)
}

fn resolved(id: &str, state: &str, reason: &str, at: &str) -> Value {
    json!({"taskId": id, "state": state, "runs": [{
        "runId": 0, "state": state, "reasonCreated": "scheduled", "reasonResolved": reason,
        "workerGroup": "us-central1-b", "workerId": "7302881912345719750",
        "takenUntil": at, "scheduled": at, "started": at, "resolved": at}]})
}

fn build_like(
    group: &str,
    id: &str,
    label: &str,
    kind: &str,
    deps: &[&String],
    time: &dyn Fn(i64) -> String,
    repo: &RepoName,
) -> Value {
    json!({
        "provisionerId": "gecko-1", "workerType": "b-linux-gcp", "taskQueueId": "gecko-1/b-linux-gcp",
        "schedulerId": "gecko-level-1", "projectId": "none", "taskGroupId": group,
        "dependencies": deps, "requires": "all-completed",
        "routes": ["checks", format!("tc-treeherder.v2.try.{SHA}"), format!("index.gecko.v2.try.revision.{SHA}.firefox.{label}")],
        "priority": "low", "retries": 5,
        "created": time(-3), "deadline": time(21), "expires": time(24 * 28),
        "scopes": ["queue:route:checks", "secrets:get:project/releng/gecko/build/level-1/*", "docker-worker:cache:gecko-level-1-checkouts-v3"],
        "payload": {
            "image": {"type": "task-image", "taskId": id, "path": "public/image.tar.zst"},
            "command": ["/builds/worker/bin/run-task", "--gecko-checkout=/builds/worker/checkouts/gecko", "--", "/builds/worker/workspace/build/src/taskcluster/scripts/builder/build-linux.sh"],
            "env": {"GECKO_HEAD_REPOSITORY": format!("https://github.com/{repo}"), "GECKO_HEAD_REV": SHA,
                    "MOZ_BUILD_DATE": "20261123000000", "MOZ_SCM_LEVEL": "1", "MOZHARNESS_CONFIG": "builds/releng_base_linux_64_builds.py",
                    "MOZHARNESS_SCRIPT": "mozharness/scripts/fx_desktop_build.py", "TOOLTOOL_CACHE": "/builds/worker/tooltool-cache"},
            "artifacts": {"public/build": {"type": "directory", "path": "/builds/worker/artifacts/", "expires": time(24 * 28)},
                          "public/logs": {"type": "directory", "path": "/builds/worker/logs/", "expires": time(24 * 28)}},
            "maxRunTime": 7200, "onExitStatus": {"retry": [4, 137]}, "features": {"taskclusterProxy": true}
        },
        "metadata": {"name": label, "owner": "alice@example.com", "description": format!("{kind} {label}"),
                     "source": format!("https://github.com/{repo}/blob/{SHA}/taskcluster/kinds/{kind}")},
        "tags": {"kind": kind, "label": label, "os": "linux", "createdForUser": "alice@example.com", "worker-implementation": "docker-worker"},
        "extra": {"treeherder": {"jobKind": "build", "symbol": "B", "tier": 1, "machine": {"platform": "linux64"}, "collection": {"opt": true}},
                  "index": {"rank": 0}, "parent": group}
    })
}

#[allow(clippy::too_many_arguments)]
fn test_def(
    group: &str,
    id: &str,
    label: &str,
    suite: &str,
    chunk: usize,
    build: &str,
    image: &str,
    toolchain: &str,
    time: &dyn Fn(i64) -> String,
    repo: &RepoName,
) -> Value {
    let fetches = json!([
        {"artifact": "public/build/target.tar.xz", "extract": true, "task": build},
        {"artifact": "public/build/target.common.tests.tar.zst", "extract": true, "task": build},
        {"artifact": "public/build/clang.tar.zst", "extract": true, "task": toolchain}
    ]);
    json!({
        "provisionerId": "gecko-t", "workerType": "t-linux-docker", "taskQueueId": "gecko-t/t-linux-docker",
        "schedulerId": "gecko-level-1", "projectId": "none", "taskGroupId": group,
        "dependencies": [build, image, toolchain], "requires": "all-completed",
        "routes": ["checks", format!("tc-treeherder.v2.try.{SHA}")],
        "priority": "very-low", "retries": 5,
        "created": time(-2), "deadline": time(22), "expires": time(24 * 28),
        "scopes": ["queue:route:checks", "secrets:get:project/taskcluster/gecko/hgfingerprint",
                   "docker-worker:cache:gecko-level-1-checkouts-v3", "docker-worker:capability:device:kvm"],
        "payload": {
            "image": {"type": "task-image", "taskId": image, "path": "public/image.tar.zst"},
            "command": ["/builds/worker/bin/run-task", "--fetch-hgfingerprint", "--",
                        "/builds/worker/bin/test-linux.sh", format!("--{suite}"), format!("--this-chunk={chunk}"),
                        "--total-chunks=16", "--download-symbols=ondemand", "--setpref=media.peerconnection.mtransport_process=false"],
            "env": {"GECKO_HEAD_REPOSITORY": format!("https://github.com/{repo}"), "GECKO_HEAD_REV": SHA,
                    "MOZ_AUTOMATION": "1", "MOZ_SCM_LEVEL": "1", "MOZ_NODE_PATH": "/usr/local/bin/node",
                    "MOZHARNESS_CONFIG": "unittests/linux_unittest.py remove_executables.py",
                    "MOZHARNESS_SCRIPT": "desktop_unittest.py", "MOZHARNESS_URL": format!("https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/{build}/artifacts/public/build/mozharness.zip"),
                    "MOZILLA_BUILD_URL": format!("https://firefox-ci-tc.services.mozilla.com/api/queue/v1/task/{build}/artifacts/public/build/target.tar.xz"),
                    "NEED_PULSEAUDIO": "true", "NEED_WINDOW_MANAGER": "true", "ENABLE_E10S": "true",
                    "TASKCLUSTER_CACHES": "/builds/worker/checkouts", "TASKCLUSTER_VOLUMES": "/builds/worker/.cache;/builds/worker/checkouts;/builds/worker/tooltool-cache;/builds/worker/workspace",
                    "MOZ_FETCHES": fetches.to_string(), "MOZ_FETCHES_DIR": "fetches"},
            "artifacts": {"public/logs": {"type": "directory", "path": "/builds/worker/workspace/logs/", "expires": time(24 * 28)},
                          "public/test": {"type": "directory", "path": "/builds/worker/artifacts/", "expires": time(24 * 28)},
                          "public/test_info": {"type": "directory", "path": "/builds/worker/workspace/build/blobber_upload_dir/", "expires": time(24 * 28)}},
            "cache": {"gecko-level-1-checkouts-v3-b5e8c3": "/builds/worker/checkouts"},
            "maxRunTime": 5400, "onExitStatus": {"retry": [4, 137]},
            "features": {"taskclusterProxy": true, "allowPtrace": true}
        },
        "metadata": {"name": label, "owner": "alice@example.com",
                     "description": format!("{suite} chunk {chunk} ([Treeherder push](https://treeherder.mozilla.org/#/jobs?repo=try&revision={SHA}))"),
                     "source": format!("https://github.com/{repo}/blob/{SHA}/taskcluster/kinds/test")},
        "tags": {"kind": "test", "label": label, "os": "linux", "retrigger": "true", "test-type": suite,
                 "createdForUser": "alice@example.com", "worker-implementation": "docker-worker"},
        "extra": {"treeherder": {"jobKind": "test", "groupSymbol": "M", "symbol": format!("{chunk}"), "tier": 1,
                                 "machine": {"platform": "linux1804-64"}, "collection": {"opt": true}},
                  "chunks": {"current": chunk, "total": 16}, "suite": suite, "parent": group, "id": id}
    })
}
