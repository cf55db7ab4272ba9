//! The plan: for every task a command selected, exactly one decision, plus
//! warnings. Built by `policy::plan`, stored before dispatch, rendered by
//! `reply`. Reasons are data here; their wording lives in `reply`.

use crate::types::TaskId;
use serde::{Deserialize, Serialize};

/// How release engineering's rules see a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskClass {
    Release,
    Test,
    Other,
}

/// A repository role, ordered by power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

/// What to send to the queue for one task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// `POST /task/<id>/rerun`, unless a run beyond `runs_seen` exists.
    Rerun { runs_seen: u32 },
    /// `POST /task/<id>/cancel` then rerun.
    CancelRerun { runs_seen: u32 },
    /// `PUT /task/<copy>` for each copy id (deterministic, see taskcluster::copy).
    Retrigger { copies: Vec<TaskId> },
}

impl Action {
    /// Number of tasks this action creates.
    pub fn new_tasks(&self) -> usize {
        match self {
            Action::Retrigger { copies } => copies.len(),
            Action::Rerun { .. } | Action::CancelRerun { .. } => 0,
        }
    }
}
