//! The rules matrix (DESIGN.md §6), pure: who asked, which tasks, which
//! configuration → one decision per selected task. Wording lives in `reply`.

pub mod copy_ids;
mod engine;
pub mod plan;
pub mod provenance;
mod select;
mod suggest;
pub mod supervise;
pub mod task;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use copy_ids::copy_ids;
pub use engine::plan;
pub use plan::*;

use crate::command::Command;
use crate::repo_config::RepoConfig;
use crate::types::{DeliveryId, Login};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use task::TaskSnapshot;

/// Who wrote the command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub login: Login,
    pub role: Role,
    pub is_pr_author: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrState {
    Open,
    Closed,
    /// Merged: the pipeline passes the merge commit's tasks; plans as open.
    Merged,
}

/// Earlier actions of the app for this pull request's head SHA. The
/// pipeline builds it from the store, and adds the reruns planned by the
/// earlier commands of the same comment before planning the next one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub reruns_by_label: BTreeMap<String, u32>,
}

impl Ledger {
    /// Counts the reruns of `plan` (for the next command of a comment).
    pub fn record(&mut self, plan: &Plan) {
        for (row, action) in plan.actions() {
            if matches!(action, Action::Rerun { .. } | Action::CancelRerun { .. }) {
                *self.reruns_by_label.entry(row.label.clone()).or_default() += 1;
            }
        }
    }
}

/// Everything one command is judged on.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    pub command: &'a Command,
    pub command_text: &'a str,
    /// The tasks of the pull request's latest task groups (of the merge
    /// commit for a merged pull request).
    pub tasks: &'a [TaskSnapshot],
    pub actor: &'a Actor,
    pub config: &'a RepoConfig,
    pub ledger: &'a Ledger,
    pub pr: PrState,
    pub delivery: &'a DeliveryId,
    /// States of dependencies that live outside `tasks` (e.g. cached
    /// docker-image or toolchain tasks of older groups), as the pipeline
    /// looked them up; a dependency in neither counts as unresolved.
    pub external: &'a BTreeMap<crate::types::TaskId, task::TaskState>,
    /// 0-based position of this command among the comment's commands; it
    /// keeps copy ids of two commands of one comment (same delivery) apart.
    pub command_index: usize,
    pub now: DateTime<Utc>,
}
