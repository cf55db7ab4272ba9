//! Task classification (DESIGN.md §7 `classify`): release when the task's
//! queue or its `tags.kind` matches a release glob, then test when its tags
//! or its Treeherder job kind say so, else other. First match wins.

use super::RepoConfig;
use crate::policy::plan::TaskClass;
use crate::policy::task::TaskSnapshot;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;

/// The classification rules of one configuration, globs compiled once.
#[derive(Clone, Debug)]
pub struct Classifier {
    /// `None` when the configured release globs do not build into a set:
    /// then every task is release, the strictest class, never "nothing is
    /// release" (`parse` reports such a file as an error with a position).
    release: Option<(GlobSet, GlobSet)>,
    test_tags: BTreeMap<String, String>,
    job_kinds: Vec<String>,
}

impl Classifier {
    pub fn new(config: &RepoConfig) -> Self {
        let release = &config.classify.release;
        let release = glob_set(&release.task_queues)
            .and_then(|queues| Ok((queues, glob_set(&release.kinds)?)))
            .ok();
        Self {
            release,
            test_tags: config.classify.test.tags.clone(),
            job_kinds: config.classify.test.treeherder_job_kinds.clone(),
        }
    }

    pub fn classify(&self, task: &TaskSnapshot) -> TaskClass {
        let release = match &self.release {
            None => true,
            Some((queues, kinds)) => {
                queues.is_match(&*task.task_queue_id)
                    || task.kind().is_some_and(|k| kinds.is_match(k))
            }
        };
        if release {
            return TaskClass::Release;
        }
        let tags_match = !self.test_tags.is_empty()
            && self
                .test_tags
                .iter()
                .all(|(k, v)| task.tags.get(k) == Some(v.as_str()));
        let job_kind = task.job_kind.as_deref();
        let kind_match = job_kind.is_some_and(|k| self.job_kinds.iter().any(|j| j == k));
        if tags_match || kind_match {
            TaskClass::Test
        } else {
            TaskClass::Other
        }
    }
}

/// Builds one glob set; the error says which glob (or the set) failed.
pub(crate) fn glob_set(patterns: &[super::GlobPattern]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(&pattern.0)
            .map_err(|e| format!("invalid glob `{}`: {}", pattern.0, e.kind()))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| format!("the globs do not build into a set: {e}"))
}
