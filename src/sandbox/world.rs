//! A seeded world for `demo` and the end-to-end tests: both sandboxes, the
//! fixtures' task groups, a repository with pull requests whose check runs
//! point at those tasks, collaborators with roles, and a running rerunbot
//! (temporary SQLite file) wired to the sandboxes.

use super::github::{
    payloads, SandboxCheckRun, SandboxGithub, SandboxGithubConfig, SandboxPull,
    TEST_APP_PRIVATE_KEY,
};
use super::taskcluster::fixtures::{self, PR_ACTIONS, PR_GROUP, RELEASE_ACTIONS, RELEASE_GROUP};
use super::taskcluster::worker::WorkerScript;
use super::taskcluster::{SandboxQueue, SandboxQueueConfig, WorkerHandle};
use crate::config::{Secret, TaskclusterCredentials, WebhookSecrets};
use crate::follow::FollowConfig;
use crate::github::{GithubApp, GithubOptions};
use crate::pipeline::Pipeline;
use crate::policy::Role;
use crate::service::Service;
use crate::store::Store;
use crate::taskcluster::{QueueClient, RetryPolicy};
use crate::types::{CommentId, CommitSha, Login, PullRequestNumber, RepoName};
use crate::webhook::signature::sign;
use crate::worker::{JobEvent, JobEventKind, WorkerConfig};
use std::time::Duration;
use tokio::sync::broadcast;

pub const SECRET: &str = "sandbox-webhook-secret";
pub const INSTALLATION: u64 = 55;
/// An open pull request whose head ran `fixtures/taskcluster/pr-group.json`.
pub const PR_OPEN: u64 = 7;
/// A merged pull request whose merge commit ran the release group.
pub const PR_MERGED: u64 = 8;
/// A closed, unmerged pull request.
pub const PR_CLOSED: u64 = 9;
pub const HEAD_SHA: &str = "5c1e0c3b6a7d4f2e9b8a1c0d3e4f5a6b7c8d9e0f";
pub const MERGE_SHA: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";
pub const RELEASE_HEAD_SHA: &str = "1111111111111111111111111111111111111111";

/// The people of the world: login and repository role.
pub const PEOPLE: &[(&str, Role)] = &[
    ("alice", Role::Write),  // author of the pull requests
    ("bob", Role::Write),    // a developer
    ("mia", Role::Maintain), // a maintainer
    ("rita", Role::Read),    // a reader
];

/// The running world.
pub struct World {
    pub github: SandboxGithub,
    pub queue: SandboxQueue,
    _worker: Option<WorkerHandle>,
    /// The sandbox queue's Pulse publisher (with [`WorldOptions::pulse`]).
    pub pulse: Option<crate::sandbox::taskcluster::pulse::SandboxPulse>,
    pub service: Service,
    pub repo: RepoName,
    events: broadcast::Receiver<JobEvent>,
    next_comment: u64,
    last_comment: u64,
    options: WorldOptions,
    db_url: String,
    _dir: tempfile_dir::TempDir,
}

/// How fast the world's clients retry (tests want it quick).
#[derive(Clone, Debug)]
pub struct WorldOptions {
    pub queue_retry: RetryPolicy,
    pub github: GithubOptions,
    pub workers: WorkerConfig,
    pub repo_config: Option<String>,
    /// The sandbox queue's listTaskGroup page size (small by default, to
    /// exercise continuation tokens; the real queue's is up to 1000).
    pub queue_page_size: usize,
    /// The database (default: a temporary SQLite file).
    pub database_url: Option<String>,
    /// Follow what rerunbot starts (live replies); off by default.
    pub follow: Option<FollowConfig>,
    /// Run the sandbox worker with this script, so tasks progress.
    pub sandbox_worker: Option<WorkerScript>,
    /// Follow through Pulse too: the sandbox publishes its worker's
    /// resolutions to this broker and the service consumes them (needs
    /// [`Self::follow`]).
    pub pulse: Option<crate::follow::pulse::PulseConfig>,
}

impl Default for WorldOptions {
    fn default() -> Self {
        Self {
            queue_retry: RetryPolicy {
                retries: 3,
                base: Duration::from_millis(20),
                max: Duration::from_millis(200),
            },
            github: GithubOptions {
                backoff_base: Duration::from_millis(20),
                ..GithubOptions::default()
            },
            workers: WorkerConfig {
                workers: 2,
                backoff_base: Duration::from_millis(20),
                backoff_max: Duration::from_millis(100),
                poll_interval: Duration::from_millis(50),
                ..WorkerConfig::default()
            },
            repo_config: None,
            queue_page_size: 3,
            database_url: None,
            follow: None,
            sandbox_worker: None,
            pulse: None,
        }
    }
}

/// What one comment led to.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The bot's reply comment, if it wrote one.
    pub reply: Option<String>,
    /// Reactions on the command comment, in order.
    pub reactions: Vec<String>,
    pub job: Option<JobEventKind>,
}

/// The seeded sandboxes alone, without a rerunbot: for a rerunbot run
/// elsewhere (`examples/chaos.rs` runs the release binary against them).
pub struct Sandboxes {
    pub github: SandboxGithub,
    pub queue: SandboxQueue,
    pub repo: RepoName,
}

/// The GitHub App id the sandbox GitHub trusts (its key is
/// [`TEST_APP_PRIVATE_KEY`]).
pub const APP_ID: u64 = 4242;
/// The Taskcluster client the sandbox queue knows.
pub const TASKCLUSTER_CLIENT_ID: &str = "rerunbot";
pub const TASKCLUSTER_ACCESS_TOKEN: &str = "sandbox-access-token";

impl Sandboxes {
    /// Both sandboxes, seeded: the fixtures' task groups, the repository,
    /// its pull requests with their check runs, the people and their roles.
    pub async fn start(options: &WorldOptions) -> anyhow::Result<Sandboxes> {
        let queue = SandboxQueue::start(SandboxQueueConfig {
            page_size: options.queue_page_size,
            ..SandboxQueueConfig::default()
        })
        .await?;
        let repo = RepoName::new("mozilla", "gecko-dev");
        let name = repo.to_string();
        // The decision tasks name this repository and the commits the
        // groups ran for, so they pass the provenance check.
        queue.seed_fixture(&fixtures::for_commit(PR_GROUP, &name, HEAD_SHA));
        queue.seed_fixture(&fixtures::for_commit(RELEASE_GROUP, &name, MERGE_SHA));
        // Both decision tasks publish their in-tree actions; a test wanting
        // a group without them removes the artifact (`remove_artifact`).
        for (decision, actions, sha) in [
            (fixtures::pr::DECISION, PR_ACTIONS, HEAD_SHA),
            (fixtures::release::DECISION, RELEASE_ACTIONS, MERGE_SHA),
        ] {
            queue.seed_actions(decision, &fixtures::for_commit(actions, &name, sha));
        }
        let github = SandboxGithub::start(SandboxGithubConfig::default()).await?;
        github.add_repo(&repo, "main");
        github.add_pull_request(&repo, SandboxPull::open(PR_OPEN, HEAD_SHA, "alice"));
        github.add_pull_request(
            &repo,
            SandboxPull::merged(PR_MERGED, RELEASE_HEAD_SHA, MERGE_SHA, "alice"),
        );
        github.add_pull_request(&repo, SandboxPull::closed(PR_CLOSED, HEAD_SHA, "alice"));
        for (login, role) in PEOPLE {
            github.set_role(&repo, &Login::from(*login), *role);
        }
        if let Some(config) = &options.repo_config {
            github.set_file(&repo, crate::repo_config::CONFIG_PATH, config);
        }
        let root = queue.root_url();
        for (sha, group) in [(HEAD_SHA, PR_GROUP), (MERGE_SHA, RELEASE_GROUP)] {
            add_check_runs(&github, &repo, sha, &root, group);
        }
        Ok(Sandboxes {
            github,
            queue,
            repo,
        })
    }
}

impl World {
    pub async fn start(options: WorldOptions) -> anyhow::Result<World> {
        let Sandboxes {
            github,
            queue,
            repo,
        } = Sandboxes::start(&options).await?;
        let dir = tempfile_dir::TempDir::new()?;
        let db_url = options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("rerunbot.db").display()));
        // The exchanges exist before the consumer binds to them.
        let pulse = match &options.pulse {
            Some(p) => Some(
                crate::sandbox::taskcluster::pulse::SandboxPulse::start(
                    &queue,
                    &p.url,
                    &p.exchange_prefix,
                )
                .await?,
            ),
            None => None,
        };
        let service = start_service(&github, &queue, &db_url, &options).await?;
        let events = service.subscribe();
        let worker = options
            .sandbox_worker
            .clone()
            .map(|script| queue.start_worker(script));
        Ok(World {
            github,
            queue,
            _worker: worker,
            pulse,
            service,
            repo,
            events,
            next_comment: 0,
            last_comment: 0,
            options,
            db_url,
            _dir: dir,
        })
    }

    /// Stops rerunbot as SIGTERM does, with no grace for running jobs (their
    /// leases are released), and starts a new rerunbot on the same database:
    /// what a deploy or a crash-and-restart looks like to the queue.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let service = start_service(&self.github, &self.queue, &self.db_url, &self.options).await?;
        let old = std::mem::replace(&mut self.service, service);
        self.events = self.service.subscribe();
        old.shutdown(Duration::ZERO).await;
        Ok(())
    }

    /// Posts `body` as a new comment by `login` on pull request `pr` (a
    /// signed `issue_comment` delivery) and waits for its job to finish.
    pub async fn comment(&mut self, pr: u64, login: &str, body: &str) -> anyhow::Result<Answer> {
        self.next_comment += 1;
        let author = Login::from(login);
        let id = self
            .github
            .add_user_comment(&self.repo, PullRequestNumber(pr), &author, body)
            .0;
        self.last_comment = id;
        let payload = comment_payload("created", pr, id, login, body, None);
        self.deliver(&guid(self.next_comment), &payload, CommentId(id), pr)
            .await
    }

    /// Like [`World::comment`] but returns once the delivery is accepted
    /// (202), with its GUID and the comment's id, without waiting for the job.
    pub async fn comment_accepted(
        &mut self,
        pr: u64,
        login: &str,
        body: &str,
    ) -> anyhow::Result<(String, CommentId)> {
        self.next_comment += 1;
        let author = Login::from(login);
        let id = self
            .github
            .add_user_comment(&self.repo, PullRequestNumber(pr), &author, body);
        self.last_comment = id.0;
        let guid = guid(self.next_comment);
        let (status, text) = self
            .post(
                &guid,
                &comment_payload("created", pr, id.0, login, body, None),
            )
            .await?;
        anyhow::ensure!(status == 202, "delivery answered {status}: {text}");
        Ok((guid, id))
    }

    /// Edits comment `id` from `before` to `after`.
    pub async fn edit(
        &mut self,
        pr: u64,
        id: u64,
        login: &str,
        before: &str,
        after: &str,
    ) -> anyhow::Result<Answer> {
        self.next_comment += 1;
        let payload = comment_payload("edited", pr, id, login, after, Some(before));
        self.deliver(&guid(self.next_comment), &payload, CommentId(id), pr)
            .await
    }

    /// Follow-through events of the running service from now on (`None`
    /// unless [`WorldOptions::follow`] is set).
    pub fn follow_events(&self) -> Option<broadcast::Receiver<crate::follow::FollowEvent>> {
        self.service.follow_events()
    }

    /// The id of the comment [`World::comment`] last posted.
    pub fn last_comment_id(&self) -> u64 {
        self.last_comment
    }

    /// Sends a signed delivery; waits for its job when one was queued.
    pub async fn deliver(
        &mut self,
        guid: &str,
        payload: &[u8],
        comment: CommentId,
        pr: u64,
    ) -> anyhow::Result<Answer> {
        let (status, _) = self.post(guid, payload).await?;
        let job = if status == 202 {
            Some(self.wait_for(guid).await?)
        } else {
            None
        };
        Ok(Answer {
            reply: self.reply_for(pr),
            reactions: self.github.reactions(comment),
            job,
        })
    }

    /// Posts a signed `issue_comment` delivery; returns the HTTP status.
    pub async fn post(&self, guid: &str, payload: &[u8]) -> anyhow::Result<(u16, String)> {
        self.post_event("issue_comment", guid, payload).await
    }

    /// Posts a signed delivery of `event`; returns the HTTP status.
    pub async fn post_event(
        &self,
        event: &str,
        guid: &str,
        payload: &[u8],
    ) -> anyhow::Result<(u16, String)> {
        let response = reqwest::Client::new()
            .post(self.service.webhook_url())
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", guid)
            .header("x-hub-signature-256", sign(SECRET, payload))
            .body(payload.to_vec())
            .send()
            .await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// Waits (at most 60 s) until the jobs of every `guid` are done or failed.
    pub async fn wait_for_all(&mut self, guids: &[&str]) -> anyhow::Result<()> {
        self.wait_for_all_within(guids, Duration::from_secs(60))
            .await
    }

    /// Waits (at most `limit`, on tokio's clock) until the jobs of every
    /// `guid` are done or failed.
    pub async fn wait_for_all_within(
        &mut self,
        guids: &[&str],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let mut left: Vec<&str> = guids.to_vec();
        let wait = async {
            while !left.is_empty() {
                match self.events.recv().await {
                    Ok(e) if matches!(e.outcome, JobEventKind::Done | JobEventKind::Failed(_)) => {
                        left.retain(|g| *g != e.delivery_id);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        anyhow::bail!("worker pool stopped")
                    }
                }
            }
            Ok(())
        };
        tokio::time::timeout(limit, wait).await?
    }

    /// Waits (at most 60 s) until the job of `guid` is done or failed.
    pub async fn wait_for(&mut self, guid: &str) -> anyhow::Result<JobEventKind> {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Ok(e)
                        if e.delivery_id == guid
                            && matches!(
                                e.outcome,
                                JobEventKind::Done | JobEventKind::Failed(_)
                            ) =>
                    {
                        return Ok(e.outcome);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        anyhow::bail!("worker pool stopped")
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait).await?
    }

    /// The Pulse consumer's settings ([`WorldOptions::pulse`]).
    pub fn pulse_config(&self) -> Option<&crate::follow::pulse::PulseConfig> {
        self.options.pulse.as_ref()
    }

    /// `text` with the sandbox's root URL (a random port) replaced by a fixed one.
    pub fn normalize(&self, text: &str) -> String {
        text.replace(&self.queue.root_url(), "https://tc.example")
    }

    /// The newest comment by the app on pull request `pr`.
    pub fn reply_for(&self, pr: u64) -> Option<String> {
        self.github
            .comments(&self.repo, PullRequestNumber(pr))
            .into_iter()
            .rev()
            .find(|c| c.author.as_str() == super::github::BOT_LOGIN)
            .map(|c| c.body)
    }

    /// Every comment by the app on pull request `pr`.
    pub fn replies(&self, pr: u64) -> Vec<String> {
        self.github
            .comments(&self.repo, PullRequestNumber(pr))
            .into_iter()
            .filter(|c| c.author.as_str() == super::github::BOT_LOGIN)
            .map(|c| c.body)
            .collect()
    }

    pub async fn shutdown(self) {
        self.service.shutdown(Duration::from_secs(5)).await;
    }
}

/// A delivery GUID that is the same on every run, so copy ids (derived
/// from it) and therefore replies are reproducible.
pub fn guid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// A rerunbot wired to the sandboxes, on the database at `db_url`.
async fn start_service(
    github: &SandboxGithub,
    queue: &SandboxQueue,
    db_url: &str,
    options: &WorldOptions,
) -> anyhow::Result<Service> {
    let root = queue.root_url();
    let store = Store::connect(db_url).await?;
    let app = GithubApp::with_options(
        github.api_url(),
        APP_ID,
        &Secret::new(TEST_APP_PRIVATE_KEY),
        options.github.clone(),
    )?;
    app.share_content_limit(store.clone());
    let client = QueueClient::new(
        &root,
        Some(TaskclusterCredentials {
            client_id: TASKCLUSTER_CLIENT_ID.to_owned(),
            access_token: Secret::new(TASKCLUSTER_ACCESS_TOKEN),
            certificate: None,
        }),
    )
    .with_retry(options.queue_retry)
    .with_authorized_scopes_template(vec![crate::config::DEFAULT_AUTHORIZED_SCOPES.to_owned()]);
    let pipeline = Pipeline::new(app, client, &root);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let secrets = WebhookSecrets::parse(SECRET).ok_or_else(|| anyhow::anyhow!("secret"))?;
    let service_options = crate::service::ServiceOptions::default();
    let handler = std::sync::Arc::new(crate::follow::auto_rerun::Jobs::new(
        pipeline.clone(),
        service_options.metrics.clone(),
    ));
    let limits = (
        options.workers.clone(),
        crate::server::IngressLimits::default(),
    );
    let mut service =
        Service::start_with(listener, store, secrets, handler, limits, service_options).await?;
    if let Some(config) = &options.follow {
        service.start_following_with(pipeline, config.clone(), options.pulse.clone());
    }
    Ok(service)
}

/// One check run per task of a fixture group, as taskcluster-github makes them.
fn add_check_runs(github: &SandboxGithub, repo: &RepoName, sha: &str, root: &str, group: &str) {
    let list = fixtures::parse(group);
    for entry in list["tasks"].as_array().into_iter().flatten() {
        let (Some(task_id), Some(name)) = (
            entry["status"]["taskId"].as_str(),
            entry["task"]["metadata"]["name"].as_str(),
        ) else {
            continue;
        };
        let conclusion = match entry["status"]["state"].as_str() {
            Some("completed") => "success",
            Some("failed") => "failure",
            _ => "neutral",
        };
        github.add_check_run(
            repo,
            &CommitSha::from(sha),
            SandboxCheckRun::for_task(name, root, task_id, conclusion),
        );
    }
}

/// An `issue_comment` delivery on a pull request of mozilla/gecko-dev by
/// alice, built from GitHub's published example (`fixtures/github/webhooks`).
pub fn comment_payload(
    action: &str,
    pr: u64,
    comment_id: u64,
    login: &str,
    body: &str,
    before: Option<&str>,
) -> Vec<u8> {
    payloads::issue_comment(&payloads::CommentDelivery {
        action,
        repo: "mozilla/gecko-dev",
        installation: INSTALLATION,
        pr,
        pr_author: "alice",
        comment_id,
        login,
        body,
        before,
    })
}

/// A temporary directory removed on drop (no dependency for one struct).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<Self> {
            let path =
                std::env::temp_dir().join(format!("rerunbot-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
