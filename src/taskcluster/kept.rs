//! Task definitions kept from a listing, so that copying a task of a small
//! group costs no `GET /task/<id>` round trip.
//!
//! A listing folds each `listTaskGroup` page into compact snapshots and
//! drops the definitions (a Firefox group's pages hold hundreds of MB of
//! them). For a small group the page bytes themselves are cheap to keep:
//! the pages of a group are kept whole while every kept page of the listing
//! stays within [`KEPT_PAGES_BUDGET`] bytes, and a copy's definition is then
//! read back from them. A group whose pages do not fit keeps none, and its
//! copies read their definitions from the queue as before.
//!
//! Task definitions are immutable in Taskcluster, so a kept definition is
//! the one `GET /task/<id>` would answer, however old the listing.

use crate::types::TaskId;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Bytes of listing pages kept per listing (one commit's groups).
pub const KEPT_PAGES_BUDGET: usize = 1 << 20;

/// The kept pages of a listing (see the module doc).
#[derive(Debug, Default)]
pub struct KeptDefinitions {
    pages: Vec<Vec<u8>>,
    bytes: usize,
    budget: usize,
}

/// One group's pages while it is listed; kept only if they all fit.
#[derive(Debug)]
pub(crate) struct GroupPages {
    pages: Vec<Vec<u8>>,
    bytes: usize,
    room: usize,
    fits: bool,
}

impl GroupPages {
    /// Takes one page's bytes (already read); drops every page of the
    /// group once they no longer fit in the room left.
    pub(crate) fn offer(&mut self, page: Vec<u8>) {
        if !self.fits {
            return;
        }
        self.bytes = self.bytes.saturating_add(page.len());
        if self.bytes > self.room {
            self.fits = false;
            self.pages = Vec::new();
        } else {
            self.pages.push(page);
        }
    }
}

impl KeptDefinitions {
    /// Keeps up to `budget` bytes of pages (0: keeps nothing).
    pub fn with_budget(budget: usize) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// Starts keeping one group's pages, in the room left.
    pub(crate) fn group(&self) -> GroupPages {
        GroupPages {
            pages: Vec::new(),
            bytes: 0,
            room: self.budget.saturating_sub(self.bytes),
            fits: true,
        }
    }

    /// Adds a listed group's pages, if they all fitted.
    pub(crate) fn add(&mut self, group: GroupPages) {
        if group.fits {
            self.bytes += group.bytes;
            self.pages.extend(group.pages);
        }
    }

    /// Bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The definitions of the `wanted` tasks found in the kept pages, by
    /// id; a task not found there is left for the queue.
    pub fn definitions(&self, wanted: &BTreeSet<TaskId>) -> BTreeMap<TaskId, Value> {
        let mut found = BTreeMap::new();
        if wanted.is_empty() {
            return found;
        }
        for page in &self.pages {
            // The pages were read once already: an error here cannot happen
            // short of memory corruption, and costs only the shortcut.
            let _ = super::pages::read_page(page, &mut |mut entry| {
                let Some(id) = entry.pointer("/status/taskId").and_then(Value::as_str) else {
                    return;
                };
                let id = TaskId::new(id);
                if !wanted.contains(&id) {
                    return;
                }
                if let Some(task) = entry.get_mut("task").map(Value::take) {
                    if task.is_object() {
                        found.insert(id, task);
                    }
                }
            });
            if found.len() == wanted.len() {
                break;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str]) -> Vec<u8> {
        let tasks: Vec<Value> = ids
            .iter()
            .map(|id| {
                serde_json::json!({
                    "status": {"taskId": id},
                    "task": {"metadata": {"name": format!("task {id}")}},
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "tasks": tasks })).expect("encodes")
    }

    fn ids(list: &[&str]) -> BTreeSet<TaskId> {
        list.iter().map(|id| TaskId::new(*id)).collect()
    }

    /// A group's pages.
    type Pages = Vec<Vec<u8>>;

    /// Lists groups of pages into kept definitions of `budget` bytes.
    fn listed(budget: usize, groups: &[Pages]) -> KeptDefinitions {
        let mut kept = KeptDefinitions::with_budget(budget);
        for pages in groups {
            let mut group = kept.group();
            for p in pages {
                group.offer(p.clone());
            }
            kept.add(group);
        }
        kept
    }

    /// One row: groups listed into `budget` bytes, then `wanted` read back.
    struct Case {
        case: &'static str,
        budget: usize,
        groups: Vec<Pages>,
        wanted: &'static [&'static str],
        found: &'static [&'static str],
    }

    #[test]
    fn groups_are_kept_whole_or_not_at_all() {
        let a = page(&["A"]);
        let b = page(&["B"]);
        let big = page(&["C", "D", "E", "F", "G", "H"]);
        let one = a.len();
        let cases = vec![
            Case {
                case: "nothing kept",
                budget: 0,
                groups: vec![vec![a.clone()]],
                wanted: &["A"],
                found: &[],
            },
            Case {
                case: "one page fits",
                budget: one,
                groups: vec![vec![a.clone()]],
                wanted: &["A"],
                found: &["A"],
            },
            Case {
                case: "a group of two pages fits",
                budget: 2 * one,
                groups: vec![vec![a.clone(), b.clone()]],
                wanted: &["A", "B"],
                found: &["A", "B"],
            },
            Case {
                case: "a group whose second page does not fit keeps neither",
                budget: 2 * one - 1,
                groups: vec![vec![a.clone(), b.clone()]],
                wanted: &["A", "B"],
                found: &[],
            },
            Case {
                case: "a group too big for the room left keeps none; the first stays",
                budget: one + 1,
                groups: vec![vec![a.clone()], vec![big.clone()]],
                wanted: &["A", "C"],
                found: &["A"],
            },
            Case {
                case: "a later small group still fits after a big one was dropped",
                budget: 2 * one,
                groups: vec![vec![big.clone()], vec![a.clone()], vec![b.clone()]],
                wanted: &["A", "B", "C"],
                found: &["A", "B"],
            },
            Case {
                case: "only the wanted tasks are read back",
                budget: big.len(),
                groups: vec![vec![big.clone()]],
                wanted: &["D", "Z"],
                found: &["D"],
            },
        ];
        for Case {
            case,
            budget,
            groups,
            wanted,
            found: expected,
        } in cases
        {
            let kept = listed(budget, &groups);
            let found = kept.definitions(&ids(wanted));
            let got: Vec<&str> = found.keys().map(TaskId::as_str).collect();
            assert_eq!(got, expected.to_vec(), "{case}");
            assert!(kept.bytes() <= budget, "{case}: within the budget");
            for (id, task) in &found {
                assert_eq!(
                    task["metadata"]["name"],
                    format!("task {}", id.as_str()),
                    "{case}"
                );
            }
        }
    }
}
