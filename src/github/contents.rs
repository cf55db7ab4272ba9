//! The repository configuration file, read from the default branch only (no
//! `ref`), so a pull request cannot loosen the rules that judge it. Cached
//! for `config_ttl`, then revalidated with `If-None-Match`.

use super::client::{decode, is_not_found, make_room, repo_key, InstallationClient};
use super::error::GithubError;
use super::model::RawContent;
use super::transport::Answer;
use super::CONFIG_PATH;
use crate::types::RepoName;
use base64::Engine;
use http::{Method, StatusCode};
use std::time::Instant;

impl InstallationClient {
    /// The text of `.github/rerunbot.yml` on the default branch; `None` when
    /// the file does not exist.
    /// The configuration as last read for `repo`, however old, without a
    /// call; `None` when it was never read (by this process).
    pub fn cached_repo_config_text(&self, repo: &RepoName) -> Option<Option<String>> {
        self.lock_configs()
            .get(&repo_key(repo))
            .map(|c| c.text.clone())
    }

    pub async fn repo_config_text(&self, repo: &RepoName) -> Result<Option<String>, GithubError> {
        let key = repo_key(repo);
        let ttl = self.options().config_ttl;
        let etag = {
            let cache = self.lock_configs();
            match cache.get(&key) {
                Some(c) if c.fetched.elapsed() < ttl => return Ok(c.text.clone()),
                Some(c) => c.etag.clone(),
                None => None,
            }
        };
        let path = format!("/repos/{repo}/contents/{CONFIG_PATH}");
        let response = match self.send(Method::GET, &path, None, etag.as_deref()).await {
            Ok(r) => r,
            Err(e) if is_not_found(&e) => {
                self.store_config(key, None, None);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if response.status == StatusCode::NOT_MODIFIED {
            let cached = self.lock_configs().get_mut(&key).map(|c| {
                c.fetched = Instant::now();
                c.text.clone()
            });
            if let Some(text) = cached {
                return Ok(text);
            }
            // Nothing cached to reuse (cleared meanwhile): ask again in full.
            let response = self.send(Method::GET, &path, None, None).await?;
            return self.read_content(key, &path, response).await;
        }
        self.read_content(key, &path, response).await
    }

    async fn read_content(
        &self,
        key: String,
        path: &str,
        response: Answer,
    ) -> Result<Option<String>, GithubError> {
        let new_etag = response
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let raw: RawContent = decode(Method::GET, path, &response)?;
        let text = decode_content(&raw).map_err(|reason| GithubError::Decode {
            method: "GET".to_owned(),
            path: path.to_owned(),
            reason,
        })?;
        self.store_config(key, text.clone(), new_etag);
        Ok(text)
    }

    fn store_config(&self, key: String, text: Option<String>, etag: Option<String>) {
        let ttl = self.options().config_ttl;
        let mut configs = self.lock_configs();
        make_room(&mut configs, |c| c.fetched.elapsed() < ttl);
        configs.insert(
            key,
            super::client::CachedFile {
                text,
                etag,
                fetched: Instant::now(),
            },
        );
    }

    fn lock_configs(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, super::client::CachedFile>>
    {
        self.state()
            .configs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The file's text from a contents answer. A directory at that path counts
/// as no file.
fn decode_content(raw: &RawContent) -> Result<Option<String>, String> {
    if raw.kind.as_deref().is_some_and(|k| k != "file") {
        return Ok(None);
    }
    let content = raw.content.as_deref().unwrap_or("");
    let bytes = match raw.encoding.as_deref() {
        Some("base64") | None => {
            // GitHub wraps base64 at 60 columns.
            let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| format!("bad base64 content: {e}"))?
        }
        Some(other) => return Err(format!("unsupported content encoding {other:?}")),
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "the file is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: Option<&str>, encoding: Option<&str>, content: Option<&str>) -> RawContent {
        RawContent {
            kind: kind.map(str::to_owned),
            encoding: encoding.map(str::to_owned),
            content: content.map(str::to_owned),
        }
    }

    #[test]
    fn content_decoding() {
        let cases: Vec<(RawContent, Result<Option<&str>, ()>)> = vec![
            (
                raw(Some("file"), Some("base64"), Some("aGVs\nbG8=\n")),
                Ok(Some("hello")),
            ),
            (raw(None, None, Some("aGVsbG8=")), Ok(Some("hello"))),
            (raw(Some("dir"), None, None), Ok(None)),
            (raw(Some("file"), Some("base64"), Some("!!")), Err(())),
            (raw(Some("file"), Some("none"), Some("")), Err(())),
            (raw(Some("file"), Some("base64"), Some("/w==")), Err(())),
        ];
        for (input, expected) in cases {
            let got = decode_content(&input);
            match expected {
                Ok(text) => assert_eq!(got.as_ref().ok().cloned().flatten().as_deref(), text),
                Err(()) => assert!(got.is_err(), "{got:?}"),
            }
        }
    }
}
