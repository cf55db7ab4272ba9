//! One section of a reply: the header quoting the command and its author,
//! the command-level refusal or warnings, unmatched selectors, the task
//! table (folded when long, cut to the size budget) and row warnings.

use super::follow::{copy_result, run_result, started_runs, Followed, Made};
use super::markdown::{cell, code, plural, sentence, short_task_link, task_link};
use super::wording;
use super::{ReplySection, FOLD_ROWS};
use crate::outcome::{ActionOutcome, DispatchError};
use crate::policy::plan::{Action, Decision, Plan, PlanRow, Role, Warning};
use crate::types::Login;

/// What every section needs besides itself.
pub(super) struct Ctx<'a> {
    pub author: &'a Login,
    pub root_url: &'a str,
    pub followed: Option<&'a Followed>,
}

pub(super) fn render(s: &ReplySection, ctx: &Ctx, budget: usize) -> String {
    let mut out = render_inner(s, ctx, budget);
    out.truncate(out.trim_end().len());
    out
}

fn render_inner(s: &ReplySection, ctx: &Ctx, budget: usize) -> String {
    let author = ctx.author;
    match s {
        ReplySection::Help { commands } => help(commands, author),
        ReplySection::Malformed {
            command_text,
            error,
        } => format!(
            "{} by @{} — not run: {}",
            code(command_text),
            author.as_str(),
            sentence(&wording::command_error(error))
        ),
        ReplySection::Planned {
            command_text,
            plan,
            outcomes,
            force_role,
        } => planned(command_text, plan, outcomes, *force_role, ctx, budget),
    }
}

fn help(commands: &[(&str, &str)], author: &Login) -> String {
    let mut out = format!(
        "{} by @{}\n\n| command | what it does |\n|---|---|\n",
        code("/rerunbot help"),
        author.as_str()
    );
    for (usage, summary) in commands {
        out.push_str(&format!("| {} | {} |\n", cell(&code(usage)), cell(summary)));
    }
    out.push_str(
        "\nSelectors are task labels, task names, taskIds or globs (`test-linux*`). Without a selector, `/rerun` takes the failed tasks and `/retrigger` the failed test tasks.",
    );
    out
}

fn planned(
    command_text: &str,
    plan: &Plan,
    outcomes: &[ActionOutcome],
    force_role: Role,
    ctx: &Ctx,
    budget: usize,
) -> String {
    let author = ctx.author;
    let summary = if plan.refusal.is_some() {
        "refused".to_owned()
    } else {
        plural(plan.rows.len(), "task")
    };
    let mut out = format!(
        "{} by @{} — {summary}\n",
        code(command_text),
        author.as_str()
    );
    if let Some(r) = &plan.refusal {
        let e = wording::command_refusal(r, command_text, force_role);
        out.push_str(&format!("\n**Not run:** {}\n", sentence(&e.to_markdown())));
    }
    for u in &plan.unmatched {
        let mut line = format!("\n- {} matches no task", code(&u.selector));
        if !u.suggestions.is_empty() {
            let list: Vec<String> = u.suggestions.iter().map(|s| code(s)).collect();
            line.push_str(&format!("; did you mean {}?", list.join(", ")));
        }
        out.push_str(&line);
    }
    if !plan.unmatched.is_empty() {
        out.push('\n');
    }
    for w in &plan.warnings {
        out.push_str(&format!("\n> ⚠️ {}\n", wording::warning(w)));
    }
    if plan.rows.is_empty() {
        return out;
    }

    // Row warnings go under the table; reserve room for them first.
    let mut notes = String::new();
    for row in &plan.rows {
        for w in row.warnings.iter().filter(|w| shown_below(w)) {
            notes.push_str(&format!(
                "- ⚠️ {}: {}\n",
                code(&row.label),
                wording::warning(w)
            ));
        }
    }
    if notes.len() > budget / 4 {
        let kept: String = notes.lines().take(20).map(|l| format!("{l}\n")).collect();
        let dropped = notes.lines().count().saturating_sub(20);
        notes = format!("{kept}- … and {} more\n", plural(dropped, "warning"));
    }

    let fold = plan.rows.len() > FOLD_ROWS;
    let mut table = String::from("\n| task | state | action | result |\n|---|---|---|---|\n");
    let reserve = out.len() + notes.len() + 400;
    let mut shown = 0;
    for (i, row) in plan.rows.iter().enumerate() {
        let line = table_row(row, outcomes.get(i), force_role, ctx);
        if reserve + table.len() + line.len() > budget {
            break;
        }
        table.push_str(&line);
        shown += 1;
    }
    if shown < plan.rows.len() {
        table.push_str(&format!(
            "\n… and {} not shown (GitHub's comment size limit); see the task group in Taskcluster.\n",
            plural(plan.rows.len() - shown, "more task")
        ));
    }
    if fold {
        out.push_str(&format!(
            "\n<details>\n<summary>{}</summary>\n{table}\n</details>\n",
            counts(plan)
        ));
    } else {
        out.push_str(&table);
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

/// Warnings that need more than the "(forced)" mark in the action column.
fn shown_below(w: &Warning) -> bool {
    !matches!(w, Warning::Forced { .. })
}

/// "300 tasks: 250 to act on, 30 skipped, 20 refused".
fn counts(plan: &Plan) -> String {
    let (mut act, mut skip, mut refuse) = (0, 0, 0);
    for row in &plan.rows {
        match row.decision {
            Decision::Act(_) | Decision::Wait(_) => act += 1,
            Decision::Skip(_) => skip += 1,
            Decision::Refuse(_) => refuse += 1,
        }
    }
    format!(
        "{}: {act} acted on, {skip} skipped, {refuse} refused",
        plural(plan.rows.len(), "task")
    )
}

fn table_row(
    row: &PlanRow,
    outcome: Option<&ActionOutcome>,
    force_role: Role,
    ctx: &Ctx,
) -> String {
    let root_url = ctx.root_url;
    let forced = row
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::Forced { .. }));
    let (action, result) = match &row.decision {
        Decision::Skip(r) => (
            "—".to_owned(),
            format!("skipped: {}", wording::skip(r, row.state)),
        ),
        Decision::Refuse(r) => (
            "—".to_owned(),
            format!(
                "refused: {}",
                wording::refusal(r, &row.label, force_role).to_markdown()
            ),
        ),
        Decision::Wait(w) => {
            let mut action = super::waits::action(w);
            if forced {
                action.push_str(" (forced)");
            }
            let result = match outcome {
                None | Some(ActionOutcome::Pending) => super::waits::waiting(w),
                Some(ActionOutcome::Dropped { reason }) => super::waits::dropped(reason),
                // Fired: the row reads as any rerun's.
                Some(_) => ctx
                    .followed
                    .and_then(|f| live_result(row, &w.action, outcome, root_url, f))
                    .unwrap_or_else(|| self::result(row, outcome, root_url)),
            };
            (action, result)
        }
        Decision::Act(a) => {
            let mut action = wording::action(a);
            if forced {
                action.push_str(" (forced)");
            }
            let result = match ctx.followed {
                Some(followed) => live_result(row, a, outcome, root_url, followed),
                None => None,
            };
            (
                action,
                result.unwrap_or_else(|| self::result(row, outcome, root_url)),
            )
        }
    };
    format!(
        "| {} | {} | {} | {} |\n",
        cell(&task_link(root_url, row.task_id.as_str(), &row.label)),
        row.state.as_str(),
        cell(&action),
        cell(&result)
    )
}

fn result(row: &PlanRow, outcome: Option<&ActionOutcome>, root_url: &str) -> String {
    let links = |ids: &[crate::types::TaskId]| {
        ids.iter()
            .map(|id| short_task_link(root_url, id.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let run = |run_id: &Option<u32>| run_id.map(|r| format!(" (run {r})")).unwrap_or_default();
    match outcome {
        None | Some(ActionOutcome::Pending) => "pending".to_owned(),
        Some(ActionOutcome::Rerun { run_id }) => format!("rerun started{}", run(run_id)),
        Some(ActionOutcome::AlreadyQueued { state }) => {
            format!("already {}: the queue made no new run", code(state))
        }
        Some(ActionOutcome::CancelRerun { run_id }) => {
            format!("canceled, rerun started{}", run(run_id))
        }
        Some(ActionOutcome::Retriggered { task_ids }) => links(task_ids),
        Some(ActionOutcome::Dropped { reason }) => super::waits::dropped(reason),
        Some(ActionOutcome::Triggered { actions }) => triggered(actions, row, root_url, None),
        // Unconfirmed is not failed: what was confirmed is listed first.
        Some(ActionOutcome::Failed {
            error: error @ DispatchError::Unavailable { .. },
            created,
        }) => {
            let reason = wording::dispatch_error(error, &row.label);
            if created.is_empty() {
                format!("not confirmed: {reason}")
            } else {
                format!("{}; the rest not confirmed: {reason}", links(created))
            }
        }
        Some(ActionOutcome::Failed { error, created }) => {
            let mut s = format!("failed: {}", wording::dispatch_error(error, &row.label));
            if !created.is_empty() {
                s.push_str(&format!("; created before the failure: {}", links(created)));
            }
            s
        }
    }
}

/// The action tasks in-tree actions made, in order, each linked (with its
/// mark once followed, and what it made once known): "in-tree action
/// `retrigger` ✅ [Ab1…](…) → ⏳ [Cd2…](…)".
fn triggered(
    actions: &[crate::outcome::TriggeredAction],
    row: &PlanRow,
    root_url: &str,
    followed: Option<&Followed>,
) -> String {
    let parts: Vec<String> = actions
        .iter()
        .map(|a| {
            let link = short_task_link(root_url, a.task_id.as_str());
            let progress = followed.and_then(|f| f.get(&(a.task_id.to_string(), 0)));
            let link = progress.map_or(link.clone(), |p| copy_result(&link, p));
            let made = followed
                .and_then(|f| Some((f, f.made.get(a.task_id.as_str())?)))
                .map(|(f, made)| made_by_action(made, f, row, root_url))
                .unwrap_or_default();
            format!("{} {link}{made}", code(&a.action))
        })
        .collect();
    let noun = if actions.len() == 1 {
        "action"
    } else {
        "actions"
    };
    format!("in-tree {noun} {}", parts.join(", then "))
}

/// What one action task made for this row, each with its mark — a copy
/// linked, a rerun as its run — and how many it made for other rows (one
/// `retrigger-multiple` serves several): " → ✅ [Cd2…](…) (and 2 more
/// copies for other tasks)".
fn made_by_action(made: &[Made], followed: &Followed, row: &PlanRow, root_url: &str) -> String {
    let (mine, others): (Vec<&Made>, Vec<&Made>) = made.iter().partition(|m| m.label == row.label);
    let parts: Vec<String> = mine
        .iter()
        .filter_map(|m| {
            let progress = followed.get(&(m.task_id.clone(), m.run_id))?;
            Some(if m.task_id == row.task_id.as_str() {
                run_result("", m.run_id, progress)
            } else {
                copy_result(&short_task_link(root_url, &m.task_id), progress)
            })
        })
        .collect();
    let mut out = String::new();
    if !parts.is_empty() {
        out = format!(" → {}", parts.join(", "));
    }
    match others.len() {
        0 => {}
        1 => out.push_str(" (and 1 more copy for other tasks)"),
        n => out.push_str(&format!(" (and {n} more copies for other tasks)")),
    }
    out
}

/// The result of an action whose runs are followed: each run with its
/// mark. `None` when nothing of it is followed (not started, or failed to
/// start), so the row reads as when the actions were sent.
fn live_result(
    row: &PlanRow,
    action: &Action,
    outcome: Option<&ActionOutcome>,
    root_url: &str,
    followed: &Followed,
) -> Option<String> {
    let outcome = outcome?;
    if let ActionOutcome::Triggered { actions } = outcome {
        return Some(triggered(actions, row, root_url, Some(followed)));
    }
    let runs = started_runs(&row.task_id, action, outcome);
    let find = |(task, run): &(crate::types::TaskId, u32)| followed.get(&(task.to_string(), *run));
    if !runs.iter().any(|r| find(r).is_some()) {
        return None;
    }
    let parts: Vec<String> = runs
        .iter()
        .map(|r| match (outcome, find(r)) {
            (ActionOutcome::Retriggered { .. }, progress) => {
                let link = short_task_link(root_url, r.0.as_str());
                progress.map_or(link.clone(), |p| copy_result(&link, p))
            }
            (ActionOutcome::CancelRerun { .. }, Some(p)) => run_result("canceled, ", r.1, p),
            (_, Some(p)) => run_result("", r.1, p),
            (_, None) => self::result(row, Some(outcome), root_url),
        })
        .collect();
    Some(parts.join(", "))
}
