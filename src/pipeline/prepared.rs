//! What a job decided before dispatching anything: stored with the job
//! (DESIGN.md §10) so a retried job dispatches exactly the same actions,
//! with the same copy ids and byte-identical definitions.

use crate::command::CommandError;
use crate::policy::provenance::SkippedGroup;
use crate::policy::{Plan, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stored decision of one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    /// `owner/name`, for the ledger.
    pub repo: String,
    /// The commit whose tasks were judged (the merge commit when merged).
    pub sha: String,
    pub force_role: Role,
    pub reply: PreparedReply,
    /// Retrigger copy id → the exact definition to send.
    pub definitions: BTreeMap<String, serde_json::Value>,
    /// Task groups the provenance check left out (DESIGN.md §12).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_groups: Vec<SkippedGroup>,
    /// Rows carried out through in-tree actions, with their rendered hook
    /// triggers (DESIGN.md §8); every other action goes to the queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routed: Vec<crate::dispatch::route::Routed>,
}

/// What the reply will hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreparedReply {
    /// The whole comment is answered with one text (a config error, too many
    /// commands): nothing is dispatched.
    Text { body: String },
    /// The commenter may run no command here: one reply, no reaction.
    Refused { body: String },
    /// One section per command line.
    Sections { sections: Vec<PreparedSection> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreparedSection {
    Planned {
        command_text: String,
        plan: Plan,
    },
    Malformed {
        command_text: String,
        error: CommandError,
    },
    Help,
}

impl Prepared {
    /// The plans, in reply order.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        let sections = match &self.reply {
            PreparedReply::Sections { sections } => sections.as_slice(),
            PreparedReply::Text { .. } | PreparedReply::Refused { .. } => &[],
        };
        sections.iter().filter_map(|s| match s {
            PreparedSection::Planned { plan, .. } => Some(plan),
            _ => None,
        })
    }
}
