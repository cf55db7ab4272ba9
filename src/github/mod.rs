//! GitHub App side: the handful of GitHub calls we make (DESIGN.md §7, §9,
//! §11), on octocrab.
//!
//! octocrab does: the App JWT, installation tokens and their cache
//! (`app_auth` only keeps one octocrab client per installation), the HTTP
//! and TLS stack, the base URL (GitHub Enterprise Server works the same).
//!
//! What remains ours, and why:
//! - `transport`: the retry policy. octocrab's retry layer replays every
//!   method, comment creations included; ours never replays a comment
//!   creation, waits out `retry-after` / `x-ratelimit-reset` (octocrab does
//!   not), retries 5xx and lost answers only for requests safe to repeat,
//!   and resends once after a 401 (octocrab has dropped the token by then).
//! - `limiter`: GitHub's 80-per-minute content-creation limit, one budget
//!   per installation shared through the store; a separate layer the
//!   transport calls.
//! - `client`: `InstallationClient`, pagination over `Link: rel="next"`
//!   with a page cap, and the per-installation caches (roles, config).
//! - `pulls`, `contents`, `checks`, `comments`: the calls, through
//!   octocrab's raw `_get` / `_post` / `_patch` with our own lenient structs
//!   (`model`): octocrab's check-run model has neither `app` nor
//!   `external_id` (trust and the taskId), its other models require fields
//!   we never read (a pull request's `locked`, a comment's `node_id`), so an
//!   omission would fail a command; its typed handlers return no headers
//!   (`retry-after`, `ETag`, `Link`) for the policy above; and its
//!   `update_comment` sends POST where GitHub wants PATCH.
//! - `error`: `GithubError`, split into retryable and permanent.

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
