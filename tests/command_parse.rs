//! The comment grammar, one row per rule: every error, every markdown
//! context, the whitespace and Unicode a real comment carries.

use rerunbot::command::{
    added_commands, parse_comment, Command, CommandError, CommentError, ParseLimits, COMMANDS,
};

type Res = Result<Command, CommandError>;

fn rerun(selectors: &[&str], force: bool) -> Res {
    Ok(Command::Rerun {
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        force,
    })
}

fn retrigger(times: u32, selectors: &[&str], force: bool) -> Res {
    Ok(Command::Retrigger {
        times,
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        force,
    })
}

fn unknown(written: &str, suggestion: &str) -> Res {
    Err(CommandError::UnknownCommand {
        written: written.into(),
        suggestion: Some(suggestion.into()),
    })
}

fn bad_count(written: &str) -> Res {
    Err(CommandError::BadCount {
        written: written.into(),
    })
}

fn unknown_flag(flag: &str, suggestion: Option<&str>) -> Res {
    Err(CommandError::UnknownFlag {
        flag: flag.into(),
        suggestion: suggestion.map(Into::into),
    })
}

/// (name, comment body, expected (line number, result) per command line).
type Case = (&'static str, &'static str, Vec<(usize, Res)>);

fn cases() -> Vec<Case> {
    vec![
        // Commands and arguments.
        ("rerun bare", "/rerun", vec![(1, rerun(&[], false))]),
        (
            "rerun selectors",
            "/rerun build-linux64/opt test-*",
            vec![(1, rerun(&["build-linux64/opt", "test-*"], false))],
        ),
        (
            "rerun force long",
            "/rerun --force",
            vec![(1, rerun(&[], true))],
        ),
        (
            "rerun force short anywhere",
            "/rerun -f lint",
            vec![(1, rerun(&["lint"], true))],
        ),
        (
            "rerun takes no count",
            "/rerun 3",
            vec![(1, rerun(&["3"], false))],
        ),
        (
            "retrigger bare defaults to 1",
            "/retrigger",
            vec![(1, retrigger(1, &[], false))],
        ),
        (
            "retrigger count",
            "/retrigger 3",
            vec![(1, retrigger(3, &[], false))],
        ),
        (
            "retrigger count selector force",
            "/retrigger 3 test-linux64/opt-mochitest-1 --force",
            vec![(1, retrigger(3, &["test-linux64/opt-mochitest-1"], true))],
        ),
        (
            "retrigger flag before count",
            "/retrigger -f 2 a",
            vec![(1, retrigger(2, &["a"], true))],
        ),
        (
            "retrigger at max",
            "/retrigger 10",
            vec![(1, retrigger(10, &[], false))],
        ),
        (
            "retrigger glob",
            "/retrigger *mochitest*",
            vec![(1, retrigger(1, &["*mochitest*"], false))],
        ),
        (
            "retrigger word is a selector",
            "/retrigger abc",
            vec![(1, retrigger(1, &["abc"], false))],
        ),
        (
            "retrigger taskId starting with digit",
            "/retrigger 0tT4rmUbTUOBxPK4Cd-R6A",
            vec![(1, retrigger(1, &["0tT4rmUbTUOBxPK4Cd-R6A"], false))],
        ),
        (
            "later number is a selector",
            "/retrigger 2 3",
            vec![(1, retrigger(2, &["3"], false))],
        ),
        (
            "backticked selector",
            "/rerun `test-linux64/opt`",
            vec![(1, rerun(&["test-linux64/opt"], false))],
        ),
        ("help", "/rerunbot help", vec![(1, Ok(Command::Help))]),
        ("help alone", "/rerunbot", vec![(1, Ok(Command::Help))]),
        (
            "help capitalised",
            "/rerunbot Help please",
            vec![(1, Ok(Command::Help))],
        ),
        ("trailing period", "/rerun.", vec![(1, rerun(&[], false))]),
        // Errors on a command line.
        ("zero", "/retrigger 0", vec![(1, bad_count("0"))]),
        ("negative", "/retrigger -3", vec![(1, bad_count("-3"))]),
        ("fraction", "/retrigger 2.5 a", vec![(1, bad_count("2.5"))]),
        ("times suffix", "/retrigger 3x", vec![(1, bad_count("3x"))]),
        (
            "huge number",
            "/retrigger 99999999999999999999999",
            vec![(1, bad_count("99999999999999999999999"))],
        ),
        (
            "over max",
            "/retrigger 11",
            vec![(1, Err(CommandError::CountTooLarge { count: 11, max: 10 }))],
        ),
        (
            "over u32",
            "/retrigger 5000000000",
            vec![(
                1,
                Err(CommandError::CountTooLarge {
                    count: 5_000_000_000,
                    max: 10,
                }),
            )],
        ),
        (
            "typo retriger",
            "/retriger 3",
            vec![(1, unknown("/retriger", "/retrigger"))],
        ),
        (
            "capital Rerun",
            "/Rerun",
            vec![(1, unknown("/Rerun", "/rerun"))],
        ),
        (
            "hyphen re-run",
            "/re-run foo",
            vec![(1, unknown("/re-run", "/rerun"))],
        ),
        (
            "shouting",
            "/RETRIGGER 2",
            vec![(1, unknown("/RETRIGGER", "/retrigger"))],
        ),
        (
            "extra letter",
            "/rerunn",
            vec![(1, unknown("/rerunn", "/rerun"))],
        ),
        (
            "bot typo",
            "/rerunbt help",
            vec![(1, unknown("/rerunbt", "/rerunbot"))],
        ),
        (
            "unknown flag close",
            "/rerun --forse",
            vec![(1, unknown_flag("--forse", Some("--force")))],
        ),
        (
            "unknown flag far",
            "/rerun --all",
            vec![(1, unknown_flag("--all", None))],
        ),
        (
            "em dash force",
            "/rerun \u{2014}force",
            vec![(1, unknown_flag("\u{2014}force", Some("--force")))],
        ),
        (
            "negative count on rerun is a flag",
            "/rerun -3",
            vec![(1, unknown_flag("-3", None))],
        ),
        (
            "duplicate flag",
            "/rerun --force -f",
            vec![(1, Err(CommandError::DuplicateFlag { flag: "-f".into() }))],
        ),
        (
            "unknown subcommand",
            "/rerunbot frobnicate",
            vec![(
                1,
                Err(CommandError::UnknownSubcommand {
                    written: "frobnicate".into(),
                }),
            )],
        ),
        // Not command lines.
        ("other slash command", "/cc @alice\n/label bug", vec![]),
        ("far word", "/return it", vec![]),
        ("mid sentence", "Could someone /rerun this?", vec![]),
        ("escaped slash", "\\/rerun", vec![]),
        ("list marker", "- /rerun", vec![]),
        // Markdown contexts.
        ("fenced code", "```\n/rerun\n```", vec![]),
        (
            "tilde fence",
            "~~~sh\n/retrigger 3\n~~~\n/rerun",
            vec![(4, rerun(&[], false))],
        ),
        ("indented code", "text\n\n    /rerun", vec![]),
        ("tab indented code", "\t/rerun", vec![]),
        ("inline code", "`/rerun`", vec![]),
        ("inline code across lines", "`x\n/rerun`", vec![]),
        ("block quote", "> /rerun", vec![]),
        ("lazy block quote", "> quoted\n/rerun", vec![]),
        (
            "quote then blank then command",
            "> /rerun\n\n/rerun lint",
            vec![(3, rerun(&["lint"], false))],
        ),
        ("html comment", "<!--\n/rerun\n-->", vec![]),
        ("table cell", "/rerun | x\n---|---\na | b", vec![]),
        (
            "list continuation",
            "- first\n  /rerun",
            vec![(2, rerun(&[], false))],
        ),
        (
            "inside details, own paragraph",
            "<details>\n\n/rerun\n\n</details>",
            vec![(3, rerun(&[], false))],
        ),
        (
            "html block without blank line",
            "<details>\n/rerun\n</details>",
            vec![],
        ),
        (
            "setext heading text",
            "/rerun lint\n---",
            vec![(1, rerun(&["lint"], false))],
        ),
        (
            "after heading",
            "# Retry\n/retrigger 2",
            vec![(2, retrigger(2, &[], false))],
        ),
        (
            "after paragraph text",
            "The build broke.\n/rerun build-*\nThanks!",
            vec![(2, rerun(&["build-*"], false))],
        ),
        // Whitespace and Unicode.
        ("leading spaces", "   /rerun", vec![(1, rerun(&[], false))]),
        (
            "continuation with deep indent",
            "hello\n        /rerun",
            vec![(2, rerun(&[], false))],
        ),
        (
            "trailing spaces",
            "/retrigger 2   ",
            vec![(1, retrigger(2, &[], false))],
        ),
        (
            "crlf",
            "hi\r\n/rerun a\r\n/retrigger 2\r\n",
            vec![(2, rerun(&["a"], false)), (3, retrigger(2, &[], false))],
        ),
        ("lone cr", "hi\r/rerun", vec![(2, rerun(&[], false))]),
        (
            "tabs between words",
            "/retrigger\t2\ta",
            vec![(1, retrigger(2, &["a"], false))],
        ),
        (
            "nbsp between words",
            "/rerun\u{a0}foo",
            vec![(1, rerun(&["foo"], false))],
        ),
        (
            "zero width before",
            "\u{200b}/rerun",
            vec![(1, rerun(&[], false))],
        ),
        (
            "emoji after",
            "/rerun \u{1F64F}",
            vec![(1, rerun(&["\u{1F64F}"], false))],
        ),
        (
            "unicode selector",
            "/rerun t\u{e9}st",
            vec![(1, rerun(&["t\u{e9}st"], false))],
        ),
        (
            "several commands",
            "/rerun a\n/retriger\n/cc x\n/retrigger 2 b",
            vec![
                (1, rerun(&["a"], false)),
                (2, unknown("/retriger", "/retrigger")),
                (4, retrigger(2, &["b"], false)),
            ],
        ),
    ]
}

#[test]
fn grammar_table() {
    let limits = ParseLimits::default();
    let rows = cases();
    assert!(rows.len() >= 40);
    for (name, input, want) in rows {
        let parsed = parse_comment(input, &limits);
        assert_eq!(parsed.error, None, "{name}");
        let got: Vec<(usize, Res)> = parsed
            .commands
            .iter()
            .map(|l| (l.line, l.result.clone()))
            .collect();
        assert_eq!(got, want, "{name}: {input:?}");
    }
}

#[test]
fn command_line_text_is_the_trimmed_line() {
    let parsed = parse_comment("x\r\n  /retrigger  3 a  \r\n", &ParseLimits::default());
    assert_eq!(parsed.commands[0].text, "/retrigger  3 a");
}

#[test]
fn limits_come_from_the_caller() {
    let limits = ParseLimits { max_retrigger: 100 };
    let parsed = parse_comment("/retrigger 100", &limits);
    assert_eq!(parsed.commands[0].result, retrigger(100, &[], false));
}

#[test]
fn more_than_ten_command_lines_run_none() {
    let limits = ParseLimits::default();
    let ten = "/rerun\n".repeat(10);
    assert_eq!(parse_comment(&ten, &limits).commands.len(), 10);
    let eleven = format!("{ten}/retriger");
    let parsed = parse_comment(&eleven, &limits);
    assert_eq!(
        parsed.error,
        Some(CommentError::TooManyCommands { found: 11, max: 10 })
    );
    assert!(parsed.commands.is_empty());
    // Lines that are not ours do not count.
    let parsed = parse_comment(&format!("{ten}/cc x\n`/rerun`"), &limits);
    assert_eq!(parsed.error, None);
}

#[test]
fn help_table_names_are_the_grammar() {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["rerun", "retrigger", "rerunbot"]);
    for spec in COMMANDS {
        let parsed = parse_comment(&format!("/{}", spec.name()), &ParseLimits::default());
        assert!(parsed.commands[0].result.is_ok(), "{}", spec.usage);
        assert!(!spec.summary.is_empty());
    }
}

#[test]
fn added_commands_table() {
    let limits = ParseLimits::default();
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("new comment", "", "/rerun", &["/rerun"]),
        ("unchanged", "/rerun a", "/rerun a", &[]),
        (
            "text edited around",
            "/rerun a\nthx",
            "oops\n/rerun a\nthanks",
            &[],
        ),
        (
            "command added",
            "/rerun a",
            "/rerun a\n/retrigger 2",
            &["/retrigger 2"],
        ),
        ("second copy added", "/rerun", "/rerun\n/rerun", &["/rerun"]),
        ("flags reordered", "/rerun --force a", "/rerun a -f", &[]),
        (
            "argument changed",
            "/retrigger 2",
            "/retrigger 3",
            &["/retrigger 3"],
        ),
        (
            "typo fixed",
            "/retriger 2",
            "/retrigger 2",
            &["/retrigger 2"],
        ),
        ("malformed respaced", "/retriger  2", "/retriger 2", &[]),
        ("quoted command unquoted", "`/rerun`", "/rerun", &["/rerun"]),
        ("command removed", "/rerun\n/retrigger", "/rerun", &[]),
    ];
    for (name, old, new, want) in cases {
        let parsed = added_commands(old, new, &limits);
        let got: Vec<&str> = parsed.commands.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(got, *want, "{name}");
        assert_eq!(parsed.error, None, "{name}");
    }
}

#[test]
fn added_commands_respects_the_limit() {
    let limits = ParseLimits::default();
    let eleven = "/rerun\n".repeat(11);
    let ten = "/rerun\n".repeat(10);
    let parsed = added_commands(&ten, &eleven, &limits);
    assert_eq!(
        parsed.error,
        Some(CommentError::TooManyCommands { found: 11, max: 10 })
    );
    // The old body ran nothing, so its lines are new once the edit fits.
    let parsed = added_commands(&eleven, &ten, &limits);
    assert_eq!(parsed.commands.len(), 10);
}
