//! "Did you mean": which command or flag a near miss was meant to be.
//! Edit distance is optimal-string-alignment (a swap counts as one edit).

use super::COMMANDS;

/// Words longer than this are never near misses; bounds the work per line.
const MAX_WORD_CHARS: usize = 24;

/// Optimal string alignment distance between two short char sequences.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Edits tolerated for a target of this length.
fn tolerance(target_len: usize) -> usize {
    if target_len <= 5 {
        1
    } else {
        2
    }
}

/// Lowercase, without the separators people put inside words (`re-run`).
fn normalize(word: &str) -> Vec<char> {
    word.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The command (`/name`) that `name` (the word after `/`, not an exact
/// command name) was most likely meant to be. Only words starting with `r` or
/// `R` qualify, so the webhook pre-filter can look for `/r` alone.
pub(crate) fn near_command(name: &str) -> Option<String> {
    if !name.starts_with(['r', 'R']) || name.chars().count() > MAX_WORD_CHARS {
        return None;
    }
    let word = normalize(name);
    COMMANDS
        .iter()
        .map(|spec| {
            let target: Vec<char> = spec.name().chars().collect();
            (distance(&word, &target), target.len(), spec.name())
        })
        .filter(|&(d, len, _)| d <= tolerance(len))
        .min_by_key(|&(d, _, _)| d)
        .map(|(_, _, name)| format!("/{name}"))
}

/// The flag an unknown flag was meant to be, if it is close to `--force`.
pub(crate) fn near_flag(flag: &str) -> Option<String> {
    if flag.chars().count() > MAX_WORD_CHARS {
        return None;
    }
    let bare: Vec<char> = flag
        .trim_start_matches(['-', '\u{2013}', '\u{2014}'])
        .chars()
        .flat_map(char::to_lowercase)
        .collect();
    let force: Vec<char> = "force".chars().collect();
    let close = bare == ['f'] || distance(&bare, &force) <= tolerance(force.len()) + 1;
    close.then(|| "--force".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_swaps() {
        let d = |a: &str, b: &str| {
            distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("rerun", "rerun"), 0);
        assert_eq!(d("retriger", "retrigger"), 1);
        assert_eq!(d("rreun", "rerun"), 1);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("return", "rerun"), 2);
    }

    #[test]
    fn near_command_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("retriger", Some("/retrigger")),
            ("Rerun", Some("/rerun")),
            ("re-run", Some("/rerun")),
            ("RETRIGGER", Some("/retrigger")),
            ("rerunn", Some("/rerun")),
            ("reran", Some("/rerun")),
            ("rerunbt", Some("/rerunbot")),
            ("re_trigger", Some("/retrigger")),
            ("return", None),
            ("rerunning", None),
            ("review", None),
            ("label", None),
            ("erun", None),
            ("rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr", None),
        ];
        for (word, want) in cases {
            assert_eq!(near_command(word).as_deref(), *want, "{word}");
        }
    }

    #[test]
    fn near_flag_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("--forse", Some("--force")),
            ("--Force", Some("--force")),
            ("-force", Some("--force")),
            ("\u{2014}force", Some("--force")),
            ("-F", Some("--force")),
            ("--verbose", None),
            ("--all", None),
        ];
        for (flag, want) in cases {
            assert_eq!(near_flag(flag).as_deref(), *want, "{flag}");
        }
    }
}
