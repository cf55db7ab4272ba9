//! Edited comments: only the command lines an edit added are answered.

use std::collections::HashMap;

use super::scan::is_space;
use super::{command_lines, limit, CommandLine, ParseLimits, ParsedComment, MAX_COMMANDS};

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
    let added = new_lines
        .into_iter()
        .filter(|line| match seen.get_mut(&key(line)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect();
    limit(added)
}
