//! Which tasks a command names (DESIGN.md §5): default selections, and
//! selectors by taskId, label, name or glob. A label names a task and its
//! earlier retrigger copies.

use super::plan::{CommandKind, TaskClass, UnmatchedSelector};
use super::suggest::closest;
use crate::policy::task::TaskSnapshot;
use std::collections::BTreeSet;

/// Unmatched selectors that get "did you mean" suggestions.
const MAX_SUGGESTED_SELECTORS: usize = 10;
/// A glob matching more tasks than this is a bulk command: the failure
/// guard applies to it as to a selector-less command.
pub(crate) const BROAD_GLOB_TASKS: usize = 5;

/// What a command selects.
pub(crate) struct Picked {
    /// Indexes into the task list, in task-list order, no duplicates.
    pub picked: Vec<usize>,
    pub unmatched: Vec<UnmatchedSelector>,
    /// Selected without naming each task: no selector, `*`, or a glob that
    /// matches more than [`BROAD_GLOB_TASKS`] tasks.
    pub broad: bool,
}

/// The tasks a command selects (DESIGN.md §5). `*` (or `**`) names every
/// task: it is the bulk command, with the bulk command's default selection.
pub(crate) fn pick(
    kind: CommandKind,
    selectors: &[String],
    tasks: &[TaskSnapshot],
    classes: &[TaskClass],
) -> Picked {
    let selectors: Vec<String> = selectors
        .iter()
        .filter(|s| !s.chars().all(|c| c == '*'))
        .cloned()
        .collect();
    if selectors.is_empty() {
        return Picked {
            picked: default_selection(kind, tasks, classes),
            unmatched: Vec::new(),
            broad: true,
        };
    }
    let selection = by_selectors(kind, &selectors, tasks);
    let unmatched = selection
        .unmatched
        .into_iter()
        .enumerate()
        .map(|(n, selector)| UnmatchedSelector {
            // Suggestions cost a scan of every task: a few selectors get them.
            suggestions: if n < MAX_SUGGESTED_SELECTORS {
                closest(&selector, tasks)
            } else {
                Vec::new()
            },
            selector,
        })
        .collect();
    Picked {
        picked: selection.picked,
        unmatched,
        broad: selection.broad,
    }
}

pub(crate) struct Selection {
    /// Indexes into the task list, in task-list order, no duplicates.
    pub picked: Vec<usize>,
    /// Selectors that matched no task.
    pub unmatched: Vec<String>,
    /// A glob matched more than [`BROAD_GLOB_TASKS`] tasks.
    pub broad: bool,
}

/// The default selection: every failed or exception task for `/rerun`; for
/// `/retrigger` every failed or exception test task, once per label (copies
/// are made from the label's most recent instance).
pub(crate) fn default_selection(
    kind: CommandKind,
    tasks: &[TaskSnapshot],
    classes: &[TaskClass],
) -> Vec<usize> {
    let broken = (0..tasks.len()).filter(|&i| tasks[i].state.is_broken());
    match kind {
        CommandKind::Rerun => broken.collect(),
        CommandKind::Retrigger => {
            let labels: BTreeSet<&str> = broken
                .filter(|&i| classes[i] == TaskClass::Test)
                .map(|i| tasks[i].label.as_str())
                .collect();
            sorted(labels.into_iter().filter_map(|l| most_recent(tasks, l)))
        }
    }
}

/// Resolves explicit selectors. For `/rerun` a label takes each of its
/// failed or exception instances (or, when none is broken, its most recent
/// one, so the reply can say why nothing runs); for `/retrigger` a label
/// takes its most recent instance once. A taskId takes exactly that task.
pub(crate) fn by_selectors(
    kind: CommandKind,
    selectors: &[String],
    tasks: &[TaskSnapshot],
) -> Selection {
    let mut exact: Vec<usize> = Vec::new();
    let mut labels: Vec<&str> = Vec::new();
    let mut unmatched = Vec::new();
    let mut broad = false;
    for selector in selectors {
        if let Some(i) = tasks.iter().position(|t| t.task_id.as_str() == selector) {
            exact.push(i);
            continue;
        }
        let matcher = Matcher::new(selector);
        let hits: Vec<&str> = tasks
            .iter()
            .filter(|t| matcher.is_match(&t.label) || matcher.is_match(&t.name))
            .map(|t| t.label.as_str())
            .collect();
        if hits.is_empty() {
            unmatched.push(selector.clone());
        }
        broad |= matcher.is_glob() && hits.len() > BROAD_GLOB_TASKS;
        labels.extend(hits);
    }
    let mut picked: BTreeSet<usize> = exact.iter().copied().collect();
    let exact_labels: BTreeSet<&str> = exact.iter().map(|&i| tasks[i].label.as_str()).collect();
    let labels: BTreeSet<&str> = labels.into_iter().collect();
    for label in labels {
        match kind {
            CommandKind::Rerun => {
                let broken: Vec<usize> = (0..tasks.len())
                    .filter(|&i| tasks[i].label == label && tasks[i].state.is_broken())
                    .collect();
                if broken.is_empty() {
                    picked.extend(most_recent(tasks, label));
                } else {
                    picked.extend(broken);
                }
            }
            CommandKind::Retrigger => {
                if !exact_labels.contains(label) {
                    picked.extend(most_recent(tasks, label));
                }
            }
        }
    }
    Selection {
        picked: picked.into_iter().collect(),
        unmatched,
        broad,
    }
}

fn sorted(it: impl Iterator<Item = usize>) -> Vec<usize> {
    let set: BTreeSet<usize> = it.collect();
    set.into_iter().collect()
}

/// The newest instance of a label (latest `created`, then taskId).
fn most_recent(tasks: &[TaskSnapshot], label: &str) -> Option<usize> {
    (0..tasks.len())
        .filter(|&i| tasks[i].label == label)
        .max_by(|&a, &b| {
            (tasks[a].created, &tasks[a].task_id).cmp(&(tasks[b].created, &tasks[b].task_id))
        })
}

/// An exact label/name, or a glob when the selector has glob characters.
enum Matcher<'a> {
    Exact(&'a str),
    Glob(globset::GlobMatcher),
}

impl<'a> Matcher<'a> {
    fn new(selector: &'a str) -> Self {
        if selector.contains(['*', '?', '[', '{']) {
            if let Ok(glob) = globset::Glob::new(selector) {
                return Matcher::Glob(glob.compile_matcher());
            }
        }
        Matcher::Exact(selector)
    }

    fn is_glob(&self) -> bool {
        matches!(self, Matcher::Glob(_))
    }

    fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Exact(s) => *s == text,
            Matcher::Glob(g) => g.is_match(text),
        }
    }
}
