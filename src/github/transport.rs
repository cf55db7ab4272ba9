//! Our policy over octocrab's HTTP stack: every GitHub request goes through
//! `Transport::execute`, which sends it with octocrab's raw `_get` / `_post` /
//! `_patch` (octocrab adds the base URL and the installation token, minting
//! and caching it) and decides what happens next: the content-creation
//! limiter, rate-limit waits (`retry-after`, `x-ratelimit-reset`), bounded
//! retries of 5xx and network failures for requests that are safe to
//! replay, and one resend after a 401 (octocrab has dropped the refused
//! token by then). octocrab's own retry layer is not compiled in: it would
//! replay a comment creation.

use super::error::GithubError;
use super::limiter::InstallationLimiter;
use super::GithubOptions;
use http::header::{HeaderMap, IF_NONE_MATCH};
use http::{Method, StatusCode};
use octocrab::Octocrab;
use std::time::Duration;

/// How many rate-limit waits one request may sit through before we give the
/// job back to the queue as retryable.
const MAX_RATE_LIMIT_WAITS: u32 = 3;
/// GitHub's advice when a limit answer names no time: wait a minute.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One request, described independently of its attempts.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// Path and query below the API base, e.g. `/repos/o/r/pulls/1`, or an
    /// absolute URL under the base (pagination links).
    pub target: &'a str,
    pub body: Option<&'a serde_json::Value>,
    pub if_none_match: Option<&'a str>,
    /// False for a request GitHub may have carried out even though the
    /// answer was a 5xx or never came (creating a comment): it is not
    /// repeated here; the caller decides (the pipeline looks for its reply
    /// before posting again).
    pub replay_safe: bool,
}

/// A whole answer: status, headers and body, read within the timeout.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// What one attempt came to.
enum Attempt {
    Answered(Answer),
    /// No answer (connection, timeout), or octocrab could not mint the
    /// installation token (its answer's status, when it had one).
    Failed {
        status: Option<StatusCode>,
        reason: String,
    },
}

pub(crate) struct Transport {
    base: String,
    options: GithubOptions,
}

impl Transport {
    pub fn new(api_url: &str, options: GithubOptions) -> Self {
        Self {
            base: api_url.trim_end_matches('/').to_owned(),
            options,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn options(&self) -> &GithubOptions {
        &self.options
    }

    /// The target as a path below the API base (what octocrab joins to its
    /// base URI, and the only form it sends the token with); `None` when an
    /// absolute URL points outside the API (we never send a token elsewhere).
    pub fn relative(&self, target: &str) -> Option<String> {
        if target.starts_with('/') {
            Some(target.to_owned())
        } else {
            target
                .strip_prefix(&self.base)
                .filter(|rest| rest.starts_with('/'))
                .map(str::to_owned)
        }
    }

    /// Sends `req` until it succeeds (2xx or 304), fails permanently, or
    /// runs out of retries.
    pub async fn execute(
        &self,
        crab: &Octocrab,
        limiter: Option<&InstallationLimiter>,
        req: &Request<'_>,
    ) -> Result<Answer, GithubError> {
        let path = display_path(req.target, &self.base);
        let target = self
            .relative(req.target)
            .ok_or_else(|| GithubError::Decode {
                method: req.method.to_string(),
                path: path.clone(),
                reason: "link points outside the API URL".to_owned(),
            })?;
        let creates_content = !matches!(req.method, Method::GET | Method::HEAD);
        let mut failures = 0u32;
        let mut waits = 0u32;
        let mut reauthorized = false;
        loop {
            if creates_content {
                if let Some(limiter) = limiter {
                    limiter.acquire().await;
                }
            }
            let unavailable = |reason: String| GithubError::Unavailable {
                method: req.method.to_string(),
                path: path.clone(),
                reason,
            };
            let answer = match self.attempt(crab, req, &target).await {
                Attempt::Answered(answer) => answer,
                Attempt::Failed { status, reason } => {
                    // A token mint GitHub refused (bad key, wrong app):
                    // asking again will not help.
                    if let Some(status) = status.filter(|s| s.is_client_error()) {
                        return Err(GithubError::Permanent {
                            method: req.method.to_string(),
                            path,
                            status: status.as_u16(),
                            message: reason,
                        });
                    }
                    failures += 1;
                    if failures > self.options.max_retries || !req.replay_safe {
                        return Err(unavailable(reason));
                    }
                    tracing::warn!(method = %req.method, %path, %reason, "GitHub request failed, retrying");
                    tokio::time::sleep(self.backoff(failures)).await;
                    continue;
                }
            };
            let status = answer.status;
            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                return Ok(answer);
            }
            if let Some(wait) = rate_limit_wait(status, &answer.headers) {
                if wait > self.options.max_rate_limit_wait || waits >= MAX_RATE_LIMIT_WAITS {
                    return Err(GithubError::RateLimited {
                        method: req.method.to_string(),
                        path,
                        wait,
                    });
                }
                waits += 1;
                tracing::warn!(method = %req.method, %path, wait_ms = wait.as_millis() as u64, "GitHub rate limit, waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            // octocrab dropped the refused installation token; the resend
            // mints a new one.
            if status == StatusCode::UNAUTHORIZED && !reauthorized {
                reauthorized = true;
                continue;
            }
            if status.is_server_error() {
                failures += 1;
                if failures > self.options.max_retries || !req.replay_safe {
                    return Err(unavailable(format!("answered {}", status.as_u16())));
                }
                tracing::warn!(method = %req.method, %path, status = status.as_u16(), "GitHub server error, retrying");
                tokio::time::sleep(self.backoff(failures)).await;
                continue;
            }
            let message = error_message(&answer.body);
            // A secondary limit may come as a bare 403 naming itself only in
            // the message; GitHub's advice then is to wait a minute.
            if status == StatusCode::FORBIDDEN && names_a_rate_limit(&message) {
                let wait = DEFAULT_RATE_LIMIT_WAIT;
                if wait > self.options.max_rate_limit_wait || waits >= MAX_RATE_LIMIT_WAITS {
                    return Err(GithubError::RateLimited {
                        method: req.method.to_string(),
                        path,
                        wait,
                    });
                }
                waits += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(GithubError::Permanent {
                method: req.method.to_string(),
                path,
                status: status.as_u16(),
                message,
            });
        }
    }

    /// One send through octocrab, answer read in full, within the timeout.
    async fn attempt(&self, crab: &Octocrab, req: &Request<'_>, target: &str) -> Attempt {
        let send = async {
            let response = match req.method {
                Method::GET => {
                    let mut headers = HeaderMap::new();
                    if let Some(etag) = req.if_none_match.and_then(|e| e.parse().ok()) {
                        headers.insert(IF_NONE_MATCH, etag);
                    }
                    crab._get_with_headers(target, Some(headers)).await
                }
                Method::POST => crab._post(target, req.body).await,
                Method::PATCH => crab._patch(target, req.body).await,
                Method::PUT => crab._put(target, req.body).await,
                Method::DELETE => crab._delete(target, req.body).await,
                _ => crab._get(target).await,
            }?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = crab.body_to_string(response).await?;
            Ok::<_, octocrab::Error>(Answer {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(self.options.request_timeout, send).await {
            Ok(Ok(answer)) => Attempt::Answered(answer),
            Ok(Err(error)) => failed(&error),
            Err(_) => Attempt::Failed {
                status: None,
                reason: "timed out".to_owned(),
            },
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.options
            .backoff_base
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }
}

/// An octocrab error as an attempt's outcome. Its `GitHub` variant is an
/// answer octocrab read itself (the installation-token mint); the rest are
/// transport failures. Neither carries a token.
fn failed(error: &octocrab::Error) -> Attempt {
    match error {
        octocrab::Error::GitHub { source, .. } => Attempt::Failed {
            status: Some(source.status_code),
            reason: source.message.chars().take(200).collect(),
        },
        other => Attempt::Failed {
            status: None,
            reason: format!("request failed: {}", first_line(&other.to_string())),
        },
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// How long GitHub asks us to wait, when the answer is a rate limit.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok());
        return Some(match reset {
            Some(reset) => {
                let now = chrono::Utc::now().timestamp();
                // One second of slack: the reset time is rounded down.
                Duration::from_secs(u64::try_from(reset - now).unwrap_or(0) + 1)
            }
            None => DEFAULT_RATE_LIMIT_WAIT,
        });
    }
    // A bare 403 is a permission problem; a bare 429 is still a limit.
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(DEFAULT_RATE_LIMIT_WAIT)
}

fn names_a_rate_limit(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("rate limit") || message.contains("abuse detection")
}

/// GitHub's `message` field, shortened; never the request's headers.
fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        message: Option<String>,
    }
    let message = serde_json::from_str::<Body>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| "no message".to_owned());
    message.chars().take(200).collect()
}

/// The target without the base URL, for messages and logs.
fn display_path(target: &str, base: &str) -> String {
    target.strip_prefix(base).unwrap_or(target).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn rate_limit_waits() {
        let future_reset = (chrono::Utc::now().timestamp() + 30).to_string();
        type Case = (u16, Vec<(&'static str, String)>, Option<(u64, u64)>);
        let cases: Vec<Case> = vec![
            // (status, headers, expected wait range in seconds)
            (403, vec![("retry-after", "7".into())], Some((7, 7))),
            (429, vec![("retry-after", "2".into())], Some((2, 2))),
            (
                403,
                vec![
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", future_reset),
                ],
                Some((29, 32)),
            ),
            (403, vec![("x-ratelimit-remaining", "12".into())], None),
            (403, vec![], None),
            (429, vec![], Some((60, 60))),
            (500, vec![("retry-after", "7".into())], None),
            (
                403,
                vec![
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", "1".into()),
                ],
                Some((1, 1)),
            ),
        ];
        for (status, headers, expected) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in &headers {
                if let Ok(v) = HeaderValue::from_str(value) {
                    map.insert(*name, v);
                }
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let got = rate_limit_wait(status, &map).map(|d| d.as_secs());
            match expected {
                None => assert_eq!(got, None, "{status} {headers:?}"),
                Some((lo, hi)) => assert!(
                    got.is_some_and(|g| (lo..=hi).contains(&g)),
                    "{status} {headers:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn rate_limit_messages() {
        let cases = [
            (
                "You have exceeded a secondary rate limit. Please wait.",
                true,
            ),
            ("API rate limit exceeded for installation ID 7.", true),
            ("You have triggered an abuse detection mechanism.", true),
            ("Resource not accessible by integration", false),
            ("Must have admin rights to Repository.", false),
        ];
        for (message, expected) in cases {
            assert_eq!(names_a_rate_limit(message), expected, "{message}");
        }
    }

    #[test]
    fn absolute_links_must_stay_under_the_api_url() {
        let t = Transport::new("https://ghe.example.com/api/v3/", GithubOptions::default());
        let cases = [
            ("/repos/o/r", Some("/repos/o/r")),
            (
                "https://ghe.example.com/api/v3/repos/o/r?page=2",
                Some("/repos/o/r?page=2"),
            ),
            ("https://evil.example.com/api/v3/repos", None),
            ("https://ghe.example.com/api/v3evil/x", None),
        ];
        for (target, expected) in cases {
            assert_eq!(t.relative(target).as_deref(), expected, "{target}");
        }
    }
}
