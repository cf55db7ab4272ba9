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
    let mut notes = Vec::new();
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

fn to_error(text: &str, err: &serde_yaml_ng::Error) -> ConfigError {
    let full = err.to_string();
    let message = strip_position(&full).to_owned();
    let (line, column) = match err.location() {
        Some(loc) => (Some(loc.line()), Some(loc.column())),
        // Errors raised after parsing have no mark; a bad glob is found by
        // its text so the reply can still point at it.
        None => quoted(&message)
            .and_then(|needle| locate(text, needle))
            .map_or((None, None), |(l, c)| (Some(l), Some(c))),
    };
    ConfigError {
        path: CONFIG_PATH.to_owned(),
        line,
        column,
        message,
    }
}

/// The message without serde_yaml's " at line L column C" suffix (the
/// position is carried separately).
fn strip_position(message: &str) -> &str {
    for marker in [" at line ", " at position "] {
        if let Some(at) = message.rfind(marker) {
            let tail = &message[at + marker.len()..];
            if tail.starts_with(|c: char| c.is_ascii_digit()) {
                return &message[..at];
            }
        }
    }
    message
}

/// The first `backquoted` part of a message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len]).filter(|s| !s.is_empty())
}

/// 1-based line and column (in characters) of the first occurrence.
pub(crate) fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    let at = text.find(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Some((line, before[line_start..].chars().count() + 1))
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
