//! `GithubError`: what can go wrong talking to GitHub, split into retryable
//! (5xx, timeouts, rate limits we would not wait out) and permanent (4xx,
//! bad key, undecodable answers). Messages never carry tokens or keys.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// A 4xx other than a rate limit: asking again will not help.
    #[error("GitHub {method} {path} answered {status}: {message}")]
    Permanent {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// A 5xx (after our own retries), a timeout or a connection failure.
    #[error("GitHub {method} {path} failed (retryable): {reason}")]
    Unavailable {
        method: String,
        path: String,
        reason: String,
    },
    /// GitHub asked us to wait longer than we are willing to block a worker.
    #[error("GitHub rate limit on {method} {path}: retry in {}s", wait.as_secs())]
    RateLimited {
        method: String,
        path: String,
        wait: Duration,
    },
    /// The App's private key cannot be used, or a JWT cannot be made.
    #[error("GitHub App key: {0}")]
    Key(String),
    /// GitHub answered 2xx with a body we could not read.
    #[error("GitHub {method} {path}: unexpected response: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}

impl GithubError {
    /// Whether the job should be retried later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GithubError::Unavailable { .. } | GithubError::RateLimited { .. }
        )
    }

    /// The HTTP status GitHub answered, when the error is an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Permanent { status, .. } => Some(*status),
            _ => None,
        }
    }
}
