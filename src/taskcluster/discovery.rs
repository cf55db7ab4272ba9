//! From a commit's GitHub check runs and statuses to the Taskcluster tasks
//! that ran for it. The GitHub side (fetching check runs and statuses of the
//! head SHA, paginating) is elsewhere; this module reads what it found.
//!
//! taskcluster-github makes one check run per task (`details_url` =
//! `<rootUrl>/tasks/<taskId>`, `external_id` = taskId); legacy status
//! reporting puts the group in `target_url` (`<rootUrl>/tasks/groups/<id>`).

use super::client::QueueClient;
use super::error::QueueError;
use super::kept::{KeptDefinitions, KEPT_PAGES_BUDGET};
use crate::policy::task::TaskSnapshot;
use crate::types::{TaskGroupId, TaskId};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The two fields of a GitHub check run that discovery reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRunRef {
    pub external_id: Option<String>,
    pub details_url: Option<String>,
}

/// The field of a GitHub commit status that discovery reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusRef {
    pub target_url: Option<String>,
}

/// Whether a check run was made by the trusted Taskcluster GitHub App
/// (`RERUNBOT_TASKCLUSTER_APP`). Any app (or user, for statuses) with
/// checks or statuses write access could otherwise point `details_url` at
/// another project's task (DESIGN.md §12). Slugs compare ASCII
/// case-insensitively, as GitHub treats them.
pub fn is_trusted_app(app_slug: Option<&str>, trusted: &str) -> bool {
    app_slug.is_some_and(|s| s.eq_ignore_ascii_case(trusted))
}

/// Whether a commit status was posted by the trusted app: GitHub shows an
/// app's statuses as created by `<slug>[bot]`.
pub fn is_trusted_status_creator(login: Option<&str>, trusted: &str) -> bool {
    login
        .and_then(|l| l.strip_suffix("[bot]"))
        .is_some_and(|s| s.eq_ignore_ascii_case(trusted))
}

/// Whether `url` lies under `root_url` followed by `/`: a plain prefix test
/// would also accept `https://<root host>.evil.example/...`.
pub fn is_under_root(root_url: &str, url: &str) -> bool {
    url.strip_prefix(root_url.trim_end_matches('/'))
        .is_some_and(|rest| rest.starts_with('/'))
}

/// What a URL under the root points at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Task(TaskId),
    Group(TaskGroupId),
}

/// Loose slug check: 22 base64url characters. Stricter checks are the
/// queue's job; this only keeps out paths like `/tasks/create`.
fn is_slug(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Reads `<root>/tasks/<id>[/...]` or `<root>/tasks/groups/<id>[/...]`.
fn parse_link(root_url: &str, url: &str) -> Option<Link> {
    let root = root_url.trim_end_matches('/');
    let rest = url.strip_prefix(root)?.strip_prefix("/tasks/")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let mut parts = rest.split('/');
    match parts.next()? {
        "groups" => {
            let id = parts.next()?;
            is_slug(id).then(|| Link::Group(TaskGroupId::new(id)))
        }
        id if is_slug(id) => Some(Link::Task(TaskId::new(id))),
        _ => None,
    }
}

/// Task ids named by check runs under `root_url`, in first-seen order,
/// without duplicates. A check run whose `details_url` is under the root but
/// not a task page falls back to its `external_id`.
pub fn task_ids_from_checks(root_url: &str, checks: &[CheckRunRef]) -> Vec<TaskId> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for check in checks {
        let Some(url) = check.details_url.as_deref() else {
            continue;
        };
        let id = match parse_link(root_url, url) {
            Some(Link::Task(id)) => Some(id),
            Some(Link::Group(_)) => None,
            None if is_under_root(root_url, url) => check
                .external_id
                .as_deref()
                .filter(|e| is_slug(e))
                .map(TaskId::new),
            None => None,
        };
        if let Some(id) = id {
            if seen.insert(id.clone()) {
                out.push(id);
            }
        }
    }
    out
}

/// Task groups named directly: statuses whose `target_url` is
/// `<rootUrl>/tasks/groups/<id>` (and check runs that link a group page).
/// Check runs naming a *task* need a `status` call to learn its group; see
/// [`discover_tasks`].
pub fn task_groups_from_checks(
    root_url: &str,
    checks: &[CheckRunRef],
    statuses: &[StatusRef],
) -> Vec<TaskGroupId> {
    let urls = statuses
        .iter()
        .filter_map(|s| s.target_url.as_deref())
        .chain(checks.iter().filter_map(|c| c.details_url.as_deref()));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for url in urls {
        if let Some(Link::Group(id)) = parse_link(root_url, url) {
            if seen.insert(id.clone()) {
                out.push(id);
            }
        }
    }
    out
}

/// Every task of every group the check runs and statuses point at.
///
/// Groups named directly are listed first. Then, for each check-run task id
/// not yet seen in a listed group, one `status` call learns its group, which
/// is listed whole; every other task of that group is then known, so a
/// group costs one `status` call however many check runs it has.
/// One guess saves a round trip in the common case: taskcluster-github's
/// decision task id is its group's id, and the caller puts the decision
/// task's check run first, so the first check-run task id is tried as a
/// group before any `status` call. A wrong guess (404, or a list without
/// that task) costs one call and falls back to `status`.
///
/// A task id whose status is 404 (expired, or another deployment's) is
/// skipped; every other error is returned.
///
pub async fn discover_tasks(
    queue: &QueueClient,
    root_url: &str,
    checks: &[CheckRunRef],
    statuses: &[StatusRef],
) -> Result<Vec<TaskSnapshot>, QueueError> {
    let mut nothing = KeptDefinitions::default();
    discover(queue, root_url, (checks, statuses), &mut nothing).await
}

/// As [`discover_tasks`], keeping the pages of small groups (see
/// `taskcluster::kept`), so that copying one of their tasks needs no
/// `GET /task`.
pub async fn discover_tasks_keeping(
    queue: &QueueClient,
    root_url: &str,
    checks: &[CheckRunRef],
    statuses: &[StatusRef],
) -> Result<Discovered, QueueError> {
    let mut kept = KeptDefinitions::with_budget(KEPT_PAGES_BUDGET);
    let tasks = discover(queue, root_url, (checks, statuses), &mut kept).await?;
    Ok(Discovered {
        tasks: Arc::new(tasks),
        definitions: Arc::new(kept),
    })
}

/// The tasks of a commit and the definitions kept from their listing.
/// Cheap to clone: a listing is shared by the jobs of one commit.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub tasks: Arc<Vec<TaskSnapshot>>,
    pub definitions: Arc<KeptDefinitions>,
}

async fn discover(
    queue: &QueueClient,
    root_url: &str,
    (checks, statuses): (&[CheckRunRef], &[StatusRef]),
    kept: &mut KeptDefinitions,
) -> Result<Vec<TaskSnapshot>, QueueError> {
    let mut known: BTreeSet<TaskId> = BTreeSet::new();
    let mut tasks: Vec<TaskSnapshot> = Vec::new();
    let mut add = |known: &mut BTreeSet<TaskId>, page: Vec<TaskSnapshot>| {
        for task in page {
            if known.insert(task.task_id.clone()) {
                tasks.push(task);
            }
        }
    };
    let mut groups_done: BTreeSet<TaskGroupId> = BTreeSet::new();

    for group in task_groups_from_checks(root_url, checks, statuses) {
        groups_done.insert(group.clone());
        match queue.list_task_group_keeping(&group, kept).await {
            Ok(page) => add(&mut known, page),
            Err(QueueError::NotFound) => continue,
            Err(e) => return Err(e),
        }
    }
    let mut pending = task_ids_from_checks(root_url, checks);
    pending.retain(|id| !known.contains(id));
    if let Some(first) = pending.first() {
        let guess = TaskGroupId::new(first.as_str());
        if !groups_done.contains(&guess) {
            match queue.list_task_group_keeping(&guess, kept).await {
                Ok(page) if page.iter().any(|t| &t.task_id == first) => {
                    groups_done.insert(guess);
                    add(&mut known, page);
                }
                Ok(_) | Err(QueueError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for task_id in pending {
        if known.contains(&task_id) {
            continue;
        }
        let status = match queue.status(&task_id).await {
            Ok(s) => s,
            Err(QueueError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        let Some(group) = status
            .get("taskGroupId")
            .and_then(|g| g.as_str())
            .map(TaskGroupId::new)
        else {
            continue;
        };
        if !groups_done.insert(group.clone()) {
            continue;
        }
        let page = queue.list_task_group_keeping(&group, kept).await?;
        add(&mut known, page);
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "https://firefox-ci-tc.services.mozilla.com";
    const A: &str = "fQpVbmtAQ8uBNO5UBWS2LA";
    const B: &str = "Xd7Hdl6JSpq7v8K0jF5XMw";

    fn check(url: Option<&str>, external: Option<&str>) -> CheckRunRef {
        CheckRunRef {
            details_url: url.map(str::to_owned),
            external_id: external.map(str::to_owned),
        }
    }

    #[test]
    fn check_runs_give_task_ids() {
        let cases: Vec<(&str, CheckRunRef, Option<&str>)> = vec![
            (
                "task page",
                check(Some(&format!("{ROOT}/tasks/{A}")), Some(A)),
                Some(A),
            ),
            (
                "trailing slash root",
                check(Some(&format!("{ROOT}/tasks/{A}/runs/0")), None),
                Some(A),
            ),
            (
                "query",
                check(Some(&format!("{ROOT}/tasks/{A}?x=1")), None),
                Some(A),
            ),
            (
                "other deployment",
                check(
                    Some(&format!("https://other.example.com/tasks/{A}")),
                    Some(A),
                ),
                None,
            ),
            ("no url", check(None, Some(A)), None),
            (
                "group page",
                check(Some(&format!("{ROOT}/tasks/groups/{B}")), None),
                None,
            ),
            (
                "under root, external id",
                check(Some(&format!("{ROOT}/tasks/index")), Some(A)),
                Some(A),
            ),
            (
                "not a slug",
                check(Some(&format!("{ROOT}/tasks/create")), Some("nope")),
                None,
            ),
            (
                "prefix lookalike",
                check(Some(&format!("{ROOT}.evil.com/tasks/{A}")), None),
                None,
            ),
        ];
        for (name, c, expected) in cases {
            let got = task_ids_from_checks(ROOT, &[c]);
            assert_eq!(
                got,
                expected.map(TaskId::new).into_iter().collect::<Vec<_>>(),
                "{name}"
            );
        }
    }

    #[test]
    fn external_id_fallback_needs_the_root_boundary() {
        let lookalike = check(Some(&format!("{ROOT}.evil.example/x")), Some(A));
        assert!(task_ids_from_checks(ROOT, &[lookalike]).is_empty());
        let port = check(Some(&format!("{ROOT}:8443/tasks/{A}")), Some(A));
        assert!(task_ids_from_checks(ROOT, &[port]).is_empty());
    }

    #[test]
    fn only_the_taskcluster_app_is_trusted() {
        let cases: [(&str, Option<&str>, bool); 5] = [
            ("taskcluster app", Some("taskcluster"), true),
            ("case differs", Some("TaskCluster"), true),
            ("another app", Some("evil-ci"), false),
            ("prefix of the slug", Some("taskcluster-staging"), false),
            ("no app", None, false),
        ];
        for (name, slug, expected) in cases {
            assert_eq!(is_trusted_app(slug, "taskcluster"), expected, "{name}");
        }
        let creators: [(&str, Option<&str>, bool); 5] = [
            ("the app's bot", Some("taskcluster[bot]"), true),
            ("a user named like the app", Some("taskcluster"), false),
            ("another bot", Some("evil[bot]"), false),
            ("suffix trick", Some("eviltaskcluster[bot]"), false),
            ("no creator", None, false),
        ];
        for (name, login, expected) in creators {
            assert_eq!(
                is_trusted_status_creator(login, "taskcluster"),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn under_root_needs_a_slash_boundary() {
        let cases = [
            (format!("{ROOT}/tasks/{A}"), true),
            (format!("{ROOT}/"), true),
            (ROOT.to_owned(), false),
            (format!("{ROOT}.evil.example/tasks/{A}"), false),
            (format!("{ROOT}@evil.example/tasks/{A}"), false),
            (format!("{ROOT}:1/tasks/{A}"), false),
        ];
        for (url, expected) in cases {
            assert_eq!(is_under_root(&format!("{ROOT}/"), &url), expected, "{url}");
        }
    }

    #[test]
    fn duplicates_are_dropped_in_order() {
        let checks = vec![
            check(Some(&format!("{ROOT}/tasks/{B}")), None),
            check(Some(&format!("{ROOT}/tasks/{A}")), None),
            check(Some(&format!("{ROOT}/tasks/{B}")), None),
        ];
        assert_eq!(
            task_ids_from_checks(ROOT, &checks),
            vec![TaskId::new(B), TaskId::new(A)]
        );
    }

    #[test]
    fn statuses_give_groups() {
        let statuses = vec![
            StatusRef {
                target_url: Some(format!("{ROOT}/tasks/groups/{B}")),
            },
            StatusRef {
                target_url: Some(format!("{ROOT}/tasks/groups/{B}")),
            },
            StatusRef {
                target_url: Some(format!("{ROOT}/tasks/{A}")),
            },
            StatusRef {
                target_url: Some("https://ci.example.com/build/1".into()),
            },
            StatusRef { target_url: None },
        ];
        assert_eq!(
            task_groups_from_checks(&format!("{ROOT}/"), &[], &statuses),
            vec![TaskGroupId::new(B)]
        );
    }
}
