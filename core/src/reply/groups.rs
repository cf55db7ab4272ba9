//! The note under a reply that names the task groups left out by the
//! provenance check (DESIGN.md §12), one line each, with why.

use super::markdown::code;
use crate::policy::provenance::{SkipReason, SkippedGroup};

/// At most this many groups are named; the rest are counted.
const MAX_NAMED: usize = 10;

/// The note, or an empty string when no group was skipped.
pub fn render_skipped_groups(root_url: &str, skipped: &[SkippedGroup]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let root = root_url.trim_end_matches('/');
    let mut out = String::from("Task groups not used:");
    for s in skipped.iter().take(MAX_NAMED) {
        let id = s.group.as_str();
        out.push_str(&format!(
            "\n- [{}]({root}/tasks/groups/{id}): {}",
            code(id),
            why(s.reason)
        ));
    }
    if skipped.len() > MAX_NAMED {
        out.push_str(&format!("\n- and {} more", skipped.len() - MAX_NAMED));
    }
    out
}

fn why(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::NoDecisionTask => {
            "its decision task is not in the group, so where it comes from cannot be checked"
        }
        SkipReason::OtherRepository => "its decision task does not come from this repository",
        SkipReason::OtherCommit => "its decision task did not run for this commit",
        SkipReason::NotForPullRequest => {
            "it is a push or release graph of this commit, not this pull request's; the pull request's author may only act on the pull request's own tasks"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TaskGroupId;

    #[test]
    fn one_line_per_reason() {
        let reasons = [
            (
                SkipReason::NoDecisionTask,
                "decision task is not in the group",
            ),
            (
                SkipReason::OtherRepository,
                "does not come from this repository",
            ),
            (SkipReason::OtherCommit, "did not run for this commit"),
            (SkipReason::NotForPullRequest, "push or release graph"),
        ];
        for (reason, words) in reasons {
            let note = render_skipped_groups(
                "https://tc.example/",
                &[SkippedGroup {
                    group: TaskGroupId::new("VzknzfeqR0aSRxKS2y69Cg"),
                    reason,
                }],
            );
            assert!(note.contains(words), "{note}");
            assert!(
                note.contains("[`VzknzfeqR0aSRxKS2y69Cg`](https://tc.example/tasks/groups/VzknzfeqR0aSRxKS2y69Cg)"),
                "{note}"
            );
        }
        assert_eq!(render_skipped_groups("x", &[]), "");
    }

    #[test]
    fn long_lists_are_counted() {
        let many: Vec<SkippedGroup> = (0..13)
            .map(|i| SkippedGroup {
                group: TaskGroupId::new(format!("g{i}")),
                reason: SkipReason::OtherCommit,
            })
            .collect();
        let note = render_skipped_groups("https://tc.example", &many);
        assert_eq!(note.lines().count(), 1 + MAX_NAMED + 1, "{note}");
        assert!(note.ends_with("and 3 more"), "{note}");
    }
}
