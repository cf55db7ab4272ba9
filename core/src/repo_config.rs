//! `.github/rerunbot.yml` (DESIGN.md §7): the schema, its defaults, parsing
//! with positions for every error, hard caps, and task classification.
//!
//! Hard caps: whatever the file asks for, `limits.max_retrigger` is clamped
//! to [`HARD_MAX_RETRIGGER`], `limits.max_new_tasks` to
//! [`HARD_MAX_NEW_TASKS`] and `limits.max_reruns_per_task` to
//! [`HARD_MAX_RERUNS_PER_TASK`]. A repository can tighten the rules, never
//! lift them past what the operators of the queue can absorb.

mod auto_rerun;
mod classify;
mod parse;

pub use auto_rerun::{AutoRerun, HARD_MAX_AUTO_ATTEMPTS};
pub use classify::Classifier;
pub use parse::{check_config_cli, parse, parse_with_notes};

use crate::policy::plan::Role;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where the configuration lives, on the default branch.
pub const CONFIG_PATH: &str = ".github/rerunbot.yml";
/// Upper bound of `limits.max_retrigger`, enforced by clamping.
pub const HARD_MAX_RETRIGGER: u32 = 100;
/// Upper bound of `limits.max_new_tasks`, enforced by clamping.
pub const HARD_MAX_NEW_TASKS: u32 = 500;
/// Upper bound of `limits.max_reruns_per_task`, enforced by clamping (the
/// queue itself stops at 50 runs).
pub const HARD_MAX_RERUNS_PER_TASK: u32 = 25;

/// The whole file. Every section is optional; missing keys take defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoConfig {
    pub permissions: Permissions,
    pub limits: Limits,
    /// How actions reach Taskcluster (DESIGN.md §7, §8).
    pub dispatch: DispatchMode,
    pub classify: Classify,
    /// Automatic reruns (DESIGN.md §13); off by default.
    pub auto_rerun: AutoRerun,
}

/// `dispatch:` — through the repository's in-tree actions (`actions.json`
/// of the decision task) or with direct queue calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DispatchMode {
    /// In-tree actions when the decision task publishes them, else the
    /// queue (except forced copies of release tasks, which are refused).
    #[default]
    Auto,
    /// In-tree actions only: without them the action is refused.
    Actions,
    /// Direct queue calls only.
    Queue,
}

impl DispatchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchMode::Auto => "auto",
            DispatchMode::Actions => "actions",
            DispatchMode::Queue => "queue",
        }
    }
}

/// Minimum repository role for each kind of command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Permissions {
    pub rerun: Role,
    pub retrigger: Role,
    pub force: Role,
    /// The pull request's author may `/rerun` (without force) its failed
    /// tasks whatever their role.
    pub pr_author_rerun: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Self {
            rerun: Role::Write,
            retrigger: Role::Write,
            force: Role::Maintain,
            pr_author_rerun: true,
        }
    }
}

/// Limits per command. Zero is rejected where it would disable a command
/// silently, a percentage above 100 is rejected; values above the hard caps
/// are clamped (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// N of `/retrigger N`.
    pub max_retrigger: u32,
    /// Tasks created by one comment (all its commands together).
    pub max_new_tasks: u32,
    /// Tasks rerun by one command.
    pub max_reruns_per_command: u32,
    /// Reruns of one task by the app per head SHA.
    pub max_reruns_per_task: u32,
    /// Retrigger copies per head SHA, all comments together.
    pub max_retriggers_per_sha: u32,
    /// The failure guard, 1–100.
    pub max_failure_percent: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_retrigger: 10,
            max_new_tasks: 50,
            max_reruns_per_command: 50,
            max_reruns_per_task: 3,
            max_retriggers_per_sha: 200,
            max_failure_percent: 50,
        }
    }
}

/// How tasks are classified: release first, then test, else other.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Classify {
    pub release: ReleaseRules,
    pub test: TestRules,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReleaseRules {
    /// Globs over `taskQueueId` (`provisionerId/workerType`).
    pub task_queues: Vec<GlobPattern>,
    /// Globs over `tags.kind`: release-graph tasks that run on other pools
    /// (e.g. `release-generate-checksums` on a build pool).
    pub kinds: Vec<GlobPattern>,
}

impl Default for ReleaseRules {
    fn default() -> Self {
        let globs = |list: &[&str]| list.iter().map(|g| GlobPattern((*g).into())).collect();
        Self {
            task_queues: globs(&["scriptworker-k8s/*", "scriptworker-prov-v1/*"]),
            kinds: globs(&[
                "*signing*",
                "beetmover*",
                "balrog*",
                "bouncer*",
                "push-*",
                "release-*",
                "ship*",
                "notarization*",
            ]),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestRules {
    /// A task is a test when it carries every one of these tags with these
    /// values (an empty map matches nothing).
    pub tags: BTreeMap<String, String>,
    /// ... or when `extra.treeherder.jobKind` is one of these.
    pub treeherder_job_kinds: Vec<String>,
}

impl Default for TestRules {
    fn default() -> Self {
        Self {
            tags: BTreeMap::from([("retrigger".to_owned(), "true".to_owned())]),
            treeherder_job_kinds: vec!["test".to_owned()],
        }
    }
}

/// A glob, validated when the file is read (so a bad glob has a position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct GlobPattern(pub String);

impl<'de> Deserialize<'de> for GlobPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        globset::Glob::new(&text).map_err(|e| {
            serde::de::Error::custom(format!("invalid glob `{text}`: {}", e.kind()))
        })?;
        Ok(GlobPattern(text))
    }
}

/// Why the file cannot be used. Positions are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigError {
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl RepoConfig {
    /// Release, test or other (see [`Classifier`]). Compiles the globs on
    /// every call: build a [`Classifier`] once for many tasks.
    pub fn classify(
        &self,
        task: &crate::policy::task::TaskSnapshot,
    ) -> crate::policy::plan::TaskClass {
        Classifier::new(self).classify(task)
    }
}

#[cfg(test)]
mod tests;
