//! Reading the file: YAML → [`RepoConfig`], every error with its position,
//! then the hard caps; and the `rerunbot check-config` command.

use super::{
    ConfigError, RepoConfig, CONFIG_PATH, HARD_MAX_NEW_TASKS, HARD_MAX_RERUNS_PER_TASK,
    HARD_MAX_RETRIGGER,
};
use std::path::Path;

/// Parses the file's text. Empty (or comment-only) text gives the defaults.
pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
    parse_with_notes(text).map(|(config, _)| config)
}

/// Like [`parse`], also returning a note for every value clamped to a hard
/// cap (for `check-config`; the reply does not need them).
pub fn parse_with_notes(text: &str) -> Result<(RepoConfig, Vec<String>), ConfigError> {
    // A document that is empty or only comments is null: use the defaults.
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| to_error(text, &e))?;
    let mut config = if value.is_null() {
        RepoConfig::default()
    } else {
        serde_yaml_ng::from_str::<RepoConfig>(text).map_err(|e| to_error(text, &e))?
    };
    validate(text, &config)?;
    let mut notes = Vec::new();
    if config.auto_rerun.max_attempts > super::HARD_MAX_AUTO_ATTEMPTS {
        notes.push(format!(
            "auto_rerun.max_attempts: {} is above the hard cap; {} applies",
            config.auto_rerun.max_attempts,
            super::HARD_MAX_AUTO_ATTEMPTS
        ));
        config.auto_rerun.max_attempts = super::HARD_MAX_AUTO_ATTEMPTS;
    }
    let limits = &mut config.limits;
    for (name, value, cap) in [
        (
            "max_retrigger",
            &mut limits.max_retrigger,
            HARD_MAX_RETRIGGER,
        ),
        (
            "max_new_tasks",
            &mut limits.max_new_tasks,
            HARD_MAX_NEW_TASKS,
        ),
        (
            "max_reruns_per_task",
            &mut limits.max_reruns_per_task,
            HARD_MAX_RERUNS_PER_TASK,
        ),
    ] {
        if *value > cap {
            notes.push(format!(
                "limits.{name}: {} is above the hard cap; {cap} applies",
                *value
            ));
            *value = cap;
        }
    }
    Ok((config, notes))
}

/// Range checks serde cannot express, positioned at the offending value.
fn validate(text: &str, config: &RepoConfig) -> Result<(), ConfigError> {
    let l = &config.limits;
    let checks = [
        (
            "max_retrigger",
            l.max_retrigger == 0,
            "must be at least 1".to_owned(),
        ),
        (
            "max_new_tasks",
            l.max_new_tasks == 0,
            "must be at least 1".to_owned(),
        ),
        (
            "max_reruns_per_task",
            l.max_reruns_per_task == 0,
            "must be at least 1".to_owned(),
        ),
        (
            "max_reruns_per_command",
            l.max_reruns_per_command == 0,
            "must be at least 1".to_owned(),
        ),
        (
            "max_retriggers_per_sha",
            l.max_retriggers_per_sha == 0,
            "must be at least 1".to_owned(),
        ),
        (
            "max_failure_percent",
            !(1..=100).contains(&l.max_failure_percent),
            format!(
                "{} is out of range: a percentage is 1 to 100",
                l.max_failure_percent
            ),
        ),
    ];
    for (key, bad, message) in checks {
        if bad {
            let position = locate_key(text, &["limits", key]);
            return Err(ConfigError {
                path: CONFIG_PATH.to_owned(),
                line: position.map(|p| p.0),
                column: position.map(|p| p.1),
                message: format!("limits.{key}: {message}"),
            });
        }
    }
    if let Some((key, message)) = super::auto_rerun::problem(&config.auto_rerun) {
        let position = locate_key(text, &["auto_rerun", key]);
        return Err(ConfigError {
            path: CONFIG_PATH.to_owned(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            message: format!("auto_rerun.{key}: {message}"),
        });
    }
    // Each glob was checked when read; the set as a whole can still fail
    // (too large a pattern set), which must not mean "nothing is release".
    let release = &config.classify.release;
    for (key, globs) in [
        ("task_queues", &release.task_queues),
        ("kinds", &release.kinds),
    ] {
        if let Err(message) = super::classify::glob_set(globs) {
            let position = locate_key(text, &["classify", "release", key]);
            return Err(ConfigError {
                path: CONFIG_PATH.to_owned(),
                line: position.map(|p| p.0),
                column: position.map(|p| p.1),
                message: format!("classify.release.{key}: {message}"),
            });
        }
    }
    Ok(())
}

fn to_error(text: &str, err: &serde_yaml_ng::Error) -> ConfigError {
    let full = err.to_string();
    let message = strip_position(&full);
    let mark = err.location();
    // Errors raised by our own checks (a bad glob) carry the mark of the
    // enclosing node at best: find the offending text itself, from there.
    let from = mark.as_ref().map_or(0, |m| m.index());
    let found = message
        .contains("invalid glob")
        .then(|| quoted(&message))
        .flatten()
        .and_then(|needle| {
            text.get(from..)
                .and_then(|rest| rest.find(needle))
                .map(|at| position_of(text, from + at))
                .or_else(|| locate(text, needle))
        });
    let (line, column) = match (found, mark) {
        (Some((l, c)), _) => (Some(l), Some(c)),
        (None, Some(loc)) => {
            let (l, c) = from_yaml_position(text, loc.line(), loc.column());
            (Some(l), Some(c))
        }
        (None, None) => (None, None),
    };
    ConfigError {
        path: CONFIG_PATH.to_owned(),
        line,
        column,
        message,
    }
}

/// The message without serde_yaml's " at line L column C" (or " at
/// position N") parts: the position is carried separately.
fn strip_position(message: &str) -> String {
    let mut out = message.to_owned();
    for marker in [" at line ", " at position "] {
        while let Some(at) = out.find(marker) {
            let tail = &out[at + marker.len()..];
            let digits = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let mut end = digits(tail);
            if end == 0 {
                break;
            }
            if let Some(rest) = tail[end..].strip_prefix(" column ") {
                let more = digits(rest);
                if more > 0 {
                    end += " column ".len() + more;
                }
            }
            out.replace_range(at..at + marker.len() + end, "");
        }
    }
    out
}

/// The first `backquoted` part of a message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len]).filter(|s| !s.is_empty())
}

/// 1-based line and column (in characters) of the first occurrence.
pub(crate) fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    text.find(needle).map(|at| position_of(text, at))
}

/// Position of the value of a key path in block-style YAML (`limits:` then
/// an indented `max_retrigger: 0`); `None` for other styles.
pub(crate) fn locate_key(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if parent_indent.is_some_and(|p| indent <= p) {
            return None; // left the parent's block without finding the key
        }
        let key = path.get(depth)?;
        if let Some(rest) = body.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            if depth + 1 == path.len() {
                let value = rest.trim_start();
                let column = line.len() - value.len();
                return Some((n + 1, line[..column].chars().count() + 1));
            }
            depth += 1;
            parent_indent = Some(indent);
        }
    }
    None
}

/// Our 1-based line and column of the parser's 1-based (`line`, `column`).
/// YAML also breaks lines at `\r`, NEL, U+2028 and U+2029, which GitHub's
/// file view and an editor's line numbers do not count: lines here are
/// counted at `\n` only, as [`position_of`] and `str::lines` do. A position
/// past the end is the end.
pub(super) fn from_yaml_position(text: &str, line: usize, column: usize) -> (usize, usize) {
    let (mut at_line, mut at_column) = (1, 1);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if (at_line, at_column) >= (line, column) {
            return position_of(text, at);
        }
        match c {
            '\r' if chars.peek().is_some_and(|(_, next)| *next == '\n') => {}
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                at_line += 1;
                at_column = 1;
            }
            _ => at_column += 1,
        }
    }
    position_of(text, text.len())
}

fn position_of(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `rerunbot check-config PATH`: exit code 0 and a summary, or 1 and the
/// error as `path:line:column: message`.
pub fn check_config_cli(path: &Path) -> (i32, String) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return (1, format!("{}: cannot read: {e}", path.display())),
    };
    match parse_with_notes(&text) {
        Ok((config, notes)) => {
            let mut out = format!("{}: valid\n", path.display());
            for note in notes {
                out.push_str(&format!("note: {note}\n"));
            }
            let effective = serde_yaml_ng::to_string(&config).unwrap_or_default();
            out.push_str("effective configuration:\n");
            out.push_str(&effective);
            (0, out)
        }
        Err(mut e) => {
            e.path = path.display().to_string();
            (1, e.to_string())
        }
    }
}
