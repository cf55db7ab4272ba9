//! Provenance of task groups (DESIGN.md §12): before any task of a group is
//! acted on, its decision task (taskId = taskGroupId) must come from the
//! repository the comment was made on and from the commit being judged.
//! On an open pull request, a commenter acting only as the pull request's
//! author may touch only groups made *for* the pull request, not push or
//! release graphs of the same SHA (a fork can point its head at a release
//! branch commit).
//!
//! What the decision task says about itself is read from the fields
//! taskcluster-github and taskgraph fill: `metadata.source`
//! (`https://github.com/<owner>/<repo>/raw|blob/<sha>/...`), the
//! `*_HEAD_REPOSITORY` / `*_BASE_REPOSITORY` / `*_HEAD_REV` environment of
//! the decision payload, `extra.tasks_for`, and the
//! `assume:repo:github.com/<owner>/<repo>:pull-request` role it assumed.
//! These fields are not signatures: the queue's `authorizedScopes` check
//! (the repository's role) is what stops a forged group from being
//! touched; this check keeps foreign groups out of plans and replies.

use super::task::TaskSnapshot;
use crate::types::TaskGroupId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a group was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The group holds no task whose id is the group's id.
    NoDecisionTask,
    /// The decision task names another repository (or none).
    OtherRepository,
    /// The decision task ran for another commit (or names none).
    OtherCommit,
    /// A push or release graph of the pull request's commit, and the
    /// commenter acts only as the pull request's author.
    NotForPullRequest,
}

/// A group left out, and why; stored with the plan and shown in the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedGroup {
    pub group: TaskGroupId,
    pub reason: SkipReason,
}

/// What a trusted group was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    PullRequest,
    /// Push, release, cron or action graphs.
    Other,
}

/// The repository and commit a group must come from.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    pub sha: &'a str,
}

/// Judges a group by its decision task's definition (`None` when the group
/// has none).
pub fn judge(decision: Option<&Value>, expected: Expected<'_>) -> Result<GroupKind, SkipReason> {
    let decision = decision.ok_or(SkipReason::NoDecisionTask)?;
    let source = decision
        .pointer("/metadata/source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let env = env_strings(decision);
    let repo_named = names_repo(source, expected.repo)
        || env.iter().any(|(k, v)| {
            (k.ends_with("_HEAD_REPOSITORY") || k.ends_with("_BASE_REPOSITORY"))
                && names_repo(v, expected.repo)
        });
    if !repo_named {
        return Err(SkipReason::OtherRepository);
    }
    let sha = expected.sha.to_ascii_lowercase();
    let commit_named = !sha.is_empty()
        && (source
            .to_ascii_lowercase()
            .split('/')
            .any(|segment| segment == sha)
            || env
                .iter()
                .any(|(k, v)| k.ends_with("_HEAD_REV") && v.eq_ignore_ascii_case(&sha)));
    if !commit_named {
        return Err(SkipReason::OtherCommit);
    }
    Ok(kind(decision, &env))
}

/// The groups that fail [`judge`] (their tasks are not acted on); with
/// `pr_only` (an open pull request's author acting without the role), also
/// the groups not made for the pull request. In first-seen order.
pub fn skipped_groups(
    tasks: &[TaskSnapshot],
    expected: Expected<'_>,
    pr_only: bool,
) -> Vec<SkippedGroup> {
    let mut order: Vec<TaskGroupId> = Vec::new();
    let mut decisions: BTreeMap<&TaskGroupId, Option<&Value>> = BTreeMap::new();
    for task in tasks {
        let entry = decisions.entry(&task.task_group_id).or_insert_with(|| {
            order.push(task.task_group_id.clone());
            None
        });
        if task.task_id.as_str() == task.task_group_id.as_str() {
            *entry = task.provenance.as_deref();
        }
    }
    let mut skipped = Vec::new();
    for group in &order {
        let decision = decisions.get(group).copied().flatten();
        let verdict = match judge(decision, expected) {
            Ok(GroupKind::Other) if pr_only => Err(SkipReason::NotForPullRequest),
            other => other,
        };
        if let Err(reason) = verdict {
            skipped.push(SkippedGroup {
                group: group.clone(),
                reason,
            });
        }
    }
    skipped
}

/// Pull-request graph or not: taskgraph's `extra.tasks_for` when present,
/// else the pull-request role taskcluster-github gives the decision task.
fn kind(decision: &Value, env: &[(&str, &str)]) -> GroupKind {
    if let Some(tasks_for) = decision.pointer("/extra/tasks_for").and_then(Value::as_str) {
        return if tasks_for.starts_with("github-pull-request") {
            GroupKind::PullRequest
        } else {
            GroupKind::Other
        };
    }
    let pr_role = decision
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|s| s.starts_with("assume:repo:") && s.ends_with(":pull-request"));
    let pr_env = env.iter().any(|(k, _)| k.ends_with("PULL_REQUEST_NUMBER"));
    if pr_role || pr_env {
        GroupKind::PullRequest
    } else {
        GroupKind::Other
    }
}

fn env_strings(decision: &Value) -> Vec<(&str, &str)> {
    decision
        .pointer("/payload/env")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect()
}

/// Whether `url` is `https://github.com/<repo>` (any case), alone or
/// followed by `/`, `.git` or a query.
fn names_repo(url: &str, repo: &str) -> bool {
    let url = url.to_ascii_lowercase();
    let Some(rest) = url
        .strip_prefix("https://github.com/")
        .and_then(|r| r.strip_prefix(&repo.to_ascii_lowercase()))
    else {
        return false;
    };
    rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') || rest == ".git"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "4d7b62c5e0a1f7c2a0f3b3d6e1c9a8b7f6e5d4c3";
    const OTHER_SHA: &str = "1111111111111111111111111111111111111111";
    const EXPECTED: Expected<'static> = Expected {
        repo: "mozilla/gecko-dev",
        sha: SHA,
    };

    fn decision(source: &str, env: Value, scopes: Value, extra: Value) -> Value {
        json!({
            "metadata": {"source": source},
            "payload": {"env": env},
            "scopes": scopes,
            "extra": extra,
        })
    }

    #[test]
    fn one_row_per_rule() {
        let src = format!("https://github.com/mozilla/gecko-dev/raw/{SHA}/.taskcluster.yml");
        let pr_scopes = json!(["assume:repo:github.com/mozilla/gecko-dev:pull-request"]);
        let push_scopes = json!(["assume:repo:github.com/mozilla/gecko-dev:branch:main"]);
        let cases: Vec<(&str, Option<Value>, Result<GroupKind, SkipReason>)> = vec![
            ("no decision task", None, Err(SkipReason::NoDecisionTask)),
            (
                "pull-request role",
                Some(decision(&src, json!({}), pr_scopes.clone(), json!({}))),
                Ok(GroupKind::PullRequest),
            ),
            (
                "push role",
                Some(decision(&src, json!({}), push_scopes.clone(), json!({}))),
                Ok(GroupKind::Other),
            ),
            (
                "tasks_for wins over the role",
                Some(decision(
                    &src,
                    json!({}),
                    pr_scopes.clone(),
                    json!({"tasks_for": "github-push"}),
                )),
                Ok(GroupKind::Other),
            ),
            (
                "tasks_for pull request",
                Some(decision(
                    &src,
                    json!({}),
                    json!([]),
                    json!({"tasks_for": "github-pull-request-untrusted"}),
                )),
                Ok(GroupKind::PullRequest),
            ),
            (
                "another repository",
                Some(decision(
                    &format!("https://github.com/evil/gecko-dev/raw/{SHA}/x"),
                    json!({"GECKO_HEAD_REPOSITORY": "https://github.com/evil/gecko-dev"}),
                    pr_scopes.clone(),
                    json!({}),
                )),
                Err(SkipReason::OtherRepository),
            ),
            (
                "a repository whose name extends ours",
                Some(decision(
                    &format!("https://github.com/mozilla/gecko-dev-fork/raw/{SHA}/x"),
                    json!({}),
                    pr_scopes.clone(),
                    json!({}),
                )),
                Err(SkipReason::OtherRepository),
            ),
            (
                "no source at all",
                Some(json!({"payload": {}})),
                Err(SkipReason::OtherRepository),
            ),
            (
                "fork pull request: base repository is ours",
                Some(decision(
                    &format!("https://github.com/alice/gecko-dev/raw/{SHA}/x"),
                    json!({"GECKO_BASE_REPOSITORY": "https://github.com/Mozilla/Gecko-Dev.git", "GECKO_HEAD_REV": SHA}),
                    pr_scopes.clone(),
                    json!({}),
                )),
                Ok(GroupKind::PullRequest),
            ),
            (
                "another commit",
                Some(decision(
                    &format!("https://github.com/mozilla/gecko-dev/raw/{OTHER_SHA}/x"),
                    json!({"GECKO_HEAD_REV": OTHER_SHA}),
                    push_scopes.clone(),
                    json!({}),
                )),
                Err(SkipReason::OtherCommit),
            ),
            (
                "commit from the env only",
                Some(decision(
                    "https://github.com/mozilla/gecko-dev",
                    json!({"GECKO_HEAD_REV": SHA.to_uppercase()}),
                    push_scopes.clone(),
                    json!({}),
                )),
                Ok(GroupKind::Other),
            ),
            (
                "sha only as part of a path segment",
                Some(decision(
                    &format!("https://github.com/mozilla/gecko-dev/raw/x{SHA}/y"),
                    json!({}),
                    push_scopes,
                    json!({}),
                )),
                Err(SkipReason::OtherCommit),
            ),
            (
                "pull request number in the env",
                Some(decision(
                    &src,
                    json!({"TASKGRAPH_PULL_REQUEST_NUMBER": "7"}),
                    json!([]),
                    json!({}),
                )),
                Ok(GroupKind::PullRequest),
            ),
        ];
        for (name, decision, expected) in cases {
            assert_eq!(judge(decision.as_ref(), EXPECTED), expected, "{name}");
        }
    }
}
