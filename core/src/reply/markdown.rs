//! Markdown building blocks: escaping user- and task-controlled text, code
//! spans, task links, table cells, size-safe truncation.

/// Escapes text for inline markdown (outside code spans). Pipes are left to
/// [`cell`], which knows whether the text ends up in a table.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '[' | ']' | '<' | '>' | '*' | '_' | '`' | '#' | '@' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span that survives backticks in its content, cut to `max` chars.
pub fn code(s: &str) -> String {
    let s = shorten(s, 200);
    let s = s.replace(['\n', '\r'], " ");
    let longest = longest_run(&s, '`');
    let fence = "`".repeat(longest + 1);
    if longest > 0 || s.starts_with(' ') || s.ends_with(' ') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for x in s.chars() {
        if x == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// At most `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Makes text safe inside a table cell: pipes escaped, one line.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `<rootUrl>/tasks/<id>`.
pub fn task_url(root_url: &str, task_id: &str) -> String {
    format!("{}/tasks/{}", root_url.trim_end_matches('/'), task_id)
}

/// A link to a task labelled with its escaped label.
pub fn task_link(root_url: &str, task_id: &str, label: &str) -> String {
    format!(
        "[{}]({})",
        text(&shorten(label, 120).replace(['\n', '\r'], " ")),
        task_url(root_url, task_id)
    )
}

/// A link to a new task, its id shortened (`Ab1Cd2…`).
pub fn short_task_link(root_url: &str, task_id: &str) -> String {
    let short: String = task_id.chars().take(6).collect();
    format!("[{}…]({})", text(&short), task_url(root_url, task_id))
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate_bytes(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// "1 task", "3 tasks".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Ends a sentence with a full stop unless it already has punctuation.
pub fn sentence(s: &str) -> String {
    let s = s.trim_end();
    if s.ends_with(['.', '?', '!']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}
