//! GitHub App side: app auth and the handful of GitHub calls we make
//! (DESIGN.md §7, §9, §11). Everything goes through one HTTP client based at
//! the configured API URL, so GitHub Enterprise Server works the same.
//!
//! - `app_auth`: the App JWT and installation tokens (cached).
//! - `transport`: headers, retries, rate limits; `limiter`: content creation
//!   (one budget per installation, shared through the store).
//! - `client`: `InstallationClient` and its request helpers.
//! - `pulls`, `contents`, `checks`, `comments`: the calls, one topic each.
//! - `model`: the objects returned; `error`: `GithubError`.

mod app_auth;
mod checks;
mod client;
mod comments;
mod contents;
mod error;
mod limiter;
pub mod model;
mod pulls;
mod transport;

pub use app_auth::GithubApp;
pub use client::{GithubOptions, InstallationClient};
pub use error::GithubError;
pub use limiter::ContentLimiter;
pub use model::{
    CheckRun, CommentUser, CommitStatus, IssueComment, PullRequest, PullState, Reaction,
};

/// The path of the repository configuration on the default branch.
pub const CONFIG_PATH: &str = ".github/rerunbot.yml";
