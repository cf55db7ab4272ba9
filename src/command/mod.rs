//! The comment grammar (DESIGN.md §5). Pure: no I/O.
//!
//! (The command-language issue replaces this placeholder with the parser and
//! writes the grammar here.)

use serde::{Deserialize, Serialize};

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    Rerun {
        selectors: Vec<String>,
        force: bool,
    },
    Retrigger {
        times: u32,
        selectors: Vec<String>,
        force: bool,
    },
    Help,
}

/// A line that is a command (it starts with `/rerun`, `/retrigger`, or looks
/// like an attempt at one) but cannot be run as written. Fields carry the
/// offending text so the reply can quote it; wording lives in `reply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandError {
    /// `/retriger`, `/Rerun`, `/re-run`: `suggestion` is the command meant.
    UnknownCommand {
        written: String,
        suggestion: Option<String>,
    },
    /// `/retrigger 0`, `/retrigger -3`, `/retrigger abc` (when abc cannot be a selector).
    BadCount { written: String },
    /// N above the repository's `max_retrigger`.
    CountTooLarge { count: u64, max: u32 },
    /// `--forse`: `suggestion` is the flag meant, if any.
    UnknownFlag {
        flag: String,
        suggestion: Option<String>,
    },
    /// `--force -f`.
    DuplicateFlag { flag: String },
    /// `/rerunbot frobnicate`.
    UnknownSubcommand { written: String },
}

/// A problem with the comment as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommentError {
    /// More than `max` command lines; none is run.
    TooManyCommands { found: usize, max: usize },
}

/// One command line of a comment and what it parsed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLine {
    /// 1-based line number in the comment body.
    pub line: usize,
    /// The command line as written, trimmed.
    pub text: String,
    pub result: Result<Command, CommandError>,
}

/// Everything a comment asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedComment {
    pub commands: Vec<CommandLine>,
    pub error: Option<CommentError>,
}

/// Limits the parser needs from the repository configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    pub max_retrigger: u32,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self { max_retrigger: 10 }
    }
}

/// Cheap pre-filter used by the webhook: false only when no line of `body`
/// can be a command. (Placeholder until the parser lands: any `/r`.)
pub fn might_contain_command(body: &[u8]) -> bool {
    body.windows(2)
        .any(|w| w[0] == b'/' && w[1].eq_ignore_ascii_case(&b'r'))
}
