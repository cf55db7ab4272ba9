//! "Did you mean": the closest task labels and names to a selector that
//! matched nothing.

use crate::policy::task::TaskSnapshot;
use std::collections::BTreeSet;

/// At most this many suggestions per selector.
const MAX_SUGGESTIONS: usize = 3;
/// Longer selectors are not typos of a task name: no suggestions (and no
/// quadratic work on a pasted blob).
const MAX_SELECTOR_CHARS: usize = 200;

/// Labels or names containing the selector (case-insensitively) first, then
/// the nearest by edit distance, within a distance that still looks like a
/// typo rather than another task.
pub(crate) fn closest(selector: &str, tasks: &[TaskSnapshot]) -> Vec<String> {
    let wanted = selector.trim_matches('*').to_lowercase();
    let wanted_chars = wanted.chars().count();
    if wanted.is_empty() || wanted_chars > MAX_SELECTOR_CHARS {
        return Vec::new();
    }
    let candidates: BTreeSet<&str> = tasks
        .iter()
        .flat_map(|t| [t.label.as_str(), t.name.as_str()])
        .collect();
    let max_distance = (wanted_chars / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let lower = c.to_lowercase();
            if lower.contains(&wanted) {
                return Some((0, c));
            }
            // The distance is at least the difference in length.
            if lower.chars().count().abs_diff(wanted_chars) > max_distance {
                return None;
            }
            let d = levenshtein(&wanted, &lower);
            (d <= max_distance).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| c.to_owned())
        .collect()
}

pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
