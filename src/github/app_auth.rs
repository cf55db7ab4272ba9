//! GitHub App authentication, done by octocrab: an RS256 JWT from the App id
//! and key (`iss` = app id, `iat` = now − 60 s, `exp` = now + 9 min),
//! exchanged for an installation access token that octocrab caches per
//! installation client and replaces 30 s before it expires or after a 401.
//! Ours: one octocrab client per installation, shared by every
//! `InstallationClient` of it, so the token is minted once.

use super::client::decode;
use super::client::{InstallationClient, InstallationState};
use super::error::GithubError;
use super::limiter::{ContentLimiter, InstallationLimiter};
use super::transport::{Request, Transport};
use super::GithubOptions;
use crate::config::Secret;
use crate::types::InstallationId;
use jsonwebtoken::EncodingKey;
use octocrab::Octocrab;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The App: one octocrab client authenticated as the App, and
/// per-installation state. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct GithubApp {
    inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub transport: Transport,
    app_id: u64,
    /// Authenticated as the App (JWT); installation clients derive from it.
    crab: Octocrab,
    installations: Mutex<HashMap<InstallationId, Arc<InstallationState>>>,
    /// The content-creation budget of every installation.
    limiter: Arc<ContentLimiter>,
    /// The login the App's comments carry (`<slug>[bot]`), once known.
    bot_login: tokio::sync::OnceCell<String>,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.inner.app_id)
            .field("api_url", &self.inner.transport.base())
            .finish_non_exhaustive()
    }
}

impl GithubApp {
    /// An App talking to `api_url` (`https://api.github.com`, or a GHES
    /// `https://host/api/v3`), with default limits.
    pub fn new(
        api_url: &str,
        app_id: u64,
        private_key_pem: &Secret,
    ) -> Result<GithubApp, GithubError> {
        Self::with_options(api_url, app_id, private_key_pem, GithubOptions::default())
    }

    /// As `new`, with explicit limits and timings (tests shrink them).
    pub fn with_options(
        api_url: &str,
        app_id: u64,
        private_key_pem: &Secret,
        options: GithubOptions,
    ) -> Result<GithubApp, GithubError> {
        // The parser's error text is generic; it never echoes the key.
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
            .map_err(|e| GithubError::Key(format!("not a usable RSA private key: {e}")))?;
        let limiter = Arc::new(ContentLimiter::new(
            options.content_requests_per_window,
            options.content_window,
        ));
        let transport = Transport::new(api_url, options);
        let crab = Octocrab::builder()
            .base_uri(transport.base())
            .map_err(|e| GithubError::Key(format!("invalid GitHub API URL: {e}")))?
            .app(octocrab::models::AppId(app_id), key)
            .add_header(
                http::header::ACCEPT,
                "application/vnd.github+json".to_owned(),
            )
            .add_header(
                http::header::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".to_owned(),
            )
            // Appended after octocrab's own `octocrab`.
            .add_header(http::header::USER_AGENT, "rerunbot".to_owned())
            .build()
            .map_err(|e| GithubError::Key(format!("cannot build the GitHub client: {e}")))?;
        Ok(GithubApp {
            inner: Arc::new(AppInner {
                transport,
                app_id,
                crab,
                installations: Mutex::new(HashMap::new()),
                limiter,
                bot_login: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Counts content-creating requests in `store` from now on: one budget
    /// per installation for every process on that database, surviving
    /// restarts (without it, each process counts its own).
    pub fn share_content_limit(&self, store: crate::store::Store) {
        self.inner.limiter.share(store);
    }

    pub fn app_id(&self) -> u64 {
        self.inner.app_id
    }

    /// The App's installation on `repo` (`GET /repos/{o}/{r}/installation`,
    /// as the App): how `supervise --repo` finds whom to act as.
    pub async fn repo_installation(
        &self,
        repo: &crate::types::RepoName,
    ) -> Result<InstallationId, GithubError> {
        let target = format!("/repos/{repo}/installation");
        let request = Request {
            method: http::Method::GET,
            target: &target,
            body: None,
            if_none_match: None,
            replay_safe: true,
        };
        let answer = self
            .inner
            .transport
            .execute(&self.inner.crab, None, &request)
            .await?;
        let found: RawInstallation = decode(http::Method::GET, &target, &answer)?;
        Ok(InstallationId(found.id))
    }

    /// The client for one installation; cheap, and every client for the same
    /// installation shares its octocrab client (and so its token), caches
    /// and content limiter.
    pub fn installation(&self, id: InstallationId) -> InstallationClient {
        let state = {
            let mut map = self
                .inner
                .installations
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(id)
                .or_insert_with(|| {
                    let limiter = InstallationLimiter::new(self.inner.limiter.clone(), id);
                    Arc::new(InstallationState::new(
                        self.inner.installation_crab(id),
                        limiter,
                    ))
                })
                .clone()
        };
        InstallationClient::new(self.inner.clone(), state, id)
    }
}

impl AppInner {
    /// The login the App's own comments carry, `<slug>[bot]`, from
    /// `GET /app` as the App (once per process).
    pub async fn bot_login(&self) -> Result<String, GithubError> {
        self.bot_login
            .get_or_try_init(|| async {
                let request = Request {
                    method: http::Method::GET,
                    target: "/app",
                    body: None,
                    if_none_match: None,
                    replay_safe: true,
                };
                let answer = self.transport.execute(&self.crab, None, &request).await?;
                let app: RawApp = decode(http::Method::GET, "/app", &answer)?;
                Ok(format!("{}[bot]", app.slug))
            })
            .await
            .cloned()
    }

    /// octocrab as installation `id` with its token minted (one call, as
    /// the App), and the same client pinned to that fresh token for the
    /// call that asked for it. `Err(Some)`: GitHub refused (a bad key,
    /// another App, no such installation), final; `Err(None)`: no usable
    /// answer.
    pub(crate) async fn mint(&self, id: InstallationId) -> Result<Minted, Option<GithubError>> {
        let path = format!("/app/installations/{}/access_tokens", id.0);
        match self
            .crab
            .installation_and_token(octocrab::models::InstallationId(id.0))
            .await
        {
            Ok((crab, token)) => {
                // octocrab would replace a token that lives less than its
                // 30 s margin before using it even once; GitHub just gave it.
                let first = crab.user_access_token(token).ok();
                Ok(Minted { crab, first })
            }
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.is_client_error() => {
                Err(Some(GithubError::Permanent {
                    method: "POST".to_owned(),
                    path,
                    status: source.status_code.as_u16(),
                    message: source.message.chars().take(200).collect(),
                }))
            }
            Err(_) => Err(None),
        }
    }

    /// octocrab as installation `id`; it mints and caches the token.
    fn installation_crab(&self, id: InstallationId) -> Octocrab {
        // `installation` only fails on a client not authenticated as an
        // App, which ours always is.
        self.crab
            .installation(octocrab::models::InstallationId(id.0))
            .unwrap_or_else(|_| self.crab.clone())
    }
}

/// An installation's client with its token cached, and for the first call
/// a client using that token as given (`None`: use `crab`).
pub(crate) struct Minted {
    pub crab: Octocrab,
    pub first: Option<Octocrab>,
}

/// The part of `GET /repos/{o}/{r}/installation` we read.
#[derive(serde::Deserialize)]
struct RawInstallation {
    id: u64,
}

/// The part of `GET /app` we read.
#[derive(serde::Deserialize)]
struct RawApp {
    slug: String,
}
