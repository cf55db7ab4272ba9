//! The few webhook payloads we act on, read leniently (only the fields we
//! use; unknown fields ignored), and the compact job they become.

use crate::types::{CommentId, InstallationId, Login, PullRequestNumber, RepoName};
use serde::{Deserialize, Serialize};

/// What the worker needs from an `issue_comment` delivery. Stored as the
/// job's payload instead of the (up to 25 MB) webhook body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentJob {
    pub edited: bool,
    pub repo: RepoName,
    pub installation: InstallationId,
    pub pr: PullRequestNumber,
    pub comment_id: CommentId,
    pub body: String,
    /// For an edit, the body before it (`changes.body.from`).
    pub previous_body: Option<String>,
    pub commenter: Login,
    pub pr_author: Login,
}

/// Why an `issue_comment` delivery is not turned into a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Deleted comments, or actions we do not know.
    Action,
    /// A comment on an issue, not a pull request.
    NotPullRequest,
    /// A bot's comment (including our own replies).
    Bot,
    /// No line of the comment can be a command.
    NoCommand,
    /// An edit by someone other than the comment's author (who would
    /// otherwise act with the author's role), or an edit without the body
    /// it replaced (we could not tell which commands it added).
    Edit,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Action => "ignored_action",
            Ignored::NotPullRequest => "ignored_not_pr",
            Ignored::Bot => "ignored_bot",
            Ignored::NoCommand => "ignored_no_command",
            Ignored::Edit => "ignored_edit",
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    action: String,
    issue: Issue,
    comment: Comment,
    repository: Repository,
    installation: Option<Installation>,
    sender: User,
    changes: Option<Changes>,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    user: User,
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: User,
    #[serde(default)]
    performed_via_github_app: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl User {
    fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Deserialize)]
struct Changes {
    body: Option<From>,
}

#[derive(Deserialize)]
struct From {
    from: Option<String>,
}

/// Why a body is not a usable `issue_comment` payload.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("malformed issue_comment payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("issue_comment payload has no installation")]
    NoInstallation,
    #[error("repository.full_name is not owner/name")]
    BadRepository,
}

/// Reads an `issue_comment` body. `might_contain_command` is the cheap
/// filter applied to the comment text. A function pointer, not a generic,
/// so that this parse is compiled once, here, at the core's -O3, rather
/// than in each caller's crate at its level.
pub fn comment_job(
    body: &[u8],
    might_contain_command: fn(&[u8]) -> bool,
) -> Result<Result<CommentJob, Ignored>, PayloadError> {
    let payload: Payload = serde_json::from_slice(body)?;
    let edited = match payload.action.as_str() {
        "created" => false,
        "edited" => true,
        _ => return Ok(Err(Ignored::Action)),
    };
    if payload.issue.pull_request.is_none() {
        return Ok(Err(Ignored::NotPullRequest));
    }
    if payload.sender.is_bot()
        || payload.comment.user.is_bot()
        || payload.comment.performed_via_github_app.is_some()
    {
        return Ok(Err(Ignored::Bot));
    }
    let previous_body = payload.changes.and_then(|c| c.body).and_then(|b| b.from);
    // GitHub lets people with write access edit others' comments: an edit
    // must not run with the comment author's role.
    if edited && (payload.sender.login != payload.comment.user.login || previous_body.is_none()) {
        return Ok(Err(Ignored::Edit));
    }
    let text = payload.comment.body.unwrap_or_default();
    if !might_contain_command(text.as_bytes()) {
        return Ok(Err(Ignored::NoCommand));
    }
    let installation = payload.installation.ok_or(PayloadError::NoInstallation)?;
    let repo = RepoName::parse(&payload.repository.full_name).ok_or(PayloadError::BadRepository)?;
    Ok(Ok(CommentJob {
        edited,
        repo,
        installation: InstallationId(installation.id),
        pr: PullRequestNumber(payload.issue.number),
        comment_id: CommentId(payload.comment.id),
        body: text,
        previous_body,
        commenter: Login(payload.comment.user.login),
        pr_author: Login(payload.issue.user.login),
    }))
}
