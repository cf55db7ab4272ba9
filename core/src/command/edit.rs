//! Edited comments: only the command lines an edit added are answered.

use std::collections::HashMap;

use super::scan::is_space;
use super::{command_lines, limit, Command, CommandLine, ParseLimits, ParsedComment, MAX_COMMANDS};

/// What makes two command lines "the same command": the parsed command when
/// it parsed (so `--force foo` and `foo -f` match), else the words of the
/// line (so re-spacing a malformed line does not report it again).
fn key(line: &CommandLine) -> String {
    match &line.result {
        Ok(command) => format!("ok {command:?}"),
        Err(_) => {
            let words: Vec<&str> = line
                .text
                .split(is_space)
                .filter(|w| !w.is_empty())
                .collect();
            format!("err {}", words.join(" "))
        }
    }
}

/// The command lines of `new` that `old` did not already hold, compared as
/// multisets: a command that was there before is not returned again, a
/// second copy of it is. The new comment as a whole is still held to
/// [`MAX_COMMANDS`]. When `old` was over the limit nothing of it ran, so
/// every command line of `new` counts as added.
pub fn added_commands(old: &str, new: &str, limits: &ParseLimits) -> ParsedComment {
    let new_lines = command_lines(new, limits);
    if new_lines.len() > MAX_COMMANDS {
        return limit(new_lines);
    }
    let old_lines = command_lines(old, limits);
    let mut seen: HashMap<String, usize> = HashMap::new();
    if old_lines.len() <= MAX_COMMANDS {
        for line in &old_lines {
            *seen.entry(key(line)).or_default() += 1;
        }
    }
    let added: Vec<CommandLine> = new_lines
        .into_iter()
        .filter(|line| match seen.get_mut(&key(line)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect();
    // Old commands the edit changed: what is left of them, by key.
    let mut changed: Vec<&CommandLine> = old_lines
        .iter()
        .filter(|line| match seen.get_mut(&key(line)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .collect();
    let added = added
        .into_iter()
        .filter_map(|line| narrowed(line, &mut changed))
        .collect();
    limit(added)
}

/// A changed command runs only what the change added: paired with an old
/// command of the same verb, count and force that had selectors, it keeps
/// only the selectors the old one did not have (as a multiset). Nothing
/// left (a selector removed): nothing to run.
fn narrowed(mut line: CommandLine, changed: &mut Vec<&CommandLine>) -> Option<CommandLine> {
    let same_shape = |a: &Command, b: &Command| match (a, b) {
        (
            Command::Rerun {
                force: f1,
                selectors: s1,
            },
            Command::Rerun {
                force: f2,
                selectors: s2,
            },
        ) => f1 == f2 && !s1.is_empty() && !s2.is_empty(),
        (
            Command::Retrigger {
                times: t1,
                force: f1,
                selectors: s1,
            },
            Command::Retrigger {
                times: t2,
                force: f2,
                selectors: s2,
            },
        ) => t1 == t2 && f1 == f2 && !s1.is_empty() && !s2.is_empty(),
        _ => false,
    };
    let Ok(command) = &mut line.result else {
        return Some(line);
    };
    let Some(at) = changed
        .iter()
        .position(|old| old.result.as_ref().is_ok_and(|o| same_shape(o, command)))
    else {
        return Some(line);
    };
    let old = changed.remove(at);
    let mut before: Vec<&String> = match &old.result {
        Ok(Command::Rerun { selectors, .. } | Command::Retrigger { selectors, .. }) => {
            selectors.iter().collect()
        }
        _ => Vec::new(),
    };
    if let Command::Rerun { selectors, .. } | Command::Retrigger { selectors, .. } = command {
        selectors.retain(|s| match before.iter().position(|b| *b == s) {
            Some(i) => {
                before.remove(i);
                false
            }
            None => true,
        });
        if selectors.is_empty() {
            return None;
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11.9: edits compare commands as a multiset.
    #[test]
    fn an_edit_runs_only_what_it_changed() {
        let limits = ParseLimits::default();
        let run = |old: &str, new: &str| -> Vec<Command> {
            added_commands(old, new, &limits)
                .commands
                .into_iter()
                .filter_map(|l| l.result.ok())
                .collect()
        };
        let sel = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            run("/retrigger 3 a bb", "/retrigger 3 a b"),
            vec![Command::Retrigger {
                times: 3,
                selectors: sel(&["b"]),
                force: false
            }],
            "a changed argument runs only the changed part"
        );
        assert_eq!(
            run("/rerun a b", "/rerun a"),
            vec![],
            "a removed selector runs nothing"
        );
        assert_eq!(
            run("/rerun a", "/rerun a\n/rerun a"),
            vec![Command::Rerun {
                selectors: sel(&["a"]),
                force: false
            }],
            "a second identical line is a new command"
        );
        assert_eq!(
            run("/retrigger 2 a", "/retrigger 3 a"),
            vec![Command::Retrigger {
                times: 3,
                selectors: sel(&["a"]),
                force: false
            }],
            "a changed count is a new command"
        );
    }
}
