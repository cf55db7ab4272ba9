//! The sandbox GitHub's data: repositories, pull requests, collaborators,
//! files, comments, reactions, check runs, statuses, issued tokens, the call
//! log and queued faults. Plain data behind one mutex; `routes` answers
//! requests against it.

use crate::policy::plan::Role;
use crate::types::{CommentId, CommitSha, InstallationId, Login, PullRequestNumber, RepoName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use std::time::Instant;

/// The login under which the sandbox stores comments made by the App.
pub const BOT_LOGIN: &str = "rerunbot[bot]";

/// One request as the sandbox received it.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    pub method: String,
    /// Path and query, e.g. `/repos/o/r/commits/abc/check-runs?per_page=100`.
    pub path: String,
    /// The JSON body, when there was one.
    pub body: Option<serde_json::Value>,
    /// Request headers, lowercase names; `authorization` is reduced to its
    /// scheme (`Bearer` or `token`) so credentials are never kept.
    pub headers: BTreeMap<String, String>,
    /// The status the sandbox answered.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

/// A pull request to seed.
#[derive(Clone, Debug)]
pub struct SandboxPull {
    pub number: PullRequestNumber,
    /// `open` or `closed`.
    pub open: bool,
    pub merged: bool,
    pub head_sha: CommitSha,
    pub merge_commit_sha: Option<CommitSha>,
    pub author: Login,
}

impl SandboxPull {
    /// An open pull request with no merge commit yet.
    pub fn open(number: u64, head_sha: &str, author: &str) -> Self {
        Self {
            number: PullRequestNumber(number),
            open: true,
            merged: false,
            head_sha: CommitSha::new(head_sha),
            merge_commit_sha: None,
            author: Login::new(author),
        }
    }

    /// A merged (hence closed) pull request.
    pub fn merged(number: u64, head_sha: &str, merge_sha: &str, author: &str) -> Self {
        Self {
            open: false,
            merged: true,
            merge_commit_sha: Some(CommitSha::new(merge_sha)),
            ..Self::open(number, head_sha, author)
        }
    }

    /// A closed pull request that was not merged.
    pub fn closed(number: u64, head_sha: &str, author: &str) -> Self {
        Self {
            open: false,
            ..Self::open(number, head_sha, author)
        }
    }
}

/// A check run to seed (taskcluster-github style when `external_id` is a taskId).
#[derive(Clone, Debug, Serialize)]
pub struct SandboxCheckRun {
    pub name: String,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    pub conclusion: Option<String>,
    /// Slug of the GitHub App that made it (`taskcluster` for
    /// taskcluster-github).
    pub app_slug: String,
}

impl SandboxCheckRun {
    /// A completed check run for a Taskcluster task.
    pub fn for_task(name: &str, root_url: &str, task_id: &str, conclusion: &str) -> Self {
        Self {
            name: name.to_owned(),
            external_id: Some(task_id.to_owned()),
            details_url: Some(format!(
                "{}/tasks/{task_id}",
                root_url.trim_end_matches('/')
            )),
            status: "completed".to_owned(),
            conclusion: Some(conclusion.to_owned()),
            app_slug: "taskcluster".to_owned(),
        }
    }

    /// The same check run, made by another app.
    pub fn by_app(self, slug: &str) -> Self {
        Self {
            app_slug: slug.to_owned(),
            ..self
        }
    }
}

/// A commit status to seed.
#[derive(Clone, Debug, Serialize)]
pub struct SandboxStatus {
    pub context: String,
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    pub target_url: Option<String>,
    /// Login that posted it (an app posts as `<slug>[bot]`).
    pub creator: String,
}

/// A comment on a pull request (by a user or by the App).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxComment {
    pub id: CommentId,
    pub author: Login,
    pub body: String,
}

#[derive(Default)]
pub(crate) struct Repo {
    pub full_name: String,
    pub default_branch: String,
    pub files: HashMap<String, String>,
    pub pulls: BTreeMap<u64, SandboxPull>,
    /// login (lowercase) → (role_name, legacy permission)
    pub roles: HashMap<String, (String, String)>,
}

pub(crate) struct StoredComment {
    pub repo: String,
    pub pr: u64,
    pub comment: SandboxComment,
}

pub(crate) struct StoredCheckRun {
    pub id: u64,
    pub repo: String,
    pub sha: String,
    pub run: SandboxCheckRun,
}

/// A fault to answer instead of the real response.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    Status(u16),
    SecondaryRateLimit {
        retry_after_secs: u64,
    },
    PrimaryRateLimit {
        reset_in_secs: u64,
    },
    /// The request is carried out, then answered with this status (a 502
    /// after GitHub did the work).
    AfterEffect(u16),
}

pub(crate) struct IssuedToken {
    pub installation: InstallationId,
    pub expires_at: DateTime<Utc>,
}

pub(crate) struct State {
    pub base_url: String,
    pub app_id: u64,
    pub public_key_pem: String,
    pub token_lifetime: Duration,
    pub tokens: HashMap<String, IssuedToken>,
    pub repos: HashMap<String, Repo>,
    pub comments: BTreeMap<u64, StoredComment>,
    /// (comment id, content, user)
    pub reactions: Vec<(u64, String, String)>,
    pub check_runs: Vec<StoredCheckRun>,
    /// (repo, sha, status), oldest first.
    pub statuses: Vec<(String, String, SandboxStatus)>,
    pub next_id: u64,
    pub calls: Vec<RecordedCall>,
    /// Queued faults; a fault with a filter (`METHOD path-part`) applies
    /// only to matching requests.
    pub faults: VecDeque<(Option<String>, Fault)>,
    /// Added to every answer (benchmarks).
    pub latency: std::time::Duration,
    /// Every request is answered 503 until then (an outage).
    pub down_until: Option<tokio::time::Instant>,
}

impl State {
    pub fn new(app_id: u64, public_key_pem: String, token_lifetime: Duration) -> Self {
        Self {
            base_url: String::new(),
            app_id,
            public_key_pem,
            token_lifetime,
            tokens: HashMap::new(),
            repos: HashMap::new(),
            comments: BTreeMap::new(),
            reactions: Vec::new(),
            check_runs: Vec::new(),
            statuses: Vec::new(),
            next_id: 1000,
            calls: Vec::new(),
            faults: VecDeque::new(),
            latency: std::time::Duration::ZERO,
            down_until: None,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The repository, created with default branch `main` on first use.
    pub fn repo_mut(&mut self, repo: &RepoName) -> &mut Repo {
        self.repos.entry(key(repo)).or_insert_with(|| Repo {
            full_name: repo.to_string(),
            default_branch: "main".to_owned(),
            ..Repo::default()
        })
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos
            .get(&format!("{owner}/{name}").to_ascii_lowercase())
    }

    pub fn add_comment(
        &mut self,
        repo: &RepoName,
        pr: PullRequestNumber,
        author: &str,
        body: &str,
    ) -> CommentId {
        let id = self.next_id();
        self.comments.insert(
            id,
            StoredComment {
                repo: key(repo),
                pr: pr.0,
                comment: SandboxComment {
                    id: CommentId(id),
                    author: Login::new(author),
                    body: body.to_owned(),
                },
            },
        );
        CommentId(id)
    }
}

/// Lowercase `owner/name`: GitHub names are case-insensitive.
pub(crate) fn key(repo: &RepoName) -> String {
    repo.to_string().to_ascii_lowercase()
}

/// GitHub's `role_name` and legacy `permission` for a built-in role.
pub(crate) fn role_names(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Admin => ("admin", "admin"),
        Role::Maintain => ("maintain", "write"),
        Role::Write => ("write", "write"),
        Role::Triage => ("triage", "read"),
        Role::Read => ("read", "read"),
        Role::None => ("none", "none"),
    }
}
