//! Which tasks a command names (DESIGN.md §5): default selections, and
//! selectors by taskId, label, name or glob. A label names a task and its
//! earlier retrigger copies.

use super::plan::{CommandKind, TaskClass, UnmatchedSelector};
use super::suggest::Candidates;
use crate::policy::task::TaskSnapshot;
use std::collections::{BTreeSet, HashMap, HashSet};

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
    let index = TaskIndex::new(tasks);
    let selectors: Vec<String> = selectors
        .iter()
        .filter(|s| !s.chars().all(|c| c == '*'))
        .cloned()
        .collect();
    if selectors.is_empty() {
        return Picked {
            picked: default_selection(kind, &index, classes),
            unmatched: Vec::new(),
            broad: true,
        };
    }
    let selection = by_selectors(kind, &selectors, &index);
    // Suggestions cost a pass over every label and name: a few selectors
    // get them, and the candidates are prepared once for all of them.
    let candidates = (!selection.unmatched.is_empty()).then(|| Candidates::new(tasks));
    let unmatched = selection
        .unmatched
        .into_iter()
        .enumerate()
        .map(|(n, selector)| UnmatchedSelector {
            suggestions: match &candidates {
                Some(c) if n < MAX_SUGGESTED_SELECTORS => c.closest(&selector),
                _ => Vec::new(),
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
    /// Selectors that matched no task (each once, in the order written).
    pub unmatched: Vec<String>,
    /// A glob matched more than [`BROAD_GLOB_TASKS`] tasks.
    pub broad: bool,
}

/// The tasks by taskId, label and name, built once per selection, so a
/// selector costs a hash lookup (exact) or one pass of a single glob set
/// over the distinct labels and names (globs), never a scan per selector.
pub(crate) struct TaskIndex<'a> {
    tasks: &'a [TaskSnapshot],
    by_id: HashMap<&'a str, usize>,
    /// Every instance of a label (a task and its retrigger copies), in
    /// task-list order.
    by_label: HashMap<&'a str, Vec<usize>>,
    /// Tasks whose name differs from their label, by name (taskgraph's
    /// names usually are their labels).
    by_other_name: HashMap<&'a str, Vec<usize>>,
}

impl<'a> TaskIndex<'a> {
    pub(crate) fn new(tasks: &'a [TaskSnapshot]) -> Self {
        let mut index = TaskIndex {
            tasks,
            by_id: HashMap::with_capacity(tasks.len()),
            by_label: HashMap::new(),
            by_other_name: HashMap::new(),
        };
        for (i, task) in tasks.iter().enumerate() {
            index.by_id.entry(task.task_id.as_str()).or_insert(i);
            index.by_label.entry(&*task.label).or_default().push(i);
            if let Some(name) = task.name.as_deref() {
                index.by_other_name.entry(name).or_default().push(i);
            }
        }
        index
    }

    /// The newest instance of a label (latest `created`, then taskId).
    fn most_recent(&self, label: &str) -> Option<usize> {
        let tasks = self.tasks;
        self.by_label.get(label)?.iter().copied().max_by(|&a, &b| {
            (tasks[a].created, &tasks[a].task_id).cmp(&(tasks[b].created, &tasks[b].task_id))
        })
    }

    fn instances(&self, label: &str) -> &[usize] {
        self.by_label.get(label).map_or(&[], Vec::as_slice)
    }
}

/// The default selection: every failed or exception task for `/rerun`; for
/// `/retrigger` every failed or exception test task, once per label (copies
/// are made from the label's most recent instance).
pub(crate) fn default_selection(
    kind: CommandKind,
    index: &TaskIndex,
    classes: &[TaskClass],
) -> Vec<usize> {
    let tasks = index.tasks;
    let broken = (0..tasks.len()).filter(|&i| tasks[i].state.is_broken());
    match kind {
        CommandKind::Rerun => broken.collect(),
        CommandKind::Retrigger => {
            let labels: BTreeSet<&str> = broken
                .filter(|&i| classes[i] == TaskClass::Test)
                .map(|i| tasks[i].label.as_ref())
                .collect();
            sorted(labels.into_iter().filter_map(|l| index.most_recent(l)))
        }
    }
}

/// Whether a selector is written as a glob.
fn looks_like_glob(selector: &str) -> bool {
    selector.contains(['*', '?', '[', '{'])
}

/// Resolves explicit selectors, each once. For `/rerun` a label takes each
/// of its failed or exception instances (or, when none is broken, its most
/// recent one, so the reply can say why nothing runs); for `/retrigger` a
/// label takes its most recent instance once. A taskId takes exactly that
/// task. A selector with glob characters that compiles is a glob over
/// labels and names; every glob of the command is compiled once, into one
/// set, and matched once against each distinct label and name.
pub(crate) fn by_selectors(
    kind: CommandKind,
    selectors: &[String],
    index: &TaskIndex,
) -> Selection {
    let tasks = index.tasks;
    let mut seen = HashSet::new();
    let selectors: Vec<&str> = selectors
        .iter()
        .map(String::as_str)
        .filter(|s| seen.insert(*s))
        .collect();
    // Tasks each selector matched (a glob's count stops mattering past
    // [`BROAD_GLOB_TASKS`], but is exact).
    let mut hits = vec![0usize; selectors.len()];
    let mut exact: BTreeSet<usize> = BTreeSet::new();
    let mut labels: HashSet<&str> = HashSet::new();
    let mut globs = globset::GlobSetBuilder::new();
    // Selector position of each glob in the set.
    let mut glob_selector: Vec<usize> = Vec::new();
    for (k, selector) in selectors.iter().enumerate() {
        if let Some(&i) = index.by_id.get(selector) {
            exact.insert(i);
            hits[k] = 1;
            continue;
        }
        if looks_like_glob(selector) {
            if let Ok(glob) = globset::Glob::new(selector) {
                globs.add(glob);
                glob_selector.push(k);
                continue;
            }
        }
        if let Some((label, instances)) = index.by_label.get_key_value(selector) {
            labels.insert(label);
            hits[k] += instances.len();
        }
        for &i in index.by_other_name.get(selector).into_iter().flatten() {
            labels.insert(tasks[i].label.as_ref());
            hits[k] += 1;
        }
    }
    let mut broad = false;
    if !glob_selector.is_empty() {
        match globs.build() {
            Ok(set) => {
                let mut glob_hits = vec![0usize; glob_selector.len()];
                match_globs(&set, index, &mut labels, &mut glob_hits);
                for (g, &k) in glob_selector.iter().enumerate() {
                    hits[k] = glob_hits[g];
                    broad |= glob_hits[g] > BROAD_GLOB_TASKS;
                }
            }
            Err(e) => tracing::warn!(error = %e, "the selectors' globs do not build into a set"),
        }
    }
    let unmatched = selectors
        .iter()
        .zip(&hits)
        .filter(|(_, &n)| n == 0)
        .map(|(s, _)| (*s).to_owned())
        .collect();
    let mut picked = exact.clone();
    let exact_labels: HashSet<&str> = exact.iter().map(|&i| tasks[i].label.as_ref()).collect();
    for label in labels {
        match kind {
            CommandKind::Rerun => {
                let instances = index.instances(label);
                let broken = instances.iter().filter(|&&i| tasks[i].state.is_broken());
                if broken.clone().next().is_none() {
                    picked.extend(index.most_recent(label));
                } else {
                    picked.extend(broken);
                }
            }
            CommandKind::Retrigger => {
                if !exact_labels.contains(label) {
                    picked.extend(index.most_recent(label));
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

/// One pass of the glob set over the distinct labels, then over the names
/// that differ from their labels: the labels matched go into `labels`, and
/// `glob_hits[g]` counts the tasks glob `g` matched (by label or name, a
/// task once).
fn match_globs<'a>(
    set: &globset::GlobSet,
    index: &TaskIndex<'a>,
    labels: &mut HashSet<&'a str>,
    glob_hits: &mut [usize],
) {
    let mut matched = Vec::new();
    for (label, instances) in &index.by_label {
        set.matches_into(*label, &mut matched);
        if matched.is_empty() {
            continue;
        }
        labels.insert(label);
        for &g in &matched {
            glob_hits[g] += instances.len();
        }
    }
    let mut by_label = Vec::new();
    for (name, with_name) in &index.by_other_name {
        set.matches_into(*name, &mut matched);
        if matched.is_empty() {
            continue;
        }
        for &i in with_name {
            let label = index.tasks[i].label.as_ref();
            labels.insert(label);
            // Counted already through its label for those globs.
            set.matches_into(label, &mut by_label);
            for &g in matched.iter().filter(|g| !by_label.contains(g)) {
                glob_hits[g] += 1;
            }
        }
    }
}

fn sorted(it: impl Iterator<Item = usize>) -> Vec<usize> {
    let set: BTreeSet<usize> = it.collect();
    set.into_iter().collect()
}
