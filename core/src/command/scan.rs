//! Byte-level scanning shared by the parser's fast path and the webhook
//! pre-filter: a word-at-a-time byte search, the whitespace the grammar skips,
//! and "which `/r` sits at the start of a line".

/// Characters that may surround a command and separate its words: Unicode
/// whitespace plus the zero-width characters editors and phones insert
/// (ZWSP, ZWNJ, ZWJ, word joiner, BOM). Line breaks (`\n`, `\r`) are also
/// whitespace here; callers split lines before they trim.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// True when some byte of `word` equals `b` (the classic SWAR zero-byte test).
#[inline]
fn has_byte(word: u64, b: u8) -> bool {
    let x = word ^ LO.wrapping_mul(u64::from(b));
    (x.wrapping_sub(LO) & !x & HI) != 0
}

/// Position of the first byte at or after `from` equal to `a` or `b`.
/// Eight bytes per step: the no-command case of a large body is close to
/// memory speed without pulling in `memchr`.
pub(crate) fn find_either(hay: &[u8], a: u8, b: u8, from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = hay.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let word = u64::from_le_bytes(w);
        if has_byte(word, a) || has_byte(word, b) {
            break;
        }
        i += 8;
    }
    hay.get(i..)?
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| p + i)
}

/// Byte offsets of every `/` that starts a line (after optional
/// [`is_space`] characters) and is followed by `r` or `R`: the only places a
/// command or a near miss can begin. Ascending.
pub(crate) fn line_start_slashes(body: &str) -> Vec<usize> {
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find_either(bytes, b'/', b'/', from) {
        from = p + 1;
        if !matches!(bytes.get(p + 1), Some(b'r' | b'R')) {
            continue;
        }
        // `p` is an ASCII byte, so it is a char boundary.
        let before = body.get(..p).unwrap_or("");
        let rest = before.trim_end_matches(|c: char| is_space(c) && c != '\n' && c != '\r');
        if rest.is_empty() || rest.ends_with(['\n', '\r']) {
            out.push(p);
        }
    }
    out
}

/// The line holding byte `at`: (start, end) without its terminator. Lines
/// end at `\n`, `\r\n` or a lone `\r`, as in CommonMark.
pub(crate) fn line_bounds(body: &str, at: usize) -> (usize, usize) {
    let start = body
        .get(..at)
        .and_then(|b| b.rfind(['\n', '\r']))
        .map_or(0, |p| p + 1);
    let end = body
        .get(at..)
        .and_then(|b| b.find(['\n', '\r']))
        .map_or(body.len(), |p| at + p);
    (start, end)
}

/// Counts line terminators in `bytes` (`\r\n` counts once). Used to turn
/// byte offsets into 1-based line numbers incrementally.
pub(crate) fn count_line_breaks(bytes: &[u8]) -> usize {
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\n' => n += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_either_finds_first_of_two_bytes_at_any_alignment() {
        for len in 0..40 {
            for pos in 0..len {
                let mut hay = vec![b'a'; len];
                hay[pos] = b'/';
                assert_eq!(
                    find_either(&hay, b'/', b'\\', 0),
                    Some(pos),
                    "len {len} pos {pos}"
                );
                hay[pos] = b'\\';
                assert_eq!(find_either(&hay, b'/', b'\\', 0), Some(pos));
                assert_eq!(find_either(&hay, b'/', b'\\', pos + 1), None);
            }
            assert_eq!(find_either(&vec![b'x'; len], b'/', b'/', 0), None);
        }
    }

    #[test]
    fn line_start_slashes_table() {
        let cases: &[(&str, &[usize])] = &[
            ("/rerun", &[0]),
            ("  /rerun", &[2]),
            ("\t/Retrigger", &[1]),
            ("\u{a0}/rerun", &[2]),
            ("\u{200b}/rerun", &[3]),
            ("a /rerun", &[]),
            ("/cc @x", &[]),
            ("x\n/rerun\r\n /r\r/r", &[2, 11, 14]),
            ("https://example.com/repos", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(line_start_slashes(input), *want, "{input:?}");
        }
    }

    #[test]
    fn line_bounds_and_breaks() {
        let body = "a\r\nbb\rccc\nd";
        assert_eq!(line_bounds(body, 3), (3, 5));
        assert_eq!(line_bounds(body, 6), (6, 9));
        assert_eq!(line_bounds(body, 10), (10, 11));
        assert_eq!(count_line_breaks(body.as_bytes()), 3);
    }
}
