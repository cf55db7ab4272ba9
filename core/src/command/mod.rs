//! The comment grammar (DESIGN.md §5) and its parser. Pure: no I/O.
//!
//! # Grammar
//!
//! A **command line** is a line of a comment whose first character, after
//! optional whitespace (spaces, tabs, Unicode spaces, zero-width characters),
//! is `/` followed by `r` or `R`, and that GitHub renders as plain text:
//! paragraph or heading text, including paragraphs inside list items.
//! Lines in fenced or indented code, inline code, block quotes, HTML blocks
//! (`<!-- ... -->`), tables and link texts are never commands; neither is a
//! `/rerun` in the middle of a sentence, after a list marker (`- /rerun`) or
//! behind a backslash (`\/rerun`, the way to write one without running
//! it). Lines end at `\n`, `\r\n` or `\r`;
//! words are separated by any run of whitespace. Other lines are ignored.
//!
//! ```text
//! /rerun      [SELECTOR ...] [--force | -f]
//! /retrigger  [N] [SELECTOR ...] [--force | -f]
//! /rerunbot   [help]
//! ```
//!
//! - The command names are exactly the names in [`COMMANDS`] (the help
//!   table the reply renders), written in lowercase. Trailing ASCII
//!   punctuation after the name is ignored (`/rerun.` is `/rerun`).
//! - Flags may appear anywhere after the name: `--force` and `-f` are the
//!   same flag; given twice → [`CommandError::DuplicateFlag`]. Any other word
//!   starting with `-`, `–` or `—` → [`CommandError::UnknownFlag`] (with
//!   `--force` suggested when close, e.g. `--forse`, `—force`).
//! - `N` is the first non-flag word of `/retrigger` when it is all ASCII
//!   digits; default 1. `0` → [`CommandError::BadCount`]; above
//!   `limits.max_retrigger` → [`CommandError::CountTooLarge`]. A first word
//!   that only *looks* numeric (`-3`, `+3`, `2.5`, `1,000`, `3x`, or too many
//!   digits) → `BadCount`. Any other first word (`abc`, a taskId such as
//!   `0tT4rmUbTUOBxPK4Cd-R6A`) is a selector: labels are free text, and a
//!   selector that matches nothing is reported with the closest task names.
//!   `/rerun` takes no count.
//! - A SELECTOR is any other word, kept as written (globs such as
//!   `test-linux*` included); one pair of surrounding backticks is removed.
//! - `/rerunbot`, `/rerunbot help` (also `Help`, `--help`, `-h`, `?`) →
//!   [`Command::Help`]; words after `help` are ignored. Anything else →
//!   [`CommandError::UnknownSubcommand`].
//! - A line whose first word is not a command name but close to one
//!   (`/Rerun`, `/RETRIGGER`, `/re-run`, `/retriger`, `/rerunn`: same name
//!   ignoring case and `-_.`, or within 1 edit of `rerun`, 2 of the longer
//!   names) is a malformed command, [`CommandError::UnknownCommand`] with the
//!   suggestion. Near misses must start with `r`/`R`. Any other `/word`
//!   (`/cc @x`, `/label`, `/return`) is not a command line at all.
//! - At most [`MAX_COMMANDS`] command lines (valid or malformed) per comment;
//!   more → [`CommentError::TooManyCommands`] and `commands` is empty, so
//!   nothing runs.
//!
//! Entry points: [`parse_comment`], [`added_commands`] (edited comments) and
//! [`might_contain_command`] (the webhook pre-filter on raw JSON bytes).

mod edit;
mod line;
mod markdown;
mod prefilter;
mod scan;
mod suggest;

pub use edit::added_commands;
pub use prefilter::might_contain_command;

/// Most command lines one comment may hold.
pub const MAX_COMMANDS: usize = 10;

/// One row of the help table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Synopsis, starting with `/name`.
    pub usage: &'static str,
    /// One sentence for the help reply.
    pub summary: &'static str,
}

impl CommandSpec {
    /// The command name, without `/`: the first word of `usage`.
    pub fn name(&self) -> &'static str {
        let usage = self.usage.strip_prefix('/').unwrap_or(self.usage);
        usage.split(' ').next().unwrap_or(usage)
    }
}

/// The commands, in help order. The parser recognises exactly these names.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        usage: "/rerun [SELECTOR ...] [--force]",
        summary: "Rerun the same task (a new run of the same taskId). Without a selector: every failed or exception task of the pull request. `--force` (maintainers) also reruns completed tasks.",
    },
    CommandSpec {
        usage: "/retrigger [N] [SELECTOR ...] [--force]",
        summary: "Create N new copies (default 1) of each selected retriggerable task. Without a selector: every failed or exception retriggerable task. `--force` (maintainers) also copies tasks that are not retriggerable.",
    },
    CommandSpec {
        usage: "/rerunbot help",
        summary: "Show this help. SELECTOR is a task label, a task name, a taskId or a glob such as `test-linux*`.",
    },
];

/// Parses every command line of a comment body (see the module doc).
pub fn parse_comment(body: &str, limits: &ParseLimits) -> ParsedComment {
    limit(command_lines(body, limits))
}

/// All command lines of `body`, before the per-comment limit.
pub(crate) fn command_lines(body: &str, limits: &ParseLimits) -> Vec<CommandLine> {
    // Fast path: most comments have no `/r` at a line start, and then the
    // markdown parser never runs.
    let candidates = scan::line_start_slashes(body);
    if candidates.is_empty() {
        return Vec::new();
    }
    let plain = markdown::inside(&candidates, &markdown::plain_text_ranges(body));
    let mut out = Vec::new();
    let (mut line, mut counted) = (1, 0);
    for at in plain {
        let (start, end) = scan::line_bounds(body, at);
        line += scan::count_line_breaks(body.as_bytes().get(counted..start).unwrap_or(&[]));
        counted = start;
        let text = body
            .get(start..end)
            .unwrap_or("")
            .trim_matches(scan::is_space);
        if let Some(result) = line::parse_line(text, limits) {
            out.push(CommandLine {
                line,
                text: text.to_string(),
                result,
            });
        }
    }
    out
}

/// Applies [`MAX_COMMANDS`] to a comment's command lines.
pub(crate) fn limit(commands: Vec<CommandLine>) -> ParsedComment {
    if commands.len() > MAX_COMMANDS {
        return ParsedComment {
            commands: Vec::new(),
            error: Some(CommentError::TooManyCommands {
                found: commands.len(),
                max: MAX_COMMANDS,
            }),
        };
    }
    ParsedComment {
        commands,
        error: None,
    }
}

impl ParsedComment {
    /// Nothing for the bot to answer: no command line, no comment error.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.error.is_none()
    }

    /// The commands that parsed, in comment order, with their lines.
    pub fn valid(&self) -> impl Iterator<Item = (&CommandLine, &Command)> {
        self.commands
            .iter()
            .filter_map(|l| l.result.as_ref().ok().map(|c| (l, c)))
    }
}

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
    /// `/retrigger foo 3`: the count goes first; `suggestion` is the line
    /// with the count moved.
    CountAfterSelectors { suggestion: String },
    /// More than [`MAX_SELECTORS`] selectors in one command.
    TooManySelectors { found: usize, max: usize },
    /// A selector longer than [`MAX_SELECTOR_CHARS`] characters.
    SelectorTooLong { max: usize },
}

/// Selectors per command.
pub const MAX_SELECTORS: usize = 50;
/// Characters per selector.
pub const MAX_SELECTOR_CHARS: usize = 200;

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
