//! Check runs and legacy commit statuses of a commit, for task discovery:
//! taskcluster-github reports each task as a check run (`external_id` =
//! taskId) or the task group as a status (`target_url`).

use super::client::InstallationClient;
use super::error::GithubError;
use super::model::{CheckRun, CommitStatus, RawCheckRuns};
use crate::types::{CommitSha, RepoName};

impl InstallationClient {
    /// Every check run of `sha`, all pages.
    pub async fn check_runs(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Vec<CheckRun>, GithubError> {
        let path = format!("/repos/{repo}/commits/{sha}/check-runs?per_page=100");
        self.get_all_pages(&path, |page: RawCheckRuns| page.check_runs)
            .await
    }

    /// Every commit status of `sha`, all pages (newest first, as GitHub
    /// lists them; a context may appear several times).
    pub async fn statuses(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Vec<CommitStatus>, GithubError> {
        let path = format!("/repos/{repo}/commits/{sha}/statuses?per_page=100");
        self.get_all_pages(&path, |page: Vec<CommitStatus>| page)
            .await
    }
}
