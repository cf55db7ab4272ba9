//! `rerunbot supervise` (DESIGN.md §13, ReSim's `batches supervise`): follow
//! one task group to the end, rerun its matching failures within limits
//! (the pure rules are [`crate::policy::supervise`]), and end with an exit
//! code a CI step can use. What happens is told to a [`Reporter`]: JSON
//! lines (`--json`), a progress bar on a terminal, or plain lines.

use crate::policy::supervise::{counts, judge, Exit, SuperviseRules, Verdict};
use crate::policy::task::TaskSnapshot;
use crate::taskcluster::QueueClient;
use crate::types::{TaskGroupId, TaskId};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;
use tokio::time::Instant;

/// One supervision.
#[derive(Clone, Debug)]
pub struct Supervise {
    pub group: TaskGroupId,
    pub rules: SuperviseRules,
    pub poll_every: Duration,
    pub wait_timeout: Duration,
}

/// Something supervise tells.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// The group after one look: tasks by state.
    Status {
        total: usize,
        counts: BTreeMap<&'static str, usize>,
    },
    /// A task was rerun (`attempt` of `max`), or the queue refused.
    Rerun {
        task_id: String,
        label: String,
        attempt: u32,
        error: Option<String>,
    },
    /// The end.
    Exit { exit: Exit, reason: String },
}

/// Where reports go.
pub trait Reporter: Send {
    fn report(&mut self, report: &Report);
}

/// Collects reports (tests, and callers that render them later).
impl Reporter for Vec<Report> {
    fn report(&mut self, report: &Report) {
        self.push(report.clone());
    }
}

/// Follows the group until it resolves with nothing left to rerun, or the
/// timeout passes. Time is tokio's.
pub async fn supervise(queue: &QueueClient, s: &Supervise, out: &mut dyn Reporter) -> Exit {
    let deadline = Instant::now() + s.wait_timeout;
    let mut attempts: BTreeMap<TaskId, u32> = BTreeMap::new();
    loop {
        let tasks = match queue.list_task_group(&s.group).await {
            Ok(tasks) => tasks,
            Err(e) => {
                return stop(
                    out,
                    Exit::Internal,
                    format!("cannot read the task group: {e}"),
                )
            }
        };
        out.report(&Report::Status {
            total: tasks.len(),
            counts: counts(&tasks),
        });
        match judge(&tasks, &attempts, &s.rules) {
            Verdict::Wait => {}
            Verdict::Stop(exit, reason) => return stop(out, exit, reason),
            Verdict::Rerun(ids) => rerun(queue, &tasks, &ids, &mut attempts, out).await,
        }
        let now = Instant::now();
        if now >= deadline {
            return stop(
                out,
                Exit::TimedOut,
                format!("the task group did not resolve within {:?}", s.wait_timeout),
            );
        }
        tokio::time::sleep(s.poll_every.min(deadline - now)).await;
    }
}

fn stop(out: &mut dyn Reporter, exit: Exit, reason: String) -> Exit {
    out.report(&Report::Exit { exit, reason });
    exit
}

/// Reruns each task once; a refusal counts as an attempt, so it is not
/// asked again and again.
async fn rerun(
    queue: &QueueClient,
    tasks: &[TaskSnapshot],
    ids: &[TaskId],
    attempts: &mut BTreeMap<TaskId, u32>,
    out: &mut dyn Reporter,
) {
    for id in ids {
        let attempt = attempts.entry(id.clone()).or_default();
        *attempt += 1;
        let error = queue.rerun_task(id).await.err().map(|e| e.to_string());
        let label = tasks
            .iter()
            .find(|t| t.task_id == *id)
            .map(|t| t.label.to_string())
            .unwrap_or_default();
        out.report(&Report::Rerun {
            task_id: id.to_string(),
            label,
            attempt: *attempt,
            error,
        });
    }
}

/// JSON lines on stdout, one per report.
pub struct JsonLines;

impl Reporter for JsonLines {
    fn report(&mut self, report: &Report) {
        let line = match report {
            Report::Status { total, counts } => {
                json!({"event": "status", "total": total, "states": counts})
            }
            Report::Rerun {
                task_id,
                label,
                attempt,
                error,
            } => {
                json!({"event": "rerun", "taskId": task_id, "label": label, "attempt": attempt, "error": error})
            }
            Report::Exit { exit, reason } => {
                json!({"event": "exit", "code": exit.code(), "reason": reason})
            }
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

/// A progress bar on a terminal (resolved tasks of all), reruns printed
/// above it; plain lines on stderr when it is not a terminal.
pub struct Terminal {
    bar: Option<ProgressBar>,
}

impl Terminal {
    pub fn new() -> Self {
        use std::io::IsTerminal as _;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed}] {bar:30} {pos}/{len} resolved  {msg}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Terminal { bar }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Terminal {
    fn report(&mut self, report: &Report) {
        match report {
            Report::Status { total, counts } => {
                let summary = counts
                    .iter()
                    .map(|(state, n)| format!("{state} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                match &self.bar {
                    Some(bar) => {
                        let open = ["pending", "running", "unscheduled"]
                            .iter()
                            .map(|s| counts.get(s).copied().unwrap_or(0))
                            .sum::<usize>();
                        bar.set_length(*total as u64);
                        bar.set_position(total.saturating_sub(open) as u64);
                        bar.set_message(summary);
                    }
                    None => eprintln!("{total} tasks: {summary}"),
                }
            }
            Report::Rerun {
                task_id,
                label,
                attempt,
                error,
            } => self.line(&match error {
                None => format!("rerun {label} ({task_id}), attempt {attempt}"),
                Some(e) => format!("rerun {label} ({task_id}) refused: {e}"),
            }),
            Report::Exit { exit, reason } => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
                eprintln!("exit {}: {reason}", exit.code());
            }
        }
    }
}

/// `rerunbot supervise` flags (DESIGN.md §13).
#[derive(clap::Args, Debug)]
pub struct SuperviseArgs {
    /// The task group to follow
    #[arg(long)]
    pub task_group: Option<String>,
    /// A repository (owner/name), with --pr: its pull request's task group
    #[arg(long)]
    pub repo: Option<String>,
    /// A pull request number, with --repo
    #[arg(long)]
    pub pr: Option<u64>,
    /// Reruns of one task at most
    #[arg(long, default_value_t = 1)]
    pub max_rerun_attempts: u32,
    /// Rerun nothing when more than this share of the tasks failed (1-100)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rerun_max_failure_percent: u32,
    /// Failure states to rerun (comma-separated: failed, exception)
    #[arg(long, default_value = "failed,exception", value_delimiter = ',', value_parser = parse_state)]
    pub rerun_on_states: Vec<crate::policy::task::TaskState>,
    /// Only tasks whose label matches this glob (repeatable)
    #[arg(long)]
    pub tasks: Vec<String>,
    /// How often the group is looked at (e.g. 30s, 2m)
    #[arg(long, default_value = "30s", value_parser = parse_flag_duration)]
    pub poll_every: Duration,
    /// Give up (exit 6) when the group has not resolved by then
    #[arg(long, default_value = "1h", value_parser = parse_flag_duration)]
    pub wait_timeout: Duration,
    /// JSON lines on stdout instead of a progress display
    #[arg(long)]
    pub json: bool,
}

fn parse_state(text: &str) -> Result<crate::policy::task::TaskState, String> {
    use crate::policy::task::TaskState;
    match text.trim() {
        "failed" => Ok(TaskState::Failed),
        "exception" => Ok(TaskState::Exception),
        other => Err(format!("{other}: expected failed or exception")),
    }
}

fn parse_flag_duration(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text}: expected a duration such as 30s, 2m, 1h"))
}

/// Runs `rerunbot supervise` with the Taskcluster settings of the
/// environment (`TASKCLUSTER_ROOT_URL`, `TASKCLUSTER_CLIENT_ID`,
/// `TASKCLUSTER_ACCESS_TOKEN`); returns the exit code.
pub async fn run_cli(args: SuperviseArgs) -> Exit {
    let mut out: Box<dyn Reporter> = if args.json {
        Box::new(JsonLines)
    } else {
        Box::new(Terminal::new())
    };
    let target = match (&args.task_group, &args.repo, args.pr) {
        (Some(group), None, None) => Ok(TaskGroupId::new(group.clone())),
        (None, Some(repo), Some(pr)) => Err((repo.clone(), pr)),
        _ => {
            return stop(
                &mut *out,
                Exit::Internal,
                "pass --task-group ID (or --repo O/R with --pr N)".to_owned(),
            )
        }
    };
    let Some(root) = std::env::var("TASKCLUSTER_ROOT_URL")
        .ok()
        .filter(|r| !r.is_empty())
    else {
        return stop(
            &mut *out,
            Exit::Internal,
            "TASKCLUSTER_ROOT_URL is required but not set".to_owned(),
        );
    };
    let credentials = match (
        std::env::var("TASKCLUSTER_CLIENT_ID"),
        std::env::var("TASKCLUSTER_ACCESS_TOKEN"),
    ) {
        (Ok(client_id), Ok(token)) => Some(crate::config::TaskclusterCredentials {
            client_id,
            access_token: crate::config::Secret::new(token),
            certificate: std::env::var("TASKCLUSTER_CERTIFICATE")
                .ok()
                .map(crate::config::Secret::new),
        }),
        _ => None,
    };
    let root = root.trim_end_matches('/');
    let queue = QueueClient::new(root, credentials);
    let groups = match target {
        Ok(group) => vec![group],
        Err((repo, pr)) => {
            match super::supervise_pr::groups_of_pr(&repo, pr, root, queue.clone()).await {
                Ok(groups) => groups,
                Err(reason) => return stop(&mut *out, Exit::Internal, reason),
            }
        }
    };
    let mut s = Supervise {
        group: TaskGroupId::new(String::new()),
        rules: SuperviseRules {
            max_attempts: args.max_rerun_attempts,
            max_failure_percent: args.rerun_max_failure_percent,
            on_states: args.rerun_on_states,
            tasks: args.tasks,
        },
        poll_every: args.poll_every,
        wait_timeout: args.wait_timeout,
    };
    // A pull request's groups one after the other; the first that does not
    // end with every task completed decides the exit code.
    let mut exit = Exit::Completed;
    for group in groups {
        s.group = group;
        exit = supervise(&queue, &s, &mut *out).await;
        if exit != Exit::Completed {
            break;
        }
    }
    exit
}
