//! The status reply (DESIGN.md §11): pure markdown rendering of everything a
//! pull request's people read — plans and their outcomes, malformed
//! commands, comment and configuration errors, help — and the reaction that
//! sums it up. The body always stays under GitHub's 65,536 characters.

pub mod auto_rerun;
pub mod follow;
mod groups;
pub mod markdown;
mod section;
pub mod waits;
pub mod wording;

#[cfg(test)]
mod tests;

use crate::command::{CommandError, CommentError};
use crate::outcome::ActionOutcome;
use crate::policy::plan::{Decision, Plan, Role};
use crate::repo_config::ConfigError;
use crate::types::Login;
use markdown::{code, truncate_bytes};

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_MAX_BODY: usize = 65_536;
/// What we allow ourselves (in bytes, so characters are fewer still), with
/// room for the truncation note.
const BUDGET: usize = 60_000;
/// Tables longer than this fold into `<details>`.
pub const FOLD_ROWS: usize = 20;

/// One reply comment: the answer to one command comment.
#[derive(Clone, Debug)]
pub struct ReplyInput<'a> {
    pub author: &'a Login,
    /// Taskcluster root URL, for task links.
    pub root_url: &'a str,
    pub sections: Vec<ReplySection<'a>>,
    /// The runs being followed (DESIGN.md §13); `None` before any is.
    pub followed: Option<&'a follow::Followed>,
}

/// The answer to one command line.
#[derive(Clone, Debug)]
pub enum ReplySection<'a> {
    Planned {
        command_text: &'a str,
        plan: &'a Plan,
        /// Same order as the plan's rows; missing entries count as Pending.
        /// Only rows with an action use theirs.
        outcomes: &'a [ActionOutcome],
        /// The repository's force role, named in suggestions.
        force_role: Role,
    },
    Malformed {
        command_text: &'a str,
        error: &'a CommandError,
    },
    /// `/rerunbot help`: (usage, summary) rows, from the parser's table.
    Help { commands: &'a [(&'a str, &'a str)] },
}

pub use groups::render_skipped_groups;

/// Renders the whole comment.
pub fn render(input: &ReplyInput) -> String {
    let mut out = String::new();
    for (i, s) in input.sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n---\n\n");
        }
        let remaining = BUDGET.saturating_sub(out.len());
        let ctx = section::Ctx {
            author: input.author,
            root_url: input.root_url,
            followed: input.followed,
        };
        let body = section::render(s, &ctx, remaining);
        out.push_str(&body);
        if out.len() >= BUDGET {
            break;
        }
    }
    cap(out)
}

/// An invisible line that ties a reply to the delivery it answers, so a
/// retried job can find a reply whose creation it could not confirm.
pub fn delivery_marker(delivery: &str) -> String {
    let safe: String = delivery
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("<!-- rerunbot delivery={safe} -->")
}

/// The comment when the comment as a whole is rejected (nothing runs).
pub fn render_comment_error(author: &Login, error: &CommentError) -> String {
    cap(format!(
        "@{} — nothing was run: {}",
        author.as_str(),
        markdown::sentence(&wording::comment_error(error))
    ))
}

/// The comment when the commenter may run none of the commands here.
pub fn render_not_allowed(
    author: &Login,
    role: Role,
    needed: Role,
    author_may_rerun: bool,
) -> String {
    let authors = if author_may_rerun {
        " (a pull request's author may `/rerun` the failed tasks of their own pull request)"
    } else {
        ""
    };
    cap(format!(
        "@{} — nothing was run: rerunbot's commands need the `{}` role or above in this repository; yours is `{}`{authors}; ask someone with that role.",
        author.as_str(),
        needed.as_str(),
        role.as_str()
    ))
}

/// The comment when a job gave up after its retries before it had a plan
/// (GitHub or Taskcluster kept failing while it was being worked out), so
/// nothing was sent. A job that gave up after planning replies with its
/// plan and what is known of each action instead.
pub fn render_gave_up(author: &Login, error: &str) -> String {
    let mut error = error.replace("```", "'''");
    truncate_bytes(&mut error, 500);
    cap(format!(
        "@{} — rerunbot could not finish this command after several attempts.\n\n```text\n{}\n```\n\nNothing was sent to Taskcluster. Comment again to retry.",
        author.as_str(),
        error
    ))
}

/// The comment when `.github/rerunbot.yml` is invalid (nothing runs).
pub fn render_config_error(author: &Login, error: &ConfigError) -> String {
    let position = match (error.line, error.column) {
        (Some(l), Some(c)) => format!(", line {l}, column {c}"),
        (Some(l), None) => format!(", line {l}"),
        _ => String::new(),
    };
    cap(format!(
        "@{} — nothing was run: the repository configuration {}{position} is invalid.\n\n```text\n{}\n```\n\nFix the file on the default branch (check it with `rerunbot check-config`) and comment again.",
        author.as_str(),
        code(&error.path),
        markdown::shorten(&error.to_string(), 2_000).replace("```", "'''"),
    ))
}

/// Guarantees the size limit whatever came before.
fn cap(mut out: String) -> String {
    if out.len() > BUDGET + 4_000 {
        truncate_bytes(&mut out, BUDGET);
        out.push_str("\n\n… (reply cut to GitHub's comment size limit)");
    }
    out
}

/// The reaction that sums up a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    Rocket,
    Confused,
    /// Every followed run completed.
    Hooray,
    /// A followed run failed or ended in an exception.
    ThumbsDown,
}

impl Reaction {
    /// GitHub's reaction content name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Rocket => "rocket",
            Reaction::Confused => "confused",
            Reaction::Hooray => "hooray",
            Reaction::ThumbsDown => "-1",
        }
    }
}

/// `Confused` when anything was refused, malformed, unmatched or failed;
/// `Rocket` when every requested action was dispatched (skips are fine);
/// `None` while actions are still pending and nothing went wrong.
pub fn reaction_for(sections: &[ReplySection]) -> Option<Reaction> {
    let mut pending = false;
    for s in sections {
        match s {
            ReplySection::Help { .. } => {}
            ReplySection::Malformed { .. } => return Some(Reaction::Confused),
            ReplySection::Planned { plan, outcomes, .. } => {
                if plan.refusal.is_some() || !plan.unmatched.is_empty() {
                    return Some(Reaction::Confused);
                }
                for (i, row) in plan.rows.iter().enumerate() {
                    match &row.decision {
                        Decision::Refuse(_) => return Some(Reaction::Confused),
                        Decision::Skip(_) => {}
                        // Accepted: it runs later, or the live reply says
                        // why it was dropped.
                        Decision::Wait(_) => {}
                        Decision::Act(_) => match outcomes.get(i) {
                            None | Some(ActionOutcome::Pending) => pending = true,
                            Some(ActionOutcome::Failed { .. }) => return Some(Reaction::Confused),
                            Some(_) => {}
                        },
                    }
                }
            }
        }
    }
    (!pending).then_some(Reaction::Rocket)
}
