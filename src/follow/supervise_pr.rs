//! `rerunbot supervise --repo O/R --pr N`: the pull request's task groups,
//! found with the App's credentials (`RERUNBOT_GITHUB_APP_ID`,
//! `RERUNBOT_GITHUB_PRIVATE_KEY`, `RERUNBOT_GITHUB_API_URL`) the way
//! comments find them: the Taskcluster App's check runs and statuses of
//! the head (the merge commit once merged), then group provenance for this
//! repository, commit and — while open — pull request (DESIGN.md §12).

use crate::config::{Secret, DEFAULT_TASKCLUSTER_APP};
use crate::github::{GithubApp, PullState};
use crate::pipeline::Pipeline;
use crate::policy::provenance::{skipped_groups, Expected};
use crate::taskcluster::QueueClient;
use crate::types::{PullRequestNumber, RepoName, TaskGroupId};

/// The trusted task groups of pull request `pr` of `repo`, in discovery
/// order (the decision task's first). An error is said in one line.
pub async fn groups_of_pr(
    repo: &str,
    pr: u64,
    root_url: &str,
    queue: QueueClient,
) -> Result<Vec<TaskGroupId>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let repo =
        RepoName::parse(repo).ok_or_else(|| format!("--repo {repo}: expected OWNER/NAME"))?;
    let app_id: u64 = var("RERUNBOT_GITHUB_APP_ID")
        .ok_or("--repo/--pr need RERUNBOT_GITHUB_APP_ID (the App's credentials)")?
        .trim()
        .parse()
        .map_err(|_| "RERUNBOT_GITHUB_APP_ID is invalid: expected a number")?;
    let key = var("RERUNBOT_GITHUB_PRIVATE_KEY")
        .ok_or("--repo/--pr need RERUNBOT_GITHUB_PRIVATE_KEY (the App's credentials)")?;
    let pem = if key.contains("-----BEGIN") {
        key.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(key.trim())
            .map_err(|e| format!("RERUNBOT_GITHUB_PRIVATE_KEY: cannot read the file: {e}"))?
    };
    let api = var("RERUNBOT_GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let trusted = var("RERUNBOT_TASKCLUSTER_APP").unwrap_or_else(|| DEFAULT_TASKCLUSTER_APP.into());
    let github = GithubApp::new(api.trim_end_matches('/'), app_id, &Secret::new(pem))
        .map_err(|e| format!("RERUNBOT_GITHUB_PRIVATE_KEY is invalid: {e}"))?;
    let installation = github
        .repo_installation(&repo)
        .await
        .map_err(|e| format!("the App is not installed on {repo}: {e}"))?;
    let gh = github.installation(installation);
    let pull = gh
        .pull_request(&repo, PullRequestNumber(pr))
        .await
        .map_err(|e| format!("pull request {repo}#{pr}: {e}"))?;
    let open = pull.state == PullState::Open;
    let sha = match (pull.merged, pull.merge_commit_sha) {
        (true, Some(merge)) => merge,
        _ => pull.head_sha,
    };
    let pipeline = Pipeline::with_taskcluster_app(github, queue, root_url, &trusted);
    let found = crate::pipeline::prepare::find_tasks(&pipeline, &gh, &repo, &sha)
        .await
        .map_err(|e| format!("cannot find the pull request's tasks: {e}"))?
        .tasks;
    let name = repo.to_string();
    let expected = Expected {
        repo: &name,
        sha: sha.as_str(),
    };
    let skipped = skipped_groups(&found, expected, open);
    let mut groups: Vec<TaskGroupId> = Vec::new();
    for task in found.iter() {
        let group = &task.task_group_id;
        if !groups.contains(group) && !skipped.iter().any(|s| &s.group == group) {
            groups.push(group.clone());
        }
    }
    if groups.is_empty() {
        return Err(format!(
            "no Taskcluster task group of {repo}#{pr} (commit {sha}) passes the trust checks"
        ));
    }
    Ok(groups)
}
