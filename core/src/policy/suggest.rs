//! "Did you mean": the closest task labels and names to a selector that
//! matched nothing.

use crate::policy::task::TaskSnapshot;
use std::collections::BTreeSet;

/// At most this many suggestions per selector.
const MAX_SUGGESTIONS: usize = 3;
/// Longer selectors are not typos of a task name: no suggestions (and no
/// quadratic work on a pasted blob).
const MAX_SELECTOR_CHARS: usize = 200;

/// The distinct labels and names of a task list, lowercased once, for
/// every selector of a command that needs suggestions.
pub(crate) struct Candidates<'a> {
    /// (lowercased, as written, length in chars, letter counts)
    items: Vec<(String, &'a str, usize, Histogram)>,
}

/// How often each character occurs, folded into 32 buckets: the sum of
/// the differences, halved, is a lower bound of the edit distance (an edit
/// changes at most two buckets by one), so most candidates are ruled out
/// without computing it.
type Histogram = [u16; 32];

fn histogram(text: &str) -> Histogram {
    let mut h = [0u16; 32];
    for c in text.chars() {
        let slot = &mut h[(c as usize) % 32];
        *slot = slot.saturating_add(1);
    }
    h
}

fn histogram_bound(a: &Histogram, b: &Histogram) -> usize {
    let diff: usize = a
        .iter()
        .zip(b)
        .map(|(x, y)| usize::from(x.abs_diff(*y)))
        .sum();
    diff.div_ceil(2)
}

impl<'a> Candidates<'a> {
    pub(crate) fn new(tasks: &'a [TaskSnapshot]) -> Self {
        let distinct: BTreeSet<&str> = tasks
            .iter()
            .flat_map(|t| [t.label.as_ref(), t.name()])
            .collect();
        let items = distinct
            .into_iter()
            .map(|c| {
                let lower = c.to_lowercase();
                let h = histogram(&lower);
                let chars = lower.chars().count();
                (lower, c, chars, h)
            })
            .collect();
        Candidates { items }
    }

    /// Labels or names containing the selector (case-insensitively) first,
    /// then the nearest by edit distance, within a distance that still
    /// looks like a typo rather than another task.
    pub(crate) fn closest(&self, selector: &str) -> Vec<String> {
        let wanted = selector.trim_matches('*').to_lowercase();
        let wanted_chars = wanted.chars().count();
        if wanted.is_empty() || wanted_chars > MAX_SELECTOR_CHARS {
            return Vec::new();
        }
        let wanted_histogram = histogram(&wanted);
        let max_distance = (wanted_chars / 3).max(2);
        let mut scored: Vec<(usize, &str)> = self
            .items
            .iter()
            .filter_map(|(lower, c, chars, h)| {
                if lower.contains(&wanted) {
                    return Some((0, *c));
                }
                // The distance is at least the difference in length, and
                // at least the histogram bound.
                if chars.abs_diff(wanted_chars) > max_distance
                    || histogram_bound(&wanted_histogram, h) > max_distance
                {
                    return None;
                }
                let d = levenshtein(&wanted, lower);
                (d <= max_distance).then_some((d, *c))
            })
            .collect();
        scored.sort();
        scored
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, c)| c.to_owned())
            .collect()
    }
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
