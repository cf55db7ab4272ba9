//! Task classification (DESIGN.md §7 `classify`): release when the task's
//! queue matches a release glob, then test when its tags or its Treeherder
//! job kind say so, else other. First match wins.

use super::RepoConfig;
use crate::policy::plan::TaskClass;
use crate::policy::task::TaskSnapshot;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;

/// The classification rules of one configuration, globs compiled once.
#[derive(Clone, Debug)]
pub struct Classifier {
    release_queues: GlobSet,
    test_tags: BTreeMap<String, String>,
    job_kinds: Vec<String>,
}

impl Classifier {
    pub fn new(config: &RepoConfig) -> Self {
        let mut builder = GlobSetBuilder::new();
        for pattern in &config.classify.release.task_queues {
            // Patterns were validated by `parse`; a config built in code with
            // a bad glob simply classifies nothing as release by that glob.
            if let Ok(glob) = Glob::new(&pattern.0) {
                builder.add(glob);
            }
        }
        Self {
            release_queues: builder.build().unwrap_or_else(|_| GlobSet::empty()),
            test_tags: config.classify.test.tags.clone(),
            job_kinds: config.classify.test.treeherder_job_kinds.clone(),
        }
    }

    pub fn classify(&self, task: &TaskSnapshot) -> TaskClass {
        if self.release_queues.is_match(&task.task_queue_id) {
            return TaskClass::Release;
        }
        let tags_match = !self.test_tags.is_empty()
            && self
                .test_tags
                .iter()
                .all(|(k, v)| task.tags.get(k).is_some_and(|t| t == v));
        let job_kind = task
            .treeherder
            .as_ref()
            .and_then(|t| t.get("jobKind"))
            .and_then(|k| k.as_str());
        let kind_match = job_kind.is_some_and(|k| self.job_kinds.iter().any(|j| j == k));
        if tags_match || kind_match {
            TaskClass::Test
        } else {
            TaskClass::Other
        }
    }
}
