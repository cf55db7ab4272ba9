//! The `auto_rerun` block (DESIGN.md §7, §13): which failures of a pull
//! request's task groups are rerun automatically once a group resolves.
//! Off unless `enabled`; release tasks are never rerun automatically,
//! whatever the block says.

use super::GlobPattern;
use crate::policy::task::TaskState;
use serde::{Deserialize, Serialize};

/// Upper bound of `auto_rerun.max_attempts`, enforced by clamping.
pub const HARD_MAX_AUTO_ATTEMPTS: u32 = 5;

/// `auto_rerun:` as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoRerun {
    pub enabled: bool,
    /// Automatic reruns of one task per head SHA (1 to 5).
    pub max_attempts: u32,
    /// Resolved states rerun whatever the reason (`failed`, `exception`).
    pub on_states: Vec<TaskState>,
    /// `reasonResolved` values rerun (e.g. `claim-expired`).
    pub on_reasons: Vec<String>,
    /// A task whose `tags.<opt_in_tag>` is `"true"` is also rerun when it
    /// failed.
    pub opt_in_tag: String,
    /// Globs over labels; tasks matching none are never rerun.
    pub tasks: Vec<GlobPattern>,
    /// No automatic rerun at all when more than this share of a group's
    /// tasks failed (1–100).
    pub max_failure_percent: u32,
}

impl Default for AutoRerun {
    fn default() -> Self {
        AutoRerun {
            enabled: false,
            max_attempts: 1,
            on_states: vec![TaskState::Exception],
            on_reasons: [
                "claim-expired",
                "worker-shutdown",
                "internal-error",
                "resource-unavailable",
            ]
            .map(str::to_owned)
            .to_vec(),
            opt_in_tag: "retry-on-failure".to_owned(),
            tasks: vec![GlobPattern("*".to_owned())],
            max_failure_percent: 30,
        }
    }
}

/// The first range problem of the block: (key, message).
pub(super) fn problem(block: &AutoRerun) -> Option<(&'static str, String)> {
    if block.max_attempts == 0 {
        return Some(("max_attempts", "must be at least 1".to_owned()));
    }
    if !(1..=100).contains(&block.max_failure_percent) {
        return Some((
            "max_failure_percent",
            format!(
                "{} is out of range: a percentage is 1 to 100",
                block.max_failure_percent
            ),
        ));
    }
    if let Some(state) = block.on_states.iter().find(|s| !s.is_broken()) {
        return Some((
            "on_states",
            format!(
                "`{}` is not a failure: use failed or exception",
                state.as_str()
            ),
        ));
    }
    if block.opt_in_tag.trim().is_empty() {
        return Some(("opt_in_tag", "must not be empty".to_owned()));
    }
    None
}
