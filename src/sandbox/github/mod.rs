//! A stand-in for the GitHub REST API on loopback, for `demo` and tests. It
//! keeps state (repositories, pull requests, roles, files, comments,
//! reactions, check runs, statuses), checks the App JWT and installation
//! tokens like GitHub, records every call, and injects faults on request.

pub mod payloads;
mod routes;
mod state;

pub use state::{
    RecordedCall, SandboxCheckRun, SandboxComment, SandboxPull, SandboxStatus, BOT_LOGIN,
};

use crate::policy::plan::Role;
use crate::types::{CommentId, CommitSha, InstallationId, Login, PullRequestNumber, RepoName};
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use state::{key, role_names, Fault, State, StoredCheckRun};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The test-only App private key matching `TEST_APP_PUBLIC_KEY`
/// (fixtures/github; never use it for a real App).
pub const TEST_APP_PRIVATE_KEY: &str = include_str!("../../../fixtures/github/test-app-key.pem");
pub const TEST_APP_PUBLIC_KEY: &str = include_str!("../../../fixtures/github/test-app-key.pub.pem");

const GHES_PREFIX: &str = "/api/v3";

/// How the sandbox behaves.
#[derive(Clone, Debug)]
pub struct SandboxGithubConfig {
    pub app_id: u64,
    /// The App's public key (PEM); JWTs must verify against it.
    pub public_key_pem: String,
    /// Lifetime of issued installation tokens (GitHub: one hour).
    pub token_lifetime: Duration,
}

impl Default for SandboxGithubConfig {
    fn default() -> Self {
        Self {
            app_id: 4242,
            public_key_pem: TEST_APP_PUBLIC_KEY.to_owned(),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// A running sandbox; the server stops when this is dropped.
pub struct SandboxGithub {
    state: Arc<Mutex<State>>,
    api_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SandboxGithub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl SandboxGithub {
    /// Binds `127.0.0.1:0` and serves until dropped.
    pub async fn start(config: SandboxGithubConfig) -> std::io::Result<SandboxGithub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let mut initial = State::new(config.app_id, config.public_key_pem, config.token_lifetime);
        initial.base_url = api_url.clone();
        let state = Arc::new(Mutex::new(initial));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sandbox GitHub stopped");
            }
        });
        Ok(SandboxGithub {
            state,
            api_url,
            server,
        })
    }

    /// The REST base URL, e.g. `http://127.0.0.1:41234`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The same API under a GitHub Enterprise Server style base URL
    /// (`http://127.0.0.1:41234/api/v3`).
    pub fn ghes_api_url(&self) -> String {
        format!("{}{GHES_PREFIX}", self.api_url)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // ---- seeding ----

    /// Creates (or updates) a repository with the given default branch.
    pub fn add_repo(&self, repo: &RepoName, default_branch: &str) {
        self.lock().repo_mut(repo).default_branch = default_branch.to_owned();
    }

    pub fn add_pull_request(&self, repo: &RepoName, pull: SandboxPull) {
        self.lock().repo_mut(repo).pulls.insert(pull.number.0, pull);
    }

    /// Makes `user` a collaborator with a built-in role.
    pub fn set_role(&self, repo: &RepoName, user: &Login, role: Role) {
        let (role_name, permission) = role_names(role);
        self.set_custom_role(repo, user, role_name, permission);
    }

    /// A custom repository role, with the legacy permission it is based on.
    pub fn set_custom_role(
        &self,
        repo: &RepoName,
        user: &Login,
        role_name: &str,
        permission: &str,
    ) {
        self.lock().repo_mut(repo).roles.insert(
            user.as_str().to_ascii_lowercase(),
            (role_name.to_owned(), permission.to_owned()),
        );
    }

    /// A file on the default branch.
    pub fn set_file(&self, repo: &RepoName, path: &str, contents: &str) {
        self.lock()
            .repo_mut(repo)
            .files
            .insert(path.to_owned(), contents.to_owned());
    }

    pub fn remove_file(&self, repo: &RepoName, path: &str) {
        self.lock().repo_mut(repo).files.remove(path);
    }

    /// Returns the check run's id.
    pub fn add_check_run(&self, repo: &RepoName, sha: &CommitSha, run: SandboxCheckRun) -> u64 {
        let mut state = self.lock();
        let id = state.next_id();
        state.check_runs.push(StoredCheckRun {
            id,
            repo: key(repo),
            sha: sha.as_str().to_owned(),
            run,
        });
        id
    }

    pub fn add_status(&self, repo: &RepoName, sha: &CommitSha, status: SandboxStatus) {
        self.lock()
            .statuses
            .push((key(repo), sha.as_str().to_owned(), status));
    }

    /// A comment by a user (e.g. the `/rerun` command being answered).
    pub fn add_user_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        author: &Login,
        body: &str,
    ) -> CommentId {
        let mut state = self.lock();
        state.repo_mut(repo);
        state.add_comment(repo, pr, author.as_str(), body)
    }

    // ---- inspection ----

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// The comments of a pull request, oldest first.
    pub fn comments(&self, repo: &RepoName, pr: PullRequestNumber) -> Vec<SandboxComment> {
        let repo = key(repo);
        self.lock()
            .comments
            .values()
            .filter(|c| c.repo == repo && c.pr == pr.0)
            .map(|c| c.comment.clone())
            .collect()
    }

    /// The reactions (`eyes`, `rocket`, …) on a comment, in the order added.
    pub fn reactions(&self, comment: CommentId) -> Vec<String> {
        self.lock()
            .reactions
            .iter()
            .filter(|(c, _, _)| *c == comment.0)
            .map(|(_, r, _)| r.clone())
            .collect()
    }

    // ---- faults ----

    /// The next `n` requests (of any kind) are answered with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut state = self.lock();
        state
            .faults
            .extend(std::iter::repeat_n((None, Fault::Status(status)), n));
    }

    /// Every request is answered 503, without being acted on, for `length`
    /// from now (on tokio's clock, so a paused test clock drives it).
    pub fn outage(&self, length: Duration) {
        self.lock().down_until = Some(tokio::time::Instant::now() + length);
    }

    /// Delay every answer by `latency` (zero to stop), like a distant GitHub.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The next `n` requests with `method` (e.g. "POST") whose path contains
    /// `path_part` are answered with `status`; other requests are served.
    pub fn fail_next_matching(&self, method: &str, path_part: &str, n: usize, status: u16) {
        let mut state = self.lock();
        let filter = format!("{} {path_part}", method.to_ascii_uppercase());
        state.faults.extend(std::iter::repeat_n(
            (Some(filter), Fault::Status(status)),
            n,
        ));
    }

    /// The next request with `method` whose path contains `path_part` is
    /// carried out and then answered `status` (GitHub did the work, the
    /// answer was lost).
    pub fn fail_after_effect_next(&self, method: &str, path_part: &str, status: u16) {
        let filter = format!("{} {path_part}", method.to_ascii_uppercase());
        self.lock()
            .faults
            .push_back((Some(filter), Fault::AfterEffect(status)));
    }

    /// The next request with `method` whose path contains `path_part` gets
    /// a 403 secondary rate limit with `retry-after`; others are served.
    pub fn rate_limit_next_matching(&self, method: &str, path_part: &str, retry_after_secs: u64) {
        let filter = format!("{} {path_part}", method.to_ascii_uppercase());
        self.lock()
            .faults
            .push_back((Some(filter), Fault::SecondaryRateLimit { retry_after_secs }));
    }

    /// The next `n` requests get a 403 secondary rate limit with `retry-after`.
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        let mut state = self.lock();
        state.faults.extend(std::iter::repeat_n(
            (None, Fault::SecondaryRateLimit { retry_after_secs }),
            n,
        ));
    }

    /// The next `n` requests get a 403 with `x-ratelimit-remaining: 0` and
    /// `x-ratelimit-reset` `reset_in_secs` from now (primary limit spent).
    pub fn exhaust_rate_limit_next(&self, n: usize, reset_in_secs: u64) {
        let mut state = self.lock();
        state.faults.extend(std::iter::repeat_n(
            (None, Fault::PrimaryRateLimit { reset_in_secs }),
            n,
        ));
    }

    /// Every issued installation token stops working (as after expiry).
    pub fn expire_tokens(&self) {
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        for token in self.lock().tokens.values_mut() {
            token.expires_at = past;
        }
    }

    /// The installation of every token issued so far (one entry per token).
    pub fn tokens_issued(&self) -> Vec<InstallationId> {
        self.lock()
            .tokens
            .values()
            .map(|t| t.installation)
            .collect()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let at = Instant::now();
    let body: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let query = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // GHES serves the API under /api/v3; the sandbox answers both ways.
    let (prefix, path) = match uri.path().strip_prefix(GHES_PREFIX) {
        Some(rest) if rest.starts_with('/') => (GHES_PREFIX, rest),
        _ => ("", uri.path()),
    };
    let (answer, latency) = {
        let mut state = lock(&state);
        let answer = routes::answer(
            &mut state,
            &routes::Incoming {
                method: &method,
                prefix,
                path,
                query,
                headers: &headers,
                body: body.as_ref(),
            },
        );
        state.calls.push(RecordedCall {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            body,
            headers: recorded_headers(&headers),
            status: answer.status.as_u16(),
            at,
        });
        (answer, state.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    routes::into_response(answer)
}

fn recorded_headers(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            let value = if name.as_str() == "authorization" {
                value.split_whitespace().next().unwrap_or("").to_owned()
            } else {
                value.to_owned()
            };
            Some((name.as_str().to_owned(), value))
        })
        .collect()
}
