//! The webhook pre-filter: a cheap look at the raw JSON body of a webhook
//! that rejects deliveries which cannot hold a command, before any JSON is
//! parsed. It must never reject a body whose comment [`super::parse_comment`]
//! would report anything for, so it errs on the side of "maybe".
//!
//! Every command line (valid or malformed) starts with `/` then `r`/`R`, at
//! the start of a line after optional whitespace. In JSON text that is:
//! - the `/` written as `/`, `\/` or `\u002f`, and the `r` as `r`, `R` or
//!   `\u0072`/`\u0052`;
//! - right after the opening `"` of a string, an escape (`\n`, `\r`, `\t`,
//!   `\f`, `\uXXXX`, ...), a raw space/tab/control byte, or a non-ASCII byte
//!   (the last byte of a UTF-8 space or zero-width character).
//!
//! Anything else before the `/` (a letter, `:` or `/` as in the URLs every
//! webhook body carries) cannot be a line start, so those are skipped.

use super::scan::find_either;

/// True when `body` (raw webhook bytes) might hold a command line.
pub fn might_contain_command(body: &[u8]) -> bool {
    let mut from = 0;
    while let Some(p) = find_either(body, b'/', b'\\', from) {
        let slash_end = if body[p] == b'/' {
            p + 1
        } else {
            match body.get(p + 1) {
                Some(b'/') => p + 2,
                Some(b'u') if is_unicode_escape(body, p, &[0x2f]) => p + 6,
                // Any other escape pair (`\n`, `\\`, `\"`, ...): step over it
                // whole so an escaped backslash is not read as an escape.
                _ => {
                    from = p + 2;
                    continue;
                }
            }
        };
        if starts_with_r(body, slash_end) && at_line_start(body, p) {
            return true;
        }
        from = slash_end;
    }
    false
}

/// `\uXXXX` at `at` whose code is one of `codes`.
fn is_unicode_escape(body: &[u8], at: usize, codes: &[u32]) -> bool {
    let Some(esc) = body.get(at..at + 6) else {
        return false;
    };
    if &esc[..2] != b"\\u" {
        return false;
    }
    let code = std::str::from_utf8(&esc[2..])
        .ok()
        .and_then(|hex| u32::from_str_radix(hex, 16).ok());
    code.is_some_and(|c| codes.contains(&c))
}

fn starts_with_r(body: &[u8], at: usize) -> bool {
    matches!(body.get(at), Some(b'r' | b'R')) || is_unicode_escape(body, at, &[0x72, 0x52])
}

/// Whether the JSON text just before byte `at` may be the start of a line
/// of the decoded string, possibly after whitespace. Errs towards yes.
fn at_line_start(body: &[u8], at: usize) -> bool {
    let Some(&prev) = at.checked_sub(1).and_then(|i| body.get(i)) else {
        return true;
    };
    match prev {
        b'"' | b' ' | b'\t' | b'\\' | 0..=0x1f | 0x80..=0xff => true,
        // The letter of an escape (`\n`) or the last hex digit of `\uXXXX`.
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => {
            (at >= 2 && body[at - 2] == b'\\')
                || (at >= 6 && body[at - 6] == b'\\' && body[at - 5] == b'u')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefilter_table() {
        let cases: &[(&str, &[u8], bool)] = &[
            ("empty", b"", false),
            (
                "url only",
                br#"{"url":"https://api.github.com/repos/o/r"}"#,
                false,
            ),
            ("body start", br#"{"body":"/rerun"}"#, true),
            (
                "after newline escape",
                br#"{"body":"hi\n/retrigger 3"}"#,
                true,
            ),
            ("after crlf", br#"{"body":"hi\r\n  /rerun"}"#, true),
            ("escaped slash", br#"{"body":"\/rerun"}"#, true),
            ("unicode slash", br#"{"body":"\u002Frerun"}"#, true),
            ("unicode r", br#"{"body":"/\u0072erun"}"#, true),
            ("after unicode nbsp", br#"{"body":"\u00a0/rerun"}"#, true),
            (
                "after raw nbsp",
                "{\"body\":\"\u{a0}/rerun\"}".as_bytes(),
                true,
            ),
            ("capital", br#"{"body":"/Rerun"}"#, true),
            ("mid sentence", br#"{"body":"please /rerun"}"#, true),
            (
                "escaped backslash then n",
                br#"{"body":"a\\n/rerun"}"#,
                true,
            ),
            ("other command", br#"{"body":"/cc @x"}"#, false),
            ("after letter", br#"{"body":"a/rerun"}"#, false),
            ("after colon", br#"{"body":"x:/rerun"}"#, false),
            ("truncated escape", b"\\", false),
        ];
        for (name, body, want) in cases {
            assert_eq!(might_contain_command(body), *want, "{name}");
        }
    }
}
