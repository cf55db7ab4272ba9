//! The one comment per pull-request head that lists what was rerun
//! automatically (DESIGN.md §13, repo config `auto_rerun`), edited as
//! those runs resolve, and the reason a group was left alone when too many
//! of its tasks failed. Pure.

use super::follow::{run_result, RunProgress};
use super::markdown::{cell, code, plural, task_link, task_url};

/// Rows shown at most; the rest are counted.
const MAX_ROWS: usize = 200;

/// One automatic rerun and where its run stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RerunLine {
    pub task_id: String,
    pub label: String,
    /// 1 for the first automatic rerun of the task on this head.
    pub attempt: u32,
    /// The run the rerun started.
    pub run_id: u32,
    pub progress: RunProgress,
}

/// A group left alone: more than `limit` percent of its tasks failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedGroup {
    pub task_group_id: String,
    pub failed: u32,
    pub total: u32,
    pub limit: u32,
}

/// Everything the comment shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoRerunView<'a> {
    pub root_url: &'a str,
    /// The pull request's head commit.
    pub sha: &'a str,
    pub reruns: &'a [RerunLine],
    pub refused: &'a [RefusedGroup],
}

/// The comment's markdown.
pub fn render(view: &AutoRerunView<'_>) -> String {
    let short: String = view.sha.chars().take(12).collect();
    let mut out = format!(
        "Automatic reruns for {} (repository configuration `auto_rerun`)",
        code(&short)
    );
    if !view.reruns.is_empty() {
        out.push_str(&format!(
            " — {}\n\n| task | attempt | result |\n|---|---|---|\n",
            plural(view.reruns.len(), "rerun")
        ));
        for line in view.reruns.iter().take(MAX_ROWS) {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&task_link(view.root_url, &line.task_id, &line.label)),
                line.attempt,
                cell(&run_result("", line.run_id, &line.progress)),
            ));
        }
        if view.reruns.len() > MAX_ROWS {
            out.push_str(&format!(
                "\n…and {} not shown.\n",
                plural(view.reruns.len() - MAX_ROWS, "more rerun")
            ));
        }
    } else {
        out.push('\n');
    }
    for group in view.refused {
        let percent = group.failed as usize * 100 / (group.total as usize).max(1);
        out.push_str(&format!(
            "\nNothing was rerun automatically in task group [{}]({}): {} of {} tasks failed \
             ({percent}%), more than `max_failure_percent` ({}%). That looks like a real \
             breakage rather than flakiness; comment `/rerun` to rerun the failures anyway.\n",
            code(&group.task_group_id),
            task_url(view.root_url, &format!("groups/{}", group.task_group_id)),
            group.failed,
            group.total,
            group.limit,
        ));
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::task::TaskState;

    fn line(label: &str, attempt: u32, progress: RunProgress) -> RerunLine {
        RerunLine {
            task_id: format!("{:A<22}", label.len()),
            label: label.to_owned(),
            attempt,
            run_id: attempt,
            progress,
        }
    }

    #[test]
    fn the_comment_as_runs_resolve_and_groups_are_refused() {
        let root = "https://tc.example";
        let resolved = |state, reason: Option<&str>| RunProgress::Resolved {
            state,
            reason: reason.map(str::to_owned),
        };
        let reruns = vec![
            line("test-linux64/opt-mochitest-1", 1, RunProgress::Open),
            line(
                "test-win/opt-xpcshell-2 | @team",
                2,
                resolved(TaskState::Completed, None),
            ),
            line(
                "build-win64/opt",
                1,
                resolved(TaskState::Exception, Some("worker-shutdown")),
            ),
        ];
        let refused = vec![RefusedGroup {
            task_group_id: "Gr0upAAAAAAAAAAAAAAAAA".to_owned(),
            failed: 7,
            total: 10,
            limit: 30,
        }];
        let sha = "5c1e0c3b6a7d4f2e9b8a1c0d3e4f5a6b7c8d9e0f";
        let views = [
            AutoRerunView {
                root_url: root,
                sha,
                reruns: &reruns,
                refused: &[],
            },
            AutoRerunView {
                root_url: root,
                sha,
                reruns: &[],
                refused: &refused,
            },
            AutoRerunView {
                root_url: root,
                sha,
                reruns: &reruns[..1],
                refused: &refused,
            },
        ];
        let all: Vec<String> = views.iter().map(render).collect();
        insta::assert_snapshot!(all.join("\n\n════════\n\n"));
    }
}
