//! `check_suite` deliveries (DESIGN.md §9, §13): a suite of the Taskcluster
//! App completed, so a pull request's task groups may have resolved and
//! automatic reruns are due. Suites of every other app, and every other
//! action, are answered without storing anything: their cost is one
//! lenient parse of the body.

use crate::types::RepoName;
use serde::{Deserialize, Serialize};

/// The job `event` of a completed Taskcluster suite.
pub const EVENT: &str = "check_suite";

/// What the worker needs from a completed suite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteJob {
    pub repo: RepoName,
    pub installation: u64,
    pub head_sha: String,
    /// The pull requests GitHub named (none for a fork's).
    pub pull_requests: Vec<u64>,
}

/// Why a suite is not a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Not `completed`.
    Action,
    /// Another app's suite.
    OtherApp,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Action => "ignored_action",
            Ignored::OtherApp => "ignored_other_app",
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    action: String,
    check_suite: Suite,
    repository: Repository,
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct Suite {
    head_sha: String,
    #[serde(default)]
    app: Option<App>,
    #[serde(default)]
    pull_requests: Vec<PullRef>,
}

#[derive(Deserialize)]
struct App {
    slug: String,
}

#[derive(Deserialize)]
struct PullRef {
    number: u64,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

/// Reads a `check_suite` body; `trusted_app` is the Taskcluster App's slug.
pub fn suite_job(
    body: &[u8],
    trusted_app: &str,
) -> Result<Result<SuiteJob, Ignored>, super::event::PayloadError> {
    let payload: Payload = serde_json::from_slice(body)?;
    if payload.action != "completed" {
        return Ok(Err(Ignored::Action));
    }
    let slug = payload.check_suite.app.as_ref().map(|a| a.slug.as_str());
    if !crate::taskcluster::discovery::is_trusted_app(slug, trusted_app) {
        return Ok(Err(Ignored::OtherApp));
    }
    let installation = payload
        .installation
        .ok_or(super::event::PayloadError::NoInstallation)?;
    let repo = RepoName::parse(&payload.repository.full_name)
        .ok_or(super::event::PayloadError::BadRepository)?;
    Ok(Ok(SuiteJob {
        repo,
        installation: installation.id,
        head_sha: payload.check_suite.head_sha,
        pull_requests: payload
            .check_suite
            .pull_requests
            .iter()
            .map(|p| p.number)
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::github::payloads::{check_suite_completed, CHECK_SUITE_COMPLETED};

    #[test]
    fn suites_by_rule() {
        let ours = check_suite_completed("mozilla/gecko-dev", 55, "abc", "taskcluster", "failure");
        let job = suite_job(&ours, "taskcluster")
            .expect("parses")
            .expect("a job");
        assert_eq!(job.head_sha, "abc");
        assert_eq!(job.installation, 55);
        assert_eq!(job.repo.to_string(), "mozilla/gecko-dev");
        assert!(job.pull_requests.is_empty());
        // GitHub's own example: another app (github-actions), no installation.
        assert_eq!(
            suite_job(CHECK_SUITE_COMPLETED.as_bytes(), "taskcluster").expect("parses"),
            Err(Ignored::OtherApp)
        );
        let other = check_suite_completed("mozilla/gecko-dev", 55, "abc", "evil-ci", "failure");
        assert_eq!(
            suite_job(&other, "taskcluster").expect("parses"),
            Err(Ignored::OtherApp)
        );
        let mut requested: serde_json::Value = serde_json::from_slice(&ours).expect("json");
        requested["action"] = "requested".into();
        assert_eq!(
            suite_job(requested.to_string().as_bytes(), "taskcluster").expect("parses"),
            Err(Ignored::Action)
        );
        let mut with_pr = requested;
        with_pr["action"] = "completed".into();
        with_pr["check_suite"]["pull_requests"] = serde_json::json!([{"number": 7, "id": 1}]);
        let job = suite_job(with_pr.to_string().as_bytes(), "taskcluster")
            .expect("parses")
            .expect("a job");
        assert_eq!(job.pull_requests, vec![7]);
        assert!(suite_job(b"{}", "taskcluster").is_err());
    }
}
