//! The GitHub objects we read, deserialized leniently: unknown fields are
//! ignored and anything GitHub may omit is optional. The wire shapes
//! (`Raw*`) stay private; callers get flat structs with our newtypes.

use crate::types::{CommentId, CommitSha, Login, PullRequestNumber};
use serde::{Deserialize, Serialize};

/// Open or closed, as GitHub reports it; merged pull requests are closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    Open,
    Closed,
}

/// What the pipeline needs to know about a pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub number: PullRequestNumber,
    pub state: PullState,
    pub merged: bool,
    pub head_sha: CommitSha,
    /// Set once GitHub has computed it (test merge while open, real merge after).
    pub merge_commit_sha: Option<CommitSha>,
    pub author: Login,
    pub base_default_branch: Option<String>,
}

/// One check run of a commit (taskcluster-github makes one per task).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    /// taskcluster-github puts the taskId here.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub details_url: Option<String>,
    pub head_sha: CommitSha,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The GitHub App that made it: only the Taskcluster app's check runs
    /// are trusted to name tasks (DESIGN.md §12).
    #[serde(default)]
    pub app: Option<CheckRunApp>,
}

/// The app of a check run, as GitHub reports it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckRunApp {
    #[serde(default)]
    pub slug: Option<String>,
}

impl CheckRun {
    /// The slug of the app that created it, if GitHub said.
    pub fn app_slug(&self) -> Option<&str> {
        self.app.as_ref()?.slug.as_deref()
    }
}

/// One legacy commit status.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: String,
    #[serde(default)]
    pub target_url: Option<String>,
    /// Who posted it; an app posts as `<slug>[bot]`.
    #[serde(default)]
    pub creator: Option<RawUser>,
}

impl CommitStatus {
    /// The login of the account that posted it.
    pub fn creator_login(&self) -> Option<&str> {
        self.creator.as_ref().map(|c| c.login.as_str())
    }
}

/// The reactions rerunbot uses on a command comment (DESIGN.md §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reaction {
    Eyes,
    Rocket,
    Confused,
    /// Every followed run completed (DESIGN.md §13).
    Hooray,
    /// A followed run failed.
    ThumbsDown,
}

impl Reaction {
    /// GitHub's `content` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::Rocket => "rocket",
            Reaction::Confused => "confused",
            Reaction::Hooray => "hooray",
            Reaction::ThumbsDown => "-1",
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RawPull {
    pub number: u64,
    pub state: PullState,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    pub head: RawRef,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub user: Option<RawUser>,
    #[serde(default)]
    pub base: Option<RawBase>,
}

#[derive(Deserialize)]
pub(crate) struct RawRef {
    pub sha: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RawUser {
    pub login: String,
}

#[derive(Deserialize)]
pub(crate) struct RawBase {
    #[serde(default)]
    pub repo: Option<RawBaseRepo>,
}

#[derive(Deserialize)]
pub(crate) struct RawBaseRepo {
    #[serde(default)]
    pub default_branch: Option<String>,
}

impl From<RawPull> for PullRequest {
    fn from(raw: RawPull) -> Self {
        PullRequest {
            number: PullRequestNumber(raw.number),
            state: raw.state,
            // Some endpoints omit `merged`; `merged_at` says the same thing.
            merged: raw.merged.unwrap_or(false) || raw.merged_at.is_some(),
            head_sha: CommitSha(raw.head.sha),
            merge_commit_sha: raw
                .merge_commit_sha
                .filter(|s| !s.is_empty())
                .map(CommitSha),
            // A deleted account shows as GitHub's `ghost` user.
            author: Login(raw.user.map_or_else(|| "ghost".to_owned(), |u| u.login)),
            base_default_branch: raw.base.and_then(|b| b.repo).and_then(|r| r.default_branch),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RawPermission {
    #[serde(default)]
    pub permission: Option<String>,
    #[serde(default)]
    pub role_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawCheckRuns {
    #[serde(default)]
    pub check_runs: Vec<CheckRun>,
}

#[derive(Deserialize)]
pub(crate) struct RawContent {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

/// An issue or pull-request comment, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    pub id: CommentId,
    #[serde(default)]
    pub body: String,
    pub user: CommentUser,
}

/// The author of a comment.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CommentUser {
    pub login: Login,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Deserialize)]
pub(crate) struct RawComment {
    pub id: u64,
}

impl RawComment {
    pub fn id(&self) -> CommentId {
        CommentId(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_requests_parse_leniently() {
        let cases = [
            // Full answer, with fields we ignore.
            (
                r#"{"number":1,"state":"open","merged":false,"head":{"sha":"a","ref":"x"},"merge_commit_sha":"m","user":{"login":"al"},"base":{"repo":{"default_branch":"main"}},"extra":[1]}"#,
                (PullState::Open, false, Some("m"), "al", Some("main")),
            ),
            // `merged` missing but `merged_at` set; no base; empty merge sha.
            (
                r#"{"number":2,"state":"closed","merged_at":"2026-01-01T00:00:00Z","head":{"sha":"b"},"merge_commit_sha":"","user":{"login":"bo"}}"#,
                (PullState::Closed, true, None, "bo", None),
            ),
            // Null `merged`, no user (deleted account).
            (
                r#"{"number":3,"state":"closed","merged":null,"head":{"sha":"c"},"user":null}"#,
                (PullState::Closed, false, None, "ghost", None),
            ),
        ];
        for (json, (state, merged, merge_sha, author, default_branch)) in cases {
            let raw: RawPull = match serde_json::from_str(json) {
                Ok(raw) => raw,
                Err(e) => panic!("{json}: {e}"),
            };
            let pr = PullRequest::from(raw);
            assert_eq!(pr.state, state, "{json}");
            assert_eq!(pr.merged, merged, "{json}");
            assert_eq!(
                pr.merge_commit_sha.as_ref().map(|s| s.as_str()),
                merge_sha,
                "{json}"
            );
            assert_eq!(pr.author.as_str(), author, "{json}");
            assert_eq!(pr.base_default_branch.as_deref(), default_branch, "{json}");
        }
    }

    #[test]
    fn check_runs_parse_without_optional_fields() {
        let json =
            r#"{"total_count":1,"check_runs":[{"id":5,"name":"lint","head_sha":"abc","app":{}}]}"#;
        let page: Result<RawCheckRuns, _> = serde_json::from_str(json);
        let runs = page.map(|p| p.check_runs).unwrap_or_default();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].external_id, None);
        assert_eq!(runs[0].details_url, None);
    }
}
