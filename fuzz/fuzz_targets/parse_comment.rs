//! Fuzzes the comment parser, the edit diff and the webhook pre-filter, and
//! checks the pre-filter promise: a comment with a command line always
//! passes the filter once JSON-encoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rerunbot::command::{added_commands, might_contain_command, parse_comment, ParseLimits};

fuzz_target!(|data: &[u8]| {
    let _ = might_contain_command(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = ParseLimits::default();
    let parsed = parse_comment(text, &limits);
    let mid = (0..=text.len() / 2)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let _ = added_commands(&text[..mid], text, &limits);
    if !parsed.is_empty() {
        let body = serde_json::to_vec(&serde_json::json!({ "comment": { "body": text } }))
            .expect("a string always encodes");
        assert!(might_contain_command(&body), "pre-filter rejected {text:?}");
    }
});
