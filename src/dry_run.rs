//! `rerunbot plan`: a dry run for maintainers. Reads `listTaskGroup` JSON
//! files, a comment, a role and optionally a repo config, and prints what
//! the bot would do — as a table or as JSON — touching no service.

use crate::command::{ParseLimits, ParsedComment};
use crate::policy::plan::*;
use crate::policy::task::TaskSnapshot;
use crate::policy::{plan, Actor, Ledger, PlanInput, PrState};
use crate::reply::wording;
use crate::repo_config::{self, RepoConfig};
use crate::taskcluster::snapshot::snapshots_from_list;
use crate::types::{DeliveryId, Login};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::path::PathBuf;

/// The parser: `crate::command::parse_comment`, passed in by the caller.
pub type ParseFn = fn(&str, &ParseLimits) -> ParsedComment;

/// `rerunbot plan --tasks GROUP.json... --comment TEXT [--role ROLE]
/// [--pr-author] [--config FILE] [--json]`.
#[derive(Clone, Debug)]
pub struct DryRunArgs {
    pub tasks: Vec<PathBuf>,
    pub comment: String,
    /// The commenter's role (the CLI's default is `write`).
    pub role: Role,
    pub pr_author: bool,
    pub config: Option<PathBuf>,
    pub json: bool,
    /// The clock the deadlines are judged against (the CLI passes now).
    pub now: DateTime<Utc>,
}

/// Exit code 0 with the plan; 1 with a message when a file cannot be read
/// or the configuration is invalid. Malformed commands are part of the
/// answer (exit 0), printed as the reply would show them.
pub fn run(args: &DryRunArgs, parse: ParseFn) -> (i32, String) {
    let config = match &args.config {
        None => RepoConfig::default(),
        Some(path) => match std::fs::read_to_string(path) {
            Err(e) => return (1, format!("{}: cannot read: {e}", path.display())),
            Ok(text) => match repo_config::parse(&text) {
                Ok(c) => c,
                Err(mut e) => {
                    e.path = path.display().to_string();
                    return (1, e.to_string());
                }
            },
        },
    };
    let mut tasks: Vec<TaskSnapshot> = Vec::new();
    for path in &args.tasks {
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
            .and_then(|v| snapshots_from_list(&v).map_err(|e| e.to_string()));
        match read {
            Ok(list) => tasks.extend(list),
            Err(e) => return (1, format!("{}: {e}", path.display())),
        }
    }
    let parsed = parse(
        &args.comment,
        &ParseLimits {
            max_retrigger: config.limits.max_retrigger,
        },
    );
    let actor = Actor {
        login: Login::new("dry-run"),
        role: args.role,
        is_pr_author: args.pr_author,
    };
    let delivery = DeliveryId::new("dry-run");
    let mut ledger = Ledger::default();
    let force_role = config.permissions.force;
    let mut entries = Vec::new();
    let mut text = String::new();
    if let Some(e) = &parsed.error {
        let message = wording::comment_error(e);
        if args.json {
            return (0, json!({ "error": message }).to_string());
        }
        return (0, format!("not run: {message}\n"));
    }
    if parsed.commands.is_empty() {
        text.push_str("no command in the comment\n");
    }
    for (index, line) in parsed.commands.iter().enumerate() {
        let command = match &line.result {
            Err(e) => {
                let message = wording::command_error(e);
                entries.push(json!({ "command": line.text, "error": message }));
                text.push_str(&format!("{}\n  not run: {message}\n\n", line.text));
                continue;
            }
            Ok(c) => c,
        };
        let p = plan(&PlanInput {
            command,
            command_text: &line.text,
            tasks: &tasks,
            actor: &actor,
            config: &config,
            ledger: &ledger,
            pr: PrState::Open,
            delivery: &delivery,
            outside: &Default::default(),
            command_index: index,
            now: args.now,
        });
        ledger.record(&p);
        entries.push(plan_json(&line.text, &p, force_role));
        text.push_str(&plan_text(&line.text, &p, force_role));
    }
    if args.json {
        let out = json!({ "commands": entries });
        (
            0,
            serde_json::to_string_pretty(&out).unwrap_or_else(|e| e.to_string()),
        )
    } else {
        (0, text)
    }
}

/// decision name, count, reason, suggestion of one row.
fn describe(row: &PlanRow, force_role: Role) -> (&'static str, usize, String, Option<String>) {
    match &row.decision {
        Decision::Act(a) => {
            let name = match a {
                Action::Rerun { .. } => "rerun",
                Action::CancelRerun { .. } => "cancel-rerun",
                Action::Retrigger { .. } => "retrigger",
            };
            (name, a.new_tasks().max(1), String::new(), None)
        }
        Decision::Wait(w) => ("wait", 1, crate::reply::waits::waiting(w), None),
        Decision::Skip(r) => ("skip", 0, wording::skip(r, row.state), None),
        Decision::Refuse(r) => {
            let e = wording::refusal(r, &row.label, force_role);
            ("refuse", 0, e.reason, e.instead.map(|s| s.command))
        }
    }
}

fn plan_json(command: &str, p: &Plan, force_role: Role) -> serde_json::Value {
    let refusal = p.refusal.as_ref().map(|r| {
        let e = wording::command_refusal(r, command, force_role);
        json!({ "reason": e.reason, "suggestion": e.instead.map(|s| s.command) })
    });
    let tasks: Vec<_> = p
        .rows
        .iter()
        .map(|row| {
            let (decision, count, reason, suggestion) = describe(row, force_role);
            json!({
                "task_id": row.task_id,
                "label": row.label,
                "class": row.class.as_str(),
                "state": row.state.as_str(),
                "decision": decision,
                "count": count,
                "reason": reason,
                "suggestion": suggestion,
                "warnings": row.warnings.iter().map(wording::warning).collect::<Vec<_>>(),
                "new_task_ids": match &row.decision {
                    Decision::Act(Action::Retrigger { copies }) => copies.clone(),
                    _ => Vec::new(),
                },
            })
        })
        .collect();
    json!({
        "command": command,
        "refusal": refusal,
        "warnings": p.warnings.iter().map(wording::warning).collect::<Vec<_>>(),
        "unmatched": p.unmatched,
        "tasks": tasks,
    })
}

/// A plan as a plain-text table (the dry run's output; `demo` prints it too).
pub fn plan_text(command: &str, p: &Plan, force_role: Role) -> String {
    let mut out = format!("{command}\n");
    if let Some(r) = &p.refusal {
        out.push_str(&format!(
            "  not run: {}\n",
            wording::command_refusal(r, command, force_role).to_markdown()
        ));
    }
    for u in &p.unmatched {
        out.push_str(&format!("  `{}` matches no task", u.selector));
        if !u.suggestions.is_empty() {
            out.push_str(&format!("; did you mean {}?", u.suggestions.join(", ")));
        }
        out.push('\n');
    }
    for w in &p.warnings {
        out.push_str(&format!("  warning: {}\n", wording::warning(w)));
    }
    if !p.rows.is_empty() {
        let header = ["TASK ID", "LABEL", "CLASS", "DECISION", "COUNT", "REASON"];
        let mut lines: Vec<[String; 6]> = vec![header.map(str::to_owned)];
        for row in &p.rows {
            let (decision, count, reason, suggestion) = describe(row, force_role);
            let mut reason = reason;
            if let Some(s) = suggestion {
                reason.push_str(&format!(" (instead: {s})"));
            }
            for w in &row.warnings {
                reason.push_str(&format!(" [warning: {}]", wording::warning(w)));
            }
            lines.push([
                row.task_id.to_string(),
                row.label.clone(),
                row.class.as_str().to_owned(),
                decision.to_owned(),
                count.to_string(),
                reason.trim().to_owned(),
            ]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for l in &lines {
            let mut s = String::from("  ");
            for (c, w) in widths.iter().enumerate() {
                s.push_str(&format!("{:<w$}  ", l[c], w = *w));
            }
            s.push_str(&l[5]);
            out.push_str(s.trim_end());
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
