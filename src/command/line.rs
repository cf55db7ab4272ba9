//! One command line: its words, and what they mean. Markdown and line
//! finding happen before this; here a line is already known to start with
//! `/r` or `/R` in plain paragraph text.

use super::scan::is_space;
use super::suggest::{near_command, near_flag};
use super::{Command, CommandError, ParseLimits};

/// What a line is: not ours (`None`), a command, or a malformed command.
pub(crate) fn parse_line(
    text: &str,
    limits: &ParseLimits,
) -> Option<Result<Command, CommandError>> {
    let mut words = text.split(is_space).filter(|w| !w.is_empty());
    let word = words.next()?;
    let name = word
        .strip_prefix('/')?
        // `/rerun.` or `/rerun!` at the end of a sentence still means /rerun.
        .trim_end_matches(|c: char| c.is_ascii_punctuation());
    let result = match name {
        "rerun" => parse_args(words, false, limits).map(|a| Command::Rerun {
            selectors: a.selectors,
            force: a.force,
        }),
        "retrigger" => parse_args(words, true, limits).map(|a| Command::Retrigger {
            times: a.times.unwrap_or(1),
            selectors: a.selectors,
            force: a.force,
        }),
        "rerunbot" => parse_bot(words),
        _ => {
            let suggestion = near_command(name)?;
            Err(CommandError::UnknownCommand {
                written: word.to_string(),
                suggestion: Some(suggestion),
            })
        }
    };
    Some(result)
}

fn parse_bot<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<Command, CommandError> {
    match words.next() {
        None => Ok(Command::Help),
        Some(w) if ["help", "--help", "-h", "?"].contains(&w.to_lowercase().as_str()) => {
            Ok(Command::Help)
        }
        Some(w) => Err(CommandError::UnknownSubcommand {
            written: w.to_string(),
        }),
    }
}

struct Args {
    times: Option<u32>,
    selectors: Vec<String>,
    force: bool,
}

/// What the first positional word of `/retrigger` is.
enum CountWord {
    Count(u64),
    /// Numeric-looking but not a positive integer that fits: `-3`, `+2`,
    /// `2.5`, `3x`, an absurdly long number.
    Bad,
    /// Anything else is a selector (labels are free text).
    NotCount,
}

fn classify_count(w: &str) -> CountWord {
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
        return w.parse().map_or(CountWord::Bad, CountWord::Count);
    }
    let core = w.strip_prefix(['-', '+']).unwrap_or(w);
    let core = core.strip_suffix(['x', 'X', '×']).unwrap_or(core);
    let mut parts = core.splitn(2, ['.', ',']);
    let numeric = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numeric {
        CountWord::Bad
    } else {
        CountWord::NotCount
    }
}

/// Words that are flags: `-x`, `--xyz`, and the en/em dash that phones and
/// word processors turn `--` into. A lone `-` is a flag too (an unknown one).
fn is_flag(w: &str) -> bool {
    w.starts_with(['-', '\u{2013}', '\u{2014}'])
}

fn parse_args<'a>(
    words: impl Iterator<Item = &'a str>,
    takes_count: bool,
    limits: &ParseLimits,
) -> Result<Args, CommandError> {
    let mut args = Args {
        times: None,
        selectors: Vec::new(),
        force: false,
    };
    let mut first_positional = true;
    for w in words {
        if takes_count && first_positional {
            match classify_count(w) {
                CountWord::Count(n) => {
                    first_positional = false;
                    args.times = Some(check_count(w, n, limits)?);
                    continue;
                }
                CountWord::Bad => {
                    return Err(CommandError::BadCount {
                        written: w.to_string(),
                    })
                }
                CountWord::NotCount => {}
            }
        }
        if is_flag(w) {
            if w == "--force" || w == "-f" {
                if args.force {
                    return Err(CommandError::DuplicateFlag {
                        flag: w.to_string(),
                    });
                }
                args.force = true;
                continue;
            }
            return Err(CommandError::UnknownFlag {
                flag: w.to_string(),
                suggestion: near_flag(w),
            });
        }
        first_positional = false;
        args.selectors.push(strip_backticks(w).to_string());
    }
    Ok(args)
}

fn check_count(written: &str, n: u64, limits: &ParseLimits) -> Result<u32, CommandError> {
    if n == 0 {
        return Err(CommandError::BadCount {
            written: written.to_string(),
        });
    }
    match u32::try_from(n) {
        Ok(n) if n <= limits.max_retrigger => Ok(n),
        _ => Err(CommandError::CountTooLarge {
            count: n,
            max: limits.max_retrigger,
        }),
    }
}

/// `` `test-linux64/opt` `` names the same task as `test-linux64/opt`.
fn strip_backticks(w: &str) -> &str {
    match w.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_count_table() {
        let cases: &[(&str, &str)] = &[
            ("3", "count"),
            ("007", "count"),
            ("0", "count"),
            ("99999999999999999999999", "bad"),
            ("-3", "bad"),
            ("+3", "bad"),
            ("2.5", "bad"),
            ("1,000", "bad"),
            ("3x", "bad"),
            ("abc", "selector"),
            ("x86", "selector"),
            ("0tT4rmUbTUOBxPK4Cd-R6A", "selector"),
            ("3.", "selector"),
            ("-", "selector"),
        ];
        for (w, want) in cases {
            let got = match classify_count(w) {
                CountWord::Count(_) => "count",
                CountWord::Bad => "bad",
                CountWord::NotCount => "selector",
            };
            assert_eq!(got, *want, "{w}");
        }
    }
}
