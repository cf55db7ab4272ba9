//! `InstallationClient`: the handle the pipeline uses for one installation,
//! and the request helpers the topic modules (`pulls`, `contents`, `checks`,
//! `comments`) build on: JSON GETs, pagination over `Link: rel="next"`, and
//! the per-installation state (token, caches, content limiter).

use super::app_auth::AppInner;
use super::error::GithubError;
use super::limiter::InstallationLimiter;
use super::transport::{Answer, Request};
use crate::policy::plan::Role;
use crate::types::{InstallationId, Login, RepoName};
use http::Method;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most pages we follow for one listing; a commit with 10,000 check runs is
/// already unusual.
const MAX_PAGES: usize = 100;

/// Cached entries per installation before stale ones are dropped; keeps a
/// long-running process from growing without bound.
pub(crate) const MAX_CACHE_ENTRIES: usize = 10_000;

/// Limits and timings. The defaults follow GitHub's documented limits; tests
/// shrink the windows.
#[derive(Clone, Debug)]
pub struct GithubOptions {
    /// Content-creating requests (POST/PATCH/PUT/DELETE) allowed per window
    /// per installation (GitHub: 80 per minute).
    pub content_requests_per_window: u32,
    pub content_window: Duration,
    /// Longest rate-limit wait we sit through; longer waits become a
    /// retryable error so a worker is not blocked.
    pub max_rate_limit_wait: Duration,
    /// Retries of 5xx answers and network failures.
    pub max_retries: u32,
    /// First backoff; doubles per retry (capped at 10 s).
    pub backoff_base: Duration,
    pub request_timeout: Duration,
    pub permission_ttl: Duration,
    pub config_ttl: Duration,
}

impl Default for GithubOptions {
    fn default() -> Self {
        Self {
            content_requests_per_window: 80,
            content_window: Duration::from_secs(60),
            max_rate_limit_wait: Duration::from_secs(60),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
            permission_ttl: Duration::from_secs(60),
            config_ttl: Duration::from_secs(60),
        }
    }
}

/// A cached `.github/rerunbot.yml` answer (present or absent).
pub(crate) struct CachedFile {
    pub text: Option<String>,
    pub etag: Option<String>,
    pub fetched: Instant,
}

/// What all clients of one installation share.
pub(crate) struct InstallationState {
    /// octocrab as this installation, before its token is minted.
    pub crab: Octocrab,
    /// octocrab as this installation with its token minted and cached
    /// (octocrab replaces it before expiry and after a 401); every call
    /// goes through it once it is set.
    pub minted: std::sync::OnceLock<Octocrab>,
    pub limiter: InstallationLimiter,
    pub roles: Mutex<HashMap<(String, String), (Role, Instant)>>,
    pub configs: Mutex<HashMap<String, CachedFile>>,
    /// Held while the token is minted: octocrab mints it in whichever call
    /// finds none, so calls sent together before the first answer would
    /// each mint one (a wasted call per concurrent request). Only the mint
    /// is waited for, not the first call's whole request: the cold start's
    /// role and configuration reads then go together.
    pub first_call: tokio::sync::Mutex<()>,
}

impl InstallationState {
    pub fn new(crab: Octocrab, limiter: InstallationLimiter) -> Self {
        Self {
            crab,
            minted: std::sync::OnceLock::new(),
            limiter,
            roles: Mutex::new(HashMap::new()),
            configs: Mutex::new(HashMap::new()),
            first_call: tokio::sync::Mutex::new(()),
        }
    }
}

/// GitHub calls as one installation. Cheap to clone.
#[derive(Clone)]
pub struct InstallationClient {
    app: Arc<AppInner>,
    state: Arc<InstallationState>,
    id: InstallationId,
}

impl InstallationClient {
    /// The login the App's own comments carry (`<slug>[bot]`).
    pub async fn bot_login(&self) -> Result<String, GithubError> {
        self.app.bot_login().await
    }
}

impl fmt::Debug for InstallationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationClient")
            .field("installation", &self.id)
            .finish_non_exhaustive()
    }
}

impl InstallationClient {
    pub(crate) fn new(
        app: Arc<AppInner>,
        state: Arc<InstallationState>,
        id: InstallationId,
    ) -> Self {
        Self { app, state, id }
    }

    pub fn installation_id(&self) -> InstallationId {
        self.id
    }

    pub(crate) fn options(&self) -> &super::GithubOptions {
        self.app.transport.options()
    }

    pub(crate) fn state(&self) -> &InstallationState {
        &self.state
    }

    /// One request through the shared transport, as this installation.
    pub(crate) async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<&serde_json::Value>,
        if_none_match: Option<&str>,
    ) -> Result<Answer, GithubError> {
        self.execute(Request {
            method,
            target,
            body,
            if_none_match,
            replay_safe: true,
        })
        .await
    }

    /// Sends a request that must not be repeated blindly (see
    /// `Request::replay_safe`): no retry on a 5xx or a lost answer.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        target: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GithubError> {
        self.execute(Request {
            method,
            target,
            body,
            if_none_match: None,
            replay_safe: false,
        })
        .await
    }

    async fn execute(&self, request: Request<'_>) -> Result<Answer, GithubError> {
        let transport = &self.app.transport;
        let limiter = Some(&self.state.limiter);
        if let Some(crab) = self.state.minted.get() {
            return transport.execute(crab, limiter, &request).await;
        }
        let alone = self.state.first_call.lock().await;
        if let Some(crab) = self.state.minted.get() {
            drop(alone);
            return transport.execute(crab, limiter, &request).await;
        }
        // Mint first, alone; the calls waiting behind it then go together.
        match self.app.mint(self.id).await {
            Ok(minted) => {
                let crab = self.state.minted.get_or_init(|| minted.crab);
                drop(alone);
                let Some(first) = minted.first else {
                    return transport.execute(crab, limiter, &request).await;
                };
                match transport.execute(&first, limiter, &request).await {
                    // Refused although just minted: once more with the
                    // cached client, which mints a new one.
                    Err(GithubError::Permanent { status: 401, .. }) => {
                        transport.execute(crab, limiter, &request).await
                    }
                    answer => answer,
                }
            }
            Err(Some(refused)) => Err(refused),
            // GitHub unreachable or failing: this call mints inside the
            // transport, with its retries, still alone.
            Err(None) => {
                let answer = transport.execute(&self.state.crab, limiter, &request).await;
                if answer.is_ok() {
                    // A clone carries the token octocrab cached.
                    self.state.minted.get_or_init(|| self.state.crab.clone());
                }
                answer
            }
        }
    }

    /// GET and decode.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let response = self.send(Method::GET, path, None, None).await?;
        decode(Method::GET, path, &response)
    }

    /// GET every page of a listing, following `Link: rel="next"`.
    /// `items` turns one page's body into its items.
    pub(crate) async fn get_all_pages<P, T>(
        &self,
        first: &str,
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>, GithubError>
    where
        P: DeserializeOwned,
    {
        let mut out = Vec::new();
        let mut next = Some(first.to_owned());
        let mut pages = 0;
        while let Some(target) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                tracing::warn!(
                    path = first,
                    "stopped following pagination after {MAX_PAGES} pages"
                );
                break;
            }
            let response = self.send(Method::GET, &target, None, None).await?;
            next = response
                .headers
                .get(http::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let page: P = decode(Method::GET, first, &response)?;
            out.extend(items(page));
        }
        Ok(out)
    }
}

/// Reads a 2xx body as JSON.
pub(crate) fn decode<T: DeserializeOwned>(
    method: Method,
    path: &str,
    answer: &Answer,
) -> Result<T, GithubError> {
    serde_json::from_str(&answer.body).map_err(|e| GithubError::Decode {
        method: method.to_string(),
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_owned())
    })
}

/// Makes room in a cache that reached `MAX_CACHE_ENTRIES`: stale entries go
/// first, everything if that is not enough.
pub(crate) fn make_room<K, V>(map: &mut HashMap<K, V>, is_fresh: impl Fn(&V) -> bool) {
    if map.len() >= MAX_CACHE_ENTRIES {
        map.retain(|_, v| is_fresh(v));
        if map.len() >= MAX_CACHE_ENTRIES {
            map.clear();
        }
    }
}

/// Cache key for a repository (GitHub names are case-insensitive).
pub(crate) fn repo_key(repo: &RepoName) -> String {
    repo.to_string().to_ascii_lowercase()
}

pub(crate) fn login_key(login: &Login) -> String {
    login.as_str().to_ascii_lowercase()
}

/// Whether an error is GitHub's 404.
pub(crate) fn is_not_found(err: &GithubError) -> bool {
    err.status() == Some(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_found_among_others() {
        let cases = [
            (
                r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#,
                Some("https://api.github.com/x?page=2"),
            ),
            (
                r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=3>; rel="next""#,
                Some("https://api.github.com/x?page=3"),
            ),
            (r#"<https://api.github.com/x?page=1>; rel="first""#, None),
            ("", None),
            ("garbage", None),
        ];
        for (header, expected) in cases {
            assert_eq!(next_link(header).as_deref(), expected, "{header}");
        }
    }

    #[test]
    fn full_caches_drop_stale_entries_first() {
        let mut map: HashMap<usize, bool> =
            (0..MAX_CACHE_ENTRIES).map(|i| (i, i % 2 == 0)).collect();
        make_room(&mut map, |fresh| *fresh);
        assert_eq!(map.len(), MAX_CACHE_ENTRIES / 2);
        assert!(map.values().all(|fresh| *fresh));

        let mut all_fresh: HashMap<usize, bool> =
            (0..MAX_CACHE_ENTRIES).map(|i| (i, true)).collect();
        make_room(&mut all_fresh, |fresh| *fresh);
        assert!(all_fresh.is_empty());

        let mut small: HashMap<usize, bool> = (0..10).map(|i| (i, false)).collect();
        make_room(&mut small, |fresh| *fresh);
        assert_eq!(small.len(), 10);
    }
}
