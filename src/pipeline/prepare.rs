//! Steps 1–4 of a job (DESIGN.md §3): parse the comment, gather the context
//! (repo config, pull request, commenter's role, tasks) and plan every
//! command. Nothing is dispatched here; the result is stored first.

use super::prepared::{Prepared, PreparedReply, PreparedSection};
use super::{gate, Pipeline, StepError};
use crate::command::{Command, ParseLimits, ParsedComment};
use crate::github::{InstallationClient, PullState, Reaction};
use crate::policy::provenance::{skipped_groups, Expected, SkippedGroup};
use crate::policy::task::{TaskSnapshot, TaskState};
use crate::policy::{Actor, Ledger, Lookups, Outside, PlanInput, PrState};
use crate::repo_config::RepoConfig;
use crate::taskcluster::discovery::{
    discover_tasks_keeping, is_trusted_app, is_trusted_status_creator, CheckRunRef, StatusRef,
};
use crate::types::{CommitSha, DeliveryId, TaskId};
use crate::webhook::event::CommentJob;
use std::collections::BTreeMap;
use tracing::Instrument;

/// What a job has decided before planning.
pub(super) enum Draft {
    /// Nothing to plan (a config or comment error, help, malformed commands).
    Done(Prepared),
    /// Commands to judge against the gathered context; the plan is made
    /// under the commit's planning lock (it reads the ledger).
    ToPlan(Box<Planner>),
}

/// The gathered context of a comment's commands, ready to be planned.
pub(super) struct Planner {
    repo: String,
    config: RepoConfig,
    parsed: ParsedComment,
    context: Context,
    delivery: DeliveryId,
}

/// Everything a job needs to decide, or `None` when the comment holds no
/// command for us (an edit that added none).
pub(super) async fn prepare(
    pipeline: &Pipeline,
    gh: &InstallationClient,
    job: &CommentJob,
    delivery: &DeliveryId,
) -> Result<Option<Draft>, StepError> {
    let repo = job.repo.to_string();
    // Nothing is read from GitHub for a comment that holds no command: the
    // grammar's limits come from the configuration as last read.
    let cached = gh
        .cached_repo_config_text(&job.repo)
        .map(|text| read_config(text.as_deref()));
    let cached_limits = parse_limits(cached.as_ref());
    let parsed = parse(job, &cached_limits);
    if parsed.commands.is_empty() && parsed.error.is_none() {
        return Ok(None);
    }
    // Who is asking, before anything else is spent on the comment.
    let (role, permissions) = gate::role_and_permissions(gh, job, cached.as_ref()).await?;
    let is_author = job
        .pr_author
        .as_str()
        .eq_ignore_ascii_case(job.commenter.as_str());
    if !gate::may_use(role, is_author, &permissions) {
        if !pipeline
            .refusals()
            .allow(job.commenter.as_str(), std::time::Instant::now())
        {
            tracing::info!(%role, "refused again within the window; not answering");
            return Ok(None);
        }
        tracing::info!(%role, "the commenter may run no command here");
        let body = crate::reply::render_not_allowed(
            &job.commenter,
            role,
            gate::needed(&permissions),
            permissions.pr_author_rerun,
        );
        return Ok(Some(Draft::Done(Prepared {
            repo,
            sha: String::new(),
            force_role: permissions.force,
            reply: PreparedReply::Refused { body },
            definitions: BTreeMap::new(),
            skipped_groups: Vec::new(),
            routed: Vec::new(),
        })));
    }
    // Allowed: the configuration as it is now (revalidated when stale).
    let config = read_config(gh.repo_config_text(&job.repo).await?.as_deref());
    // Parsed again only when the limits it depends on changed (a 64 KB
    // comment is not parsed twice for nothing).
    let limits = parse_limits(Some(&config));
    let parsed = if limits == cached_limits {
        parsed
    } else {
        parse(job, &limits)
    };
    // The comment is for us: say so at once, while the context is gathered.
    let eyes = async {
        if let Err(e) = gh
            .add_reaction(&job.repo, job.comment_id, Reaction::Eyes)
            .await
        {
            tracing::warn!(error = %e, "could not add the eyes reaction");
        }
    };
    let text_reply = |body: String, force_role| Prepared {
        repo: repo.clone(),
        sha: String::new(),
        force_role,
        reply: PreparedReply::Text { body },
        definitions: BTreeMap::new(),
        skipped_groups: Vec::new(),
        routed: Vec::new(),
    };
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            eyes.await;
            let body = crate::reply::render_config_error(&job.commenter, &error);
            let force_role = RepoConfig::default().permissions.force;
            return Ok(Some(Draft::Done(text_reply(body, force_role))));
        }
    };
    if let Some(error) = &parsed.error {
        eyes.await;
        let body = crate::reply::render_comment_error(&job.commenter, error);
        return Ok(Some(Draft::Done(text_reply(
            body,
            config.permissions.force,
        ))));
    }
    let needs_tasks = parsed.commands.iter().any(|c| {
        matches!(
            c.result,
            Ok(Command::Rerun { .. } | Command::Retrigger { .. })
        )
    });
    let context = if needs_tasks {
        let ((), context) = tokio::join!(eyes, gather(pipeline, gh, job, &parsed, &config));
        Some(context?)
    } else {
        eyes.await;
        None
    };
    Ok(Some(match context {
        Some(context) => Draft::ToPlan(Box::new(Planner {
            repo,
            config,
            parsed,
            context,
            delivery: delivery.clone(),
        })),
        None => Draft::Done(Planner::sections(
            &repo,
            &config,
            &parsed,
            None,
            delivery,
            Ledger::default(),
        )),
    }))
}

impl Planner {
    /// The commit whose tasks are judged.
    pub(super) fn sha(&self) -> &str {
        self.context.sha.as_str()
    }

    pub(super) fn repo(&self) -> &str {
        &self.repo
    }

    /// Plans every command, given what the ledger recorded for the
    /// commit. Pure: called under the planning lock.
    pub(super) fn finish(&self, recorded: crate::store::Recorded) -> Prepared {
        Self::sections(
            &self.repo,
            &self.config,
            &self.parsed,
            Some(&self.context),
            &self.delivery,
            Ledger {
                reruns_by_task: recorded.reruns_by_task,
                copies: recorded.copies,
                new_tasks_in_comment: 0,
                rerun_in_comment: Default::default(),
            },
        )
    }

    fn sections(
        repo: &str,
        config: &RepoConfig,
        parsed: &ParsedComment,
        context: Option<&Context>,
        delivery: &DeliveryId,
        mut ledger: Ledger,
    ) -> Prepared {
        let now = chrono::Utc::now();
        let mut sections = Vec::new();
        let mut routed = Vec::new();
        for (index, line) in parsed.commands.iter().enumerate() {
            let command_text = line.text.clone();
            let section = match (&line.result, context) {
                (Err(error), _) => PreparedSection::Malformed {
                    command_text,
                    error: error.clone(),
                },
                (Ok(Command::Help), _) => PreparedSection::Help,
                (Ok(command), Some(context)) => {
                    let mut plan = crate::policy::plan(&PlanInput {
                        command,
                        command_text: &command_text,
                        tasks: &context.tasks,
                        actor: &context.actor,
                        config,
                        ledger: &ledger,
                        outside: &context.outside,
                        pr: context.pr,
                        delivery,
                        command_index: index,
                        now,
                    });
                    // In-tree actions or the queue (a refusal when neither
                    // may carry an action out), before the ledger counts it.
                    let plan_index = sections
                        .iter()
                        .filter(|s| matches!(s, PreparedSection::Planned { .. }))
                        .count();
                    routed.extend(crate::dispatch::route::route(
                        &mut plan,
                        plan_index,
                        &crate::dispatch::route::RouteInput {
                            mode: config.dispatch,
                            groups: &context.groups,
                            tasks: &context.tasks,
                        },
                    ));
                    ledger.record(&plan);
                    PreparedSection::Planned { command_text, plan }
                }
                (Ok(_), None) => continue,
            };
            sections.push(section);
        }
        Prepared {
            repo: repo.to_owned(),
            sha: context.map(|c| c.sha.to_string()).unwrap_or_default(),
            force_role: config.permissions.force,
            reply: PreparedReply::Sections { sections },
            // Filled by [`Definitions::fill`]: the copies' sources are read
            // from the queue once the plan names them.
            definitions: BTreeMap::new(),
            skipped_groups: context.map(|c| c.skipped.clone()).unwrap_or_default(),
            routed,
        }
    }
}

fn read_config(text: Option<&str>) -> Result<RepoConfig, crate::repo_config::ConfigError> {
    match text {
        None => Ok(RepoConfig::default()),
        Some(text) => crate::repo_config::parse(text),
    }
}

fn parse_limits(
    config: Option<&Result<RepoConfig, crate::repo_config::ConfigError>>,
) -> ParseLimits {
    ParseLimits {
        max_retrigger: match config {
            Some(Ok(c)) => c.limits.max_retrigger,
            _ => ParseLimits::default().max_retrigger,
        },
    }
}

fn parse(job: &CommentJob, limits: &ParseLimits) -> ParsedComment {
    match (&job.previous_body, job.edited) {
        (Some(before), true) => crate::command::added_commands(before, &job.body, limits),
        _ => crate::command::parse_comment(&job.body, limits),
    }
}

/// What the rules judge a command against.
struct Context {
    pr: PrState,
    sha: CommitSha,
    actor: Actor,
    /// Shared with the commit's listing (see `listings`) when no group was
    /// left out.
    tasks: std::sync::Arc<Vec<TaskSnapshot>>,
    /// What the rules asked to look up beyond the pull request's groups.
    outside: Outside,
    /// Groups the provenance check left out.
    skipped: Vec<SkippedGroup>,
    /// What each group's decision task offers for in-tree actions.
    groups: BTreeMap<String, crate::dispatch::route::GroupActions>,
    /// The definitions the listing kept (small groups only): a copy of one
    /// of their tasks needs no `GET /task`.
    definitions: std::sync::Arc<crate::taskcluster::KeptDefinitions>,
}

async fn gather(
    pipeline: &Pipeline,
    gh: &InstallationClient,
    job: &CommentJob,
    parsed: &ParsedComment,
    config: &RepoConfig,
) -> Result<Context, StepError> {
    let (pull, role) = tokio::try_join!(
        gh.pull_request(&job.repo, job.pr),
        gh.permission(&job.repo, &job.commenter)
    )?;
    let (pr, sha) = match (pull.state, pull.merged, pull.merge_commit_sha) {
        (_, true, Some(merge)) => (PrState::Merged, merge),
        (PullState::Closed, _, _) => (PrState::Closed, pull.head_sha),
        _ => (PrState::Open, pull.head_sha),
    };
    let actor = Actor {
        login: job.commenter.clone(),
        role,
        is_pr_author: pull.author == job.commenter,
    };
    let (tasks, skipped, definitions) = if pr == PrState::Closed {
        Default::default()
    } else {
        let repo = job.repo.to_string();
        let found = pipeline
            .listings()
            .get_or_list(&repo, sha.as_str(), || {
                find_tasks(pipeline, gh, &job.repo, &sha)
            })
            .await?;
        // An open pull request's author without the rerun role acts through
        // `pr_author_rerun`, which covers the pull request's own graphs only.
        let pr_only =
            pr == PrState::Open && actor.is_pr_author && actor.role < config.permissions.rerun;
        let expected = Expected {
            repo: &repo,
            sha: sha.as_str(),
        };
        let skipped = skipped_groups(&found.tasks, expected, pr_only);
        let tasks = if skipped.is_empty() {
            found.tasks
        } else {
            let kept = found
                .tasks
                .iter()
                .filter(|t| !skipped.iter().any(|s| s.group == t.task_group_id))
                .cloned()
                .collect();
            std::sync::Arc::new(kept)
        };
        (tasks, skipped, found.definitions)
    };
    let wanted = crate::policy::lookups(parsed.valid().map(|(_, c)| c), &tasks, config);
    let queue = pipeline.queue_for(&job.repo);
    let (outside, groups) = tokio::join!(
        look_up(&queue, wanted),
        super::actions::gather_actions(&queue, config.dispatch, &tasks)
    );
    Ok(Context {
        pr,
        sha,
        actor,
        tasks,
        outside,
        skipped,
        groups: groups?,
        definitions,
    })
}

/// Does the lookups the rules asked for (Firefox CI tasks often depend on
/// cached docker-image and toolchain tasks of older groups; a release task
/// is a leaf only when no task of any group depends on it). One call each,
/// concurrently; one that fails is left out: an unknown dependency counts
/// as unresolved, unknown dependents as none beyond the group's own.
async fn look_up(queue: &crate::taskcluster::QueueClient, wanted: Lookups) -> Outside {
    enum Found {
        State(TaskId, Option<TaskState>),
        Dependents(TaskId, Option<Vec<TaskId>>),
    }
    let mut calls = tokio::task::JoinSet::new();
    for id in wanted.statuses {
        let queue = queue.clone();
        calls.spawn(
            async move {
                let state = queue.status(&id).await.ok().and_then(|s| {
                    serde_json::from_value::<TaskState>(s.get("state")?.clone()).ok()
                });
                Found::State(id, state)
            }
            .in_current_span(),
        );
    }
    for id in wanted.dependents {
        let queue = queue.clone();
        calls.spawn(
            async move {
                let list = queue.dependent_tasks(&id).await.ok();
                Found::Dependents(id, list)
            }
            .in_current_span(),
        );
    }
    let mut outside = Outside::default();
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(Found::State(id, Some(state))) => {
                outside.states.insert(id, state);
            }
            Ok(Found::Dependents(id, Some(list))) => {
                outside.dependents.insert(id, list);
            }
            _ => {}
        }
    }
    outside
}

/// Check runs first (taskcluster-github's current reporting); commit
/// statuses only when the check runs name no task, to save a call. Also
/// how automatic reruns and `supervise --pr` find a pull request's tasks.
pub(crate) async fn find_tasks(
    pipeline: &Pipeline,
    gh: &InstallationClient,
    repo: &crate::types::RepoName,
    sha: &CommitSha,
) -> Result<crate::taskcluster::Discovered, StepError> {
    let root = pipeline.root_url();
    let app = pipeline.taskcluster_app();
    let mut runs = gh.check_runs(repo, sha).await?;
    // Only the Taskcluster app's check runs and statuses name tasks: any
    // other app could point `details_url` at another project's task.
    runs.retain(|c| is_trusted_app(c.app_slug(), app));
    // The decision task's id is its group's id: discovery tries it first.
    runs.sort_by_key(|c| !c.name.to_ascii_lowercase().contains("decision"));
    let checks: Vec<CheckRunRef> = runs
        .into_iter()
        .filter(|c| &c.head_sha == sha)
        .map(|c| CheckRunRef {
            external_id: c.external_id,
            details_url: c.details_url,
        })
        .collect();
    let statuses: Vec<StatusRef> =
        if crate::taskcluster::discovery::task_ids_from_checks(root, &checks).is_empty() {
            gh.statuses(repo, sha)
                .await?
                .into_iter()
                .filter(|s| is_trusted_status_creator(s.creator_login(), app))
                .map(|s| StatusRef {
                    target_url: s.target_url,
                })
                .collect()
        } else {
            Vec::new()
        };
    let queue = pipeline.queue_for(repo);
    Ok(discover_tasks_keeping(&queue, root, &checks, &statuses).await?)
}

/// Definitions of tasks to copy read from the queue at once.
const DEFINITION_READS_IN_FLIGHT: usize = 16;

/// The full definitions of the tasks a plan copies, taken from the pages
/// the listing kept or else read from the queue (`GET /task/<id>`), only
/// for those tasks: snapshots keep no definition. Kept across planning
/// attempts of one job, so planning again (the ledger moved) reads only
/// sources it did not read yet.
pub(super) struct Definitions {
    sources: BTreeMap<TaskId, serde_json::Value>,
    listed: std::sync::Arc<crate::taskcluster::KeptDefinitions>,
}

impl Definitions {
    /// Definitions for `planner`'s copies, first from its listing.
    pub(super) fn of(planner: &Planner) -> Self {
        Self {
            sources: BTreeMap::new(),
            listed: planner.context.definitions.clone(),
        }
    }

    /// Puts the exact definition of every retrigger copy into `prepared`.
    /// A source the queue no longer has (or whose definition cannot be
    /// copied) is left out, as before dispatch reports it; an unreachable
    /// queue fails the step (the job is retried).
    pub(super) async fn fill(
        &mut self,
        queue: &crate::taskcluster::QueueClient,
        prepared: &mut Prepared,
    ) -> Result<(), StepError> {
        let copies: Vec<(TaskId, Vec<TaskId>)> = prepared
            .plans()
            .flat_map(|plan| plan.actions())
            .filter_map(|(row, action)| match action {
                crate::policy::Action::Retrigger { copies } => {
                    Some((row.task_id.clone(), copies.clone()))
                }
                _ => None,
            })
            .collect();
        self.read(queue, copies.iter().map(|(source, _)| source))
            .await?;
        let now = chrono::Utc::now();
        for (source, copies) in copies {
            let Some(original) = self.sources.get(&source) else {
                continue;
            };
            match crate::taskcluster::retrigger_definition(original, now) {
                Ok(definition) => {
                    for copy in copies {
                        prepared
                            .definitions
                            .insert(copy.to_string(), definition.clone());
                    }
                }
                Err(e) => tracing::warn!(task = %source, error = %e, "cannot copy task definition"),
            }
        }
        Ok(())
    }

    /// Reads the definitions not read yet, a few at a time.
    async fn read<'a>(
        &mut self,
        queue: &crate::taskcluster::QueueClient,
        wanted: impl Iterator<Item = &'a TaskId>,
    ) -> Result<(), StepError> {
        let mut wanted: std::collections::BTreeSet<TaskId> = wanted
            .filter(|id| !self.sources.contains_key(*id))
            .cloned()
            .collect();
        for (id, definition) in self.listed.definitions(&wanted) {
            wanted.remove(&id);
            self.sources.insert(id, definition);
        }
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(DEFINITION_READS_IN_FLIGHT));
        let mut calls = tokio::task::JoinSet::new();
        for id in wanted {
            let (queue, permits) = (queue.clone(), permits.clone());
            calls.spawn(
                async move {
                    let _permit = permits.acquire_owned().await;
                    let read = queue.task(&id).await;
                    (id, read)
                }
                .in_current_span(),
            );
        }
        let mut failure = None;
        while let Some(joined) = calls.join_next().await {
            let Ok((id, read)) = joined else { continue };
            match read {
                Ok(definition) => {
                    self.sources.insert(id, definition);
                }
                Err(e @ crate::taskcluster::QueueError::Unavailable { .. }) => failure = Some(e),
                Err(e) => tracing::warn!(task = %id, error = %e, "cannot read the task to copy"),
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}
