//! One command line: its words, and what they mean. Markdown and line
//! finding happen before this; here a line is already known to start with
//! `/r` or `/R` in plain paragraph text.

use super::scan::is_space;
use super::suggest::{near_command, near_flag};
use super::{Command, CommandError, ParseLimits, MAX_SELECTORS, MAX_SELECTOR_CHARS};

/// What a line is: not ours (`None`), a command, or a malformed command.
pub(crate) fn parse_line(
    text: &str,
    limits: &ParseLimits,
) -> Option<Result<Command, CommandError>> {
    // A question is prose about a command (`/rerun?`, `/rerun or
    // retrigger?`), not one.
    if text.trim_end().ends_with('?') && !text.starts_with("/rerunbot") {
        return None;
    }
    let words = words(text);
    let mut words = words.iter().map(String::as_str);
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

/// The words of a line; a double-quoted part is one word without its quotes
/// (`"Gecko Decision Task"`), so names with spaces can be selected.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(is_space);
        if rest.is_empty() {
            return out;
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            if let Some(end) = quoted.find('"') {
                out.push(quoted[..end].to_owned());
                rest = &quoted[end + 1..];
                continue;
            }
        }
        let end = rest.find(is_space).unwrap_or(rest.len());
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
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
    // Past the limit, selectors are only counted: a pasted blob of 20,000
    // words costs no more than a scan of it.
    let mut found = 0;
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
        if takes_count
            && args.times.is_none()
            && found <= MAX_SELECTORS
            && matches!(classify_count(w), CountWord::Count(_))
        {
            let selectors: Vec<String> = args.selectors.iter().map(|s| quote(s)).collect();
            return Err(CommandError::CountAfterSelectors {
                suggestion: format!("/retrigger {w} {}", selectors.join(" ")),
            });
        }
        first_positional = false;
        let selector = strip_backticks(w);
        if selector.chars().count() > MAX_SELECTOR_CHARS {
            return Err(CommandError::SelectorTooLong {
                max: MAX_SELECTOR_CHARS,
            });
        }
        found += 1;
        if found <= MAX_SELECTORS {
            args.selectors.push(selector.to_string());
        }
    }
    if found > MAX_SELECTORS {
        return Err(CommandError::TooManySelectors {
            found,
            max: MAX_SELECTORS,
        });
    }
    Ok(args)
}

/// A selector as typed back: double-quoted when it holds spaces.
fn quote(selector: &str) -> String {
    if selector.chars().any(is_space) {
        format!("\"{selector}\"")
    } else {
        selector.to_owned()
    }
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

    /// Issue 11.9, one row per rule: (line, what it parses to).
    #[test]
    fn grammar_rules() {
        let limits = ParseLimits::default();
        let parse = |t: &str| parse_line(t, &limits);
        let sel = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // 11.9 count after the selector: "the count goes first".
        assert_eq!(
            parse("/retrigger test-foo 3"),
            Some(Err(CommandError::CountAfterSelectors {
                suggestion: "/retrigger 3 test-foo".into()
            }))
        );
        // 11.9 double-quoted selectors hold spaces.
        assert_eq!(
            parse("/rerun \"Gecko Decision Task\" --force"),
            Some(Ok(Command::Rerun {
                selectors: sel(&["Gecko Decision Task"]),
                force: true
            }))
        );
        // 11.9 a question is prose, not a bulk rerun.
        assert_eq!(parse("/rerun?"), None);
        assert_eq!(parse("/rerun or retrigger?"), None);
        assert_eq!(parse("/rerunbot ?"), Some(Ok(Command::Help)));
        // 11.9 at most 50 selectors of 200 characters.
        let many = format!("/rerun {}", vec!["a"; 51].join(" "));
        assert_eq!(
            parse(&many),
            Some(Err(CommandError::TooManySelectors { found: 51, max: 50 }))
        );
        let long = format!("/rerun {}", "a".repeat(201));
        assert_eq!(
            parse(&long),
            Some(Err(CommandError::SelectorTooLong { max: 200 }))
        );
        let fifty = format!("/rerun {}", vec!["a"; 50].join(" "));
        assert!(matches!(parse(&fifty), Some(Ok(_))));
    }

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
