//! GitHub App authentication: an RS256 JWT signed with the App's private key
//! (`iss` = app id, `iat` = now − 60 s for clock skew, `exp` = now + 9 min),
//! exchanged for an installation access token that is cached per
//! installation until five minutes before it expires.

use super::client::{InstallationClient, InstallationState};
use super::error::GithubError;
use super::limiter::{ContentLimiter, InstallationLimiter};
use super::model::RawAccessToken;
use super::transport::{Authorizer, Request, Transport};
use super::GithubOptions;
use crate::config::Secret;
use crate::types::InstallationId;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The App: one HTTP client, one key, and per-installation state.
/// Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct GithubApp {
    inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub transport: Transport,
    app_id: u64,
    key: EncodingKey,
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

/// An installation access token and when GitHub says it expires.
pub(crate) struct CachedToken {
    pub value: Secret,
    pub expires_at: DateTime<Utc>,
}

#[derive(serde::Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
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
        Ok(GithubApp {
            inner: Arc::new(AppInner {
                transport: Transport::new(api_url, options)?,
                app_id,
                key,
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

    /// The client for one installation; cheap, and every client for the same
    /// installation shares its token, caches and content limiter.
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
                    Arc::new(InstallationState::new(limiter))
                })
                .clone()
        };
        InstallationClient::new(self.inner.clone(), state, id)
    }
}

impl AppInner {
    /// A fresh App JWT.
    pub fn jwt(&self) -> Result<String, GithubError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| GithubError::Key(format!("cannot sign the App JWT: {e}")))
    }

    /// The login the App's own comments carry, `<slug>[bot]`, from
    /// `GET /app` (once per process).
    pub async fn bot_login(&self) -> Result<String, GithubError> {
        self.bot_login
            .get_or_try_init(|| async {
                let request = Request {
                    method: Method::GET,
                    target: "/app",
                    body: None,
                    if_none_match: None,
                    replay_safe: true,
                };
                let response = self
                    .transport
                    .execute(&JwtAuth { app: self }, None, &request)
                    .await?;
                let app: RawApp = response.json().await.map_err(|e| GithubError::Decode {
                    method: "GET".to_owned(),
                    path: "/app".to_owned(),
                    reason: e.without_url().to_string(),
                })?;
                Ok(format!("{}[bot]", app.slug))
            })
            .await
            .cloned()
    }

    /// `POST /app/installations/{id}/access_tokens`.
    pub async fn mint_token(&self, id: InstallationId) -> Result<CachedToken, GithubError> {
        let target = format!("/app/installations/{id}/access_tokens");
        let request = Request {
            method: Method::POST,
            target: &target,
            body: None,
            if_none_match: None,
            replay_safe: true,
        };
        let response = self
            .transport
            .execute(&JwtAuth { app: self }, None, &request)
            .await?;
        let raw: RawAccessToken = response.json().await.map_err(|e| GithubError::Decode {
            method: "POST".to_owned(),
            path: target.clone(),
            reason: e.without_url().to_string(),
        })?;
        tracing::debug!(installation = %id, expires_at = %raw.expires_at, "minted installation token");
        Ok(CachedToken {
            value: Secret::new(raw.token),
            expires_at: raw.expires_at,
        })
    }
}

/// The part of `GET /app` we read.
#[derive(serde::Deserialize)]
struct RawApp {
    slug: String,
}

/// Authorizes as the App itself.
struct JwtAuth<'a> {
    app: &'a AppInner,
}

impl Authorizer for JwtAuth<'_> {
    async fn header(&self) -> Result<String, GithubError> {
        Ok(format!("Bearer {}", self.app.jwt()?))
    }
    async fn invalidate(&self) -> bool {
        // A refused JWT will not be accepted on a second try.
        false
    }
}

/// Authorizes as an installation, minting or reusing its token.
pub(crate) struct InstallationAuth<'a> {
    pub app: &'a AppInner,
    pub state: &'a InstallationState,
    pub id: InstallationId,
}

impl Authorizer for InstallationAuth<'_> {
    async fn header(&self) -> Result<String, GithubError> {
        // The lock is held while minting so concurrent callers share one token.
        let mut slot = self.state.token.lock().await;
        let margin = chrono::Duration::from_std(self.app.transport.options().token_refresh_margin)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let fresh = slot
            .as_ref()
            .is_some_and(|t| Utc::now() + margin < t.expires_at);
        if !fresh {
            *slot = Some(self.app.mint_token(self.id).await?);
        }
        match slot.as_ref() {
            Some(token) => Ok(format!("token {}", token.value.expose())),
            None => Err(GithubError::Key("no installation token".to_owned())),
        }
    }
    async fn invalidate(&self) -> bool {
        *self.state.token.lock().await = None;
        true
    }
}
