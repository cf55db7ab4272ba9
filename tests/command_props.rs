//! Properties of the comment parser: it never panics, and the webhook
//! pre-filter never rejects a body whose comment holds a command line.

use proptest::prelude::*;
use rerunbot::command::{added_commands, might_contain_command, parse_comment, ParseLimits};

/// Pieces that make the grammar and markdown interesting, mixed with noise.
fn fragment() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "/rerun",
        "/retrigger",
        "/rerunbot",
        "/Rerun",
        "/re-run",
        "/retriger",
        "/RETRIGGER",
        "/cc",
        "/r",
        " help",
        " 3",
        " 0",
        " -3",
        " --force",
        " -f",
        " --forse",
        " abc",
        " test-*",
        "\n",
        "\r\n",
        "\r",
        "\n\n",
        " ",
        "  ",
        "\t",
        "\u{a0}",
        "\u{200b}",
        "\u{feff}",
        "\u{3000}",
        "```",
        "~~~",
        "    ",
        "> ",
        "`",
        "<!--",
        "-->",
        "- ",
        "1. ",
        "# ",
        "|",
        "---",
        "\\",
        "\"",
        "*",
        "[",
        "](x)",
        "<details>",
        "é",
        "🙏",
    ];
    prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(str::to_string),
        1 => "\\PC{0,6}",
    ]
}

/// A line: some lead-in, a command-ish head, arguments, and noise.
fn line() -> impl Strategy<Value = String> {
    const LEAD: &[&str] = &[
        "", "", "", " ", "   ", "\t", "\u{a0}", "\u{200b}", "\u{3000}", "> ", "- ", "    ", "`",
        "x ",
    ];
    const HEAD: &[&str] = &[
        "/rerun",
        "/retrigger",
        "/rerunbot",
        "/Rerun",
        "/re-run",
        "/retriger",
        "/RETRIGGER",
        "/rerunn",
        "/cc",
        "/Retrigger.",
        "/rerun!",
    ];
    (
        proptest::sample::select(LEAD),
        proptest::sample::select(HEAD),
        proptest::collection::vec(fragment(), 0..4),
    )
        .prop_map(|(lead, head, rest)| format!("{lead}{head}{}", rest.concat()))
}

fn comment() -> impl Strategy<Value = String> {
    let piece = prop_oneof![2 => line(), 1 => fragment()];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.join("\n"))
}

fn webhook(text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "issue": { "url": "https://api.github.com/repos/o/r/issues/1", "pull_request": {} },
        "comment": { "body": text, "html_url": "https://github.com/o/r/pull/1#c" },
    }))
    .unwrap_or_default()
}

/// JSON string with every character written as `\uXXXX`, the most escaped
/// form a JSON encoder may produce.
fn all_escaped(text: &str) -> Vec<u8> {
    let mut out = String::from("{\"comment\":{\"body\":\"");
    for unit in text.encode_utf16() {
        out.push_str(&format!("\\u{unit:04X}"));
    }
    out.push_str("\"}}");
    out.into_bytes()
}

fn has_command_line(text: &str) -> bool {
    !parse_comment(text, &ParseLimits::default()).is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_on_any_text(text in "\\PC*|(.|\n|\r)*") {
        let parsed = parse_comment(&text, &ParseLimits::default());
        for line in &parsed.commands {
            prop_assert!(line.text.starts_with('/'));
            prop_assert!(line.line >= 1);
        }
        added_commands(&text, &text, &ParseLimits::default());
    }

    #[test]
    fn parser_never_panics_on_grammar_soup(old in comment(), new in comment(), max in 0u32..200) {
        let limits = ParseLimits { max_retrigger: max };
        let parsed = parse_comment(&new, &limits);
        let lines: Vec<usize> = parsed.commands.iter().map(|l| l.line).collect();
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        prop_assert_eq!(lines, sorted);
        let added = added_commands(&old, &new, &limits);
        prop_assert!(added.commands.len() <= parsed.commands.len());
        prop_assert!(added_commands(&new, &new, &limits).commands.is_empty());
    }

    #[test]
    fn prefilter_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        might_contain_command(&body);
    }

    #[test]
    fn prefilter_passes_every_body_with_a_command_line(text in comment()) {
        if !has_command_line(&text) {
            return Ok(());
        }
        let plain = webhook(&text);
        prop_assert!(might_contain_command(&plain), "plain JSON: {:?}", text);
        let slashes = String::from_utf8_lossy(&plain).replace('/', "\\/").into_bytes();
        prop_assert!(might_contain_command(&slashes), "escaped slashes: {:?}", text);
        let escaped = all_escaped(&text);
        let decoded: serde_json::Value = serde_json::from_slice(&escaped).unwrap_or_default();
        prop_assert_eq!(decoded["comment"]["body"].as_str(), Some(text.as_str()));
        prop_assert!(might_contain_command(&escaped), "all escaped: {:?}", text);
    }
}

#[test]
fn soup_generates_command_lines_often_enough() {
    // Guards the property above against passing vacuously.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = comment();
    let hits = (0..500)
        .filter_map(|_| strategy.new_tree(&mut runner).ok())
        .filter(|tree| has_command_line(&tree.current()))
        .count();
    assert!(
        hits > 50,
        "only {hits} of 500 generated comments hold a command line"
    );
}
