//! Where plain text is: the byte ranges of a comment that GitHub renders as
//! ordinary paragraph (or heading) text. Code blocks, inline code, block
//! quotes, HTML (including `<!-- comments -->`), tables, links and images
//! are not plain text, so a `/rerun` inside them is quoted, not commanded.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, TagEnd};

/// Containers whose text is never a command.
fn hides(tag: &TagEnd) -> bool {
    matches!(
        tag,
        TagEnd::BlockQuote(_)
            | TagEnd::CodeBlock
            | TagEnd::HtmlBlock
            | TagEnd::Table
            | TagEnd::Link
            | TagEnd::Image
            | TagEnd::MetadataBlock(_)
            | TagEnd::FootnoteDefinition
    )
}

/// Source byte ranges of the text events outside hidden containers,
/// ascending. Inline code and HTML are separate event kinds, so they never
/// appear here.
pub(crate) fn plain_text_ranges(body: &str) -> Vec<Range<usize>> {
    // GitHub renders GFM: tables and strikethrough change what is a paragraph.
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut hidden = 0usize;
    let mut out = Vec::new();
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        match event {
            Event::Start(tag) if hides(&tag.to_end()) => hidden += 1,
            Event::End(tag) if hides(&tag) => hidden = hidden.saturating_sub(1),
            Event::Text(_) if hidden == 0 => out.push(range),
            _ => {}
        }
    }
    out
}

/// Keeps the offsets of `positions` (ascending) that fall inside one of
/// `ranges` (ascending, as returned by [`plain_text_ranges`]).
pub(crate) fn inside(positions: &[usize], ranges: &[Range<usize>]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut r = ranges.iter().peekable();
    for &p in positions {
        while r.next_if(|range| range.end <= p).is_some() {}
        if r.peek().is_some_and(|range| range.contains(&p)) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_merges_sorted_lists() {
        let ranges = [0..3, 5..6, 10..20];
        assert_eq!(
            inside(&[0, 2, 3, 4, 5, 9, 10, 19, 20], &ranges),
            vec![0, 2, 5, 10, 19]
        );
        assert!(inside(&[1], &[]).is_empty());
    }

    #[test]
    fn code_quote_and_html_are_not_plain() {
        let body = "a\n\n```\ncode\n```\n\n> quote\n\n<!-- c -->\n\n`inline` b";
        let text: Vec<&str> = plain_text_ranges(body)
            .into_iter()
            .map(|r| &body[r])
            .collect();
        assert_eq!(text, vec!["a", " b"]);
    }
}
