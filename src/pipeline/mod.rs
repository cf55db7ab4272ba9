//! One job from event to reply (DESIGN.md §3): prepare (parse, context,
//! plan) → store the plan → dispatch → store the outcome → reply, edited in
//! place → reaction. Every step is safe to repeat: a retried job reuses the
//! stored plan and the stored reply comment.

pub(crate) mod actions;
mod gate;
pub mod listings;
pub(crate) mod prepare;
pub mod prepared;

use crate::dispatch::{dispatch_job, Memory, Outcomes, DEFAULT_CONCURRENCY};
use crate::github::{GithubApp, GithubError, Reaction};
use crate::outcome::{ActionOutcome, DispatchError};
use crate::policy::Decision;
use crate::reply::{ReplyInput, ReplySection};
use crate::store::{Claim, NewWatch, PlanSaved, PlannedAction, PlannedJob, Store, StoreError};
use crate::taskcluster::{QueueClient, QueueError};
use crate::types::{CommentId, DeliveryId};
use crate::webhook::event::CommentJob;
use crate::worker::{JobError, JobFuture, JobHandler, JobSubject};
use prepared::{Prepared, PreparedReply, PreparedSection};
use std::sync::Arc;
use std::time::Duration;

/// How many times a job plans again when other plans for its commit keep
/// being stored first (then the job is retried later).
const MAX_PLAN_ATTEMPTS: usize = 5;

/// The job handler for comment jobs.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    github: GithubApp,
    queue: QueueClient,
    root_url: String,
    /// Slug of the GitHub App trusted to name tasks (DESIGN.md §12).
    taskcluster_app: String,
    concurrency: usize,
    /// Refusal replies per person (see `gate`).
    refusals: gate::RefusalLimiter,
    /// Discovered tasks shared by the jobs of one commit for a short time.
    listings: listings::Listings,
}

/// A step failed; retryable or not.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("GitHub: {0}")]
    Github(#[from] GithubError),
    #[error("Taskcluster: {0}")]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job's stored state cannot be used; retrying will not help.
    #[error("{0}")]
    Corrupt(String),
}

impl From<StepError> for JobError {
    fn from(error: StepError) -> Self {
        if let StepError::Github(GithubError::RateLimited { wait, .. }) = &error {
            // Come back after the limit resets, not at the next backoff step.
            return JobError::RetryAfter(error.to_string(), *wait);
        }
        let retry = match &error {
            StepError::Github(e) => e.is_retryable(),
            StepError::Queue(e) => matches!(e, QueueError::Unavailable { .. }),
            StepError::Store(_) => true,
            StepError::Corrupt(_) => false,
        };
        if retry {
            JobError::Retry(error.to_string())
        } else {
            JobError::Permanent(error.to_string())
        }
    }
}

impl Pipeline {
    pub fn new(github: GithubApp, queue: QueueClient, root_url: &str) -> Self {
        Self::with_taskcluster_app(
            github,
            queue,
            root_url,
            crate::config::DEFAULT_TASKCLUSTER_APP,
        )
    }

    /// Like [`Pipeline::new`], trusting the check runs and statuses of the
    /// GitHub App `taskcluster_app` (its slug) to name tasks.
    pub fn with_taskcluster_app(
        github: GithubApp,
        queue: QueueClient,
        root_url: &str,
        taskcluster_app: &str,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                github,
                queue,
                root_url: root_url.trim_end_matches('/').to_owned(),
                taskcluster_app: taskcluster_app.to_owned(),
                concurrency: DEFAULT_CONCURRENCY,
                refusals: gate::RefusalLimiter::default(),
                listings: listings::Listings::default(),
            }),
        }
    }

    pub(crate) fn taskcluster_app(&self) -> &str {
        &self.inner.taskcluster_app
    }

    pub(crate) fn root_url(&self) -> &str {
        &self.inner.root_url
    }

    pub(crate) fn refusals(&self) -> &gate::RefusalLimiter {
        &self.inner.refusals
    }

    pub(crate) fn listings(&self) -> &listings::Listings {
        &self.inner.listings
    }

    /// The queue client for reads that concern no repository in particular
    /// (follow-through's status polls): restricted to no scopes at all, so
    /// it can read but never change anything.
    pub(crate) fn queue(&self) -> QueueClient {
        if self.inner.queue.has_authorized_scopes_template() {
            self.inner.queue.clone().with_authorized_scopes(Vec::new())
        } else {
            self.inner.queue.clone()
        }
    }

    /// The queue client restricted to `repo`'s scopes (Hawk
    /// `authorizedScopes`, DESIGN.md §12): every queue call of a job goes
    /// through it.
    pub(crate) fn queue_for(&self, repo: &crate::types::RepoName) -> QueueClient {
        self.inner.queue.for_repository(&repo.owner, &repo.name)
    }

    /// The client hook triggers go through: the app's own credentials,
    /// bounded instead by the `in-tree:hook-action` check of the decision
    /// task's scopes made when the action was routed (DESIGN.md §8).
    pub(crate) fn hooks(&self) -> &QueueClient {
        &self.inner.queue
    }

    pub(crate) fn github(&self) -> &GithubApp {
        &self.inner.github
    }

    async fn run(&self, store: Store, claim: Claim) -> Result<(), StepError> {
        let job: CommentJob = match serde_json::from_str(&claim.job.payload) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(error = %e, "unreadable job payload; dropping it");
                return Ok(());
            }
        };
        let gh = self.inner.github.installation(job.installation);
        let delivery = DeliveryId::new(claim.job.delivery_id.clone());
        // A stored plan that cannot be read is never replaced by a new one:
        // that could create tasks the first plan did not name.
        let stored = match claim.job.plan.as_deref() {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<Prepared>(text)
                    .map_err(|e| StepError::Corrupt(format!("stored plan unreadable: {e}")))?,
            ),
        };
        let resumed = stored.is_some();
        let prepared = match stored {
            Some(prepared) => prepared,
            None => match self.decide(&store, &claim, &gh, &job, &delivery).await? {
                Some(prepared) => prepared,
                None => {
                    tracing::info!("no command for us in this comment");
                    return Ok(());
                }
            },
        };
        // What earlier attempts confirmed is kept, never asked again: a
        // later outage cannot turn a confirmed action into a failure.
        let memory = if resumed {
            Memory::resumed(crate::dispatch::recorded(&store, claim.job.id).await?)
        } else {
            Memory::first_attempt()
        };
        // Hook triggers are bounded by the `in-tree:hook-action` check
        // (routing), not by the repository's `authorizedScopes`: they go
        // with the client's own scopes (`hooks:trigger-hook:...`).
        let dispatched = dispatch_job(
            &self.queue_for(&job.repo),
            self.hooks(),
            &prepared,
            &memory.recording(&store, &claim),
            self.inner.concurrency,
            &claim.hold,
        )
        .await;
        if prepared.plans().any(|plan| plan.actions().next().is_some()) {
            // Our own reruns and copies change the graph: the next command
            // on this commit lists it afresh.
            self.inner.listings.forget(&prepared.repo, &prepared.sha);
        }
        if !claim.hold.is_held() {
            return Err(StoreError::LeaseLost.into());
        }
        let outcomes = dispatched.outcomes;
        store.save_outcome(&claim, &to_json(&outcomes)?).await?;
        if let Some(message) = dispatched.unconfirmed.first() {
            // A reply now could only say "not confirmed": the job runs
            // again, sending or checking only the units still unconfirmed,
            // and answers then (or, once the retry budget is spent, with
            // what is known: see `give_up`).
            return Err(QueueError::Unavailable {
                message: message.clone(),
            }
            .into());
        }
        // Follow what was started (DESIGN.md §13); checked at once, which
        // also learns each run's task group.
        store
            .add_watches(
                claim.job.id,
                &watches_for(&prepared, &outcomes),
                Duration::ZERO,
            )
            .await?;
        // Actions that wait (DESIGN.md §13), and the runs they wait on.
        let (waits, waited_on) = crate::follow::waits::waits_for(&prepared, &outcomes);
        store
            .add_watches(claim.job.id, &waited_on, Duration::ZERO)
            .await?;
        store.add_waits(claim.job.id, &waits).await?;
        let (body, reaction) = self.render(&job, &prepared, &outcomes, None);
        let marker = crate::reply::delivery_marker(delivery.as_str());
        let body = format!("{body}\n\n{marker}");
        // The reply and the final reaction are independent: send both at once.
        let react = async {
            match reaction {
                Some(reaction) => gh.add_reaction(&job.repo, job.comment_id, reaction).await,
                None => Ok(()),
            }
        };
        let (replied, reacted) = tokio::join!(
            post_reply(&gh, &store, &claim, &job, &body, &marker, resumed),
            react
        );
        replied?;
        reacted?;
        // A watched run that resolved before the reply existed is shown by
        // the next live edit.
        store.reply_posted(claim.job.id).await?;
        tracing::info!(
            reaction = reaction.map_or("none", Reaction::as_str),
            "replied"
        );
        Ok(())
    }

    /// Prepares the job and stores its plan (under the commit's planning
    /// lock when it has commands to judge). `None`: nothing for us.
    async fn decide(
        &self,
        store: &Store,
        claim: &Claim,
        gh: &crate::github::InstallationClient,
        job: &CommentJob,
        delivery: &DeliveryId,
    ) -> Result<Option<Prepared>, StepError> {
        let Some(draft) = prepare::prepare(self, gh, job, delivery).await? else {
            return Ok(None);
        };
        let prepared = match draft {
            prepare::Draft::Done(prepared) => {
                store.save_plan(claim, &to_json(&prepared)?).await?;
                prepared
            }
            prepare::Draft::ToPlan(planner) => {
                self.plan_and_save(store, claim, &job.repo, &planner)
                    .await?
            }
        };
        Ok(Some(prepared))
    }

    /// Plans on what the ledger holds for the commit, outside any
    /// transaction (selection over a big graph, and the copies' definitions
    /// from the queue), then stores the plan if the ledger still holds what
    /// it was planned on; when another comment's plan was recorded in
    /// between, plans again on the new ledger.
    async fn plan_and_save(
        &self,
        store: &Store,
        claim: &Claim,
        repo: &crate::types::RepoName,
        planner: &prepare::Planner,
    ) -> Result<Prepared, StepError> {
        let queue = self.queue_for(repo);
        let mut definitions = prepare::Definitions::of(planner);
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let seen = store.recorded(planner.repo(), planner.sha()).await?;
            let mut prepared = planner.finish(seen.clone());
            definitions.fill(&queue, &mut prepared).await?;
            let planned = PlannedJob {
                plan_json: to_json(&prepared)?,
                actions: planned_actions(&prepared),
            };
            match store
                .save_plan_on(claim, planner.repo(), planner.sha(), &seen, &planned)
                .await?
            {
                PlanSaved::Saved => return Ok(prepared),
                PlanSaved::LedgerMoved => {
                    tracing::info!(
                        "another plan for this commit was stored meanwhile; planning again"
                    )
                }
            }
        }
        Err(StepError::Store(StoreError::Busy(
            "the commit's ledger kept changing while planning",
        )))
    }

    /// The reply body and the reaction that sums it up (none for a refusal,
    /// which costs one reply and nothing more); `followed`: the runs
    /// followed since (the live reply).
    pub(crate) fn render(
        &self,
        job: &CommentJob,
        prepared: &Prepared,
        outcomes: &Outcomes,
        followed: Option<&crate::reply::follow::Followed>,
    ) -> (String, Option<Reaction>) {
        let sections = match &prepared.reply {
            PreparedReply::Text { body } => return (body.clone(), Some(Reaction::Confused)),
            PreparedReply::Refused { body } => return (body.clone(), None),
            PreparedReply::Sections { sections } => sections,
        };
        let help: Vec<(&str, &str)> = crate::command::COMMANDS
            .iter()
            .map(|c| (c.usage, c.summary))
            .collect();
        let mut plans = outcomes.iter();
        let empty: Vec<ActionOutcome> = Vec::new();
        let sections: Vec<ReplySection> = sections
            .iter()
            .map(|section| match section {
                PreparedSection::Planned { command_text, plan } => ReplySection::Planned {
                    command_text,
                    plan,
                    outcomes: plans.next().unwrap_or(&empty),
                    force_role: prepared.force_role,
                },
                PreparedSection::Malformed {
                    command_text,
                    error,
                } => ReplySection::Malformed {
                    command_text,
                    error,
                },
                PreparedSection::Help => ReplySection::Help { commands: &help },
            })
            .collect();
        let reaction = match crate::reply::reaction_for(&sections) {
            Some(crate::reply::Reaction::Rocket) => Reaction::Rocket,
            // Confused, or an action left without an outcome.
            Some(_) | None => Reaction::Confused,
        };
        let mut body = crate::reply::render(&ReplyInput {
            author: &job.commenter,
            root_url: &self.inner.root_url,
            sections,
            followed,
        });
        let note =
            crate::reply::render_skipped_groups(&self.inner.root_url, &prepared.skipped_groups);
        if !note.is_empty() {
            body = format!("{body}\n\n{note}");
        }
        (body, Some(reaction))
    }
}

/// The runs the dispatched actions started, to follow. The task group is
/// learned at the first check (a copy's is known from its definition).
fn watches_for(prepared: &Prepared, outcomes: &Outcomes) -> Vec<NewWatch> {
    let mut watches = Vec::new();
    for (plan, outcomes) in prepared.plans().zip(outcomes) {
        for (row, outcome) in plan.rows.iter().zip(outcomes) {
            let Decision::Act(action) = &row.decision else {
                continue;
            };
            if let ActionOutcome::Triggered { actions } = outcome {
                watches.extend(crate::follow::made::action_task_watches(
                    actions,
                    &row.task_id,
                    action,
                    &row.label,
                    "",
                ));
                continue;
            }
            for (task, run_id) in crate::reply::follow::started_runs(&row.task_id, action, outcome)
            {
                let task_group_id = prepared
                    .definitions
                    .get(task.as_str())
                    .and_then(|d| d.get("taskGroupId"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                watches.push(NewWatch {
                    task_id: task.to_string(),
                    run_id,
                    task_group_id,
                    ..NewWatch::default()
                });
            }
        }
    }
    watches
}

/// The actions a plan will dispatch, for the ledger.
fn planned_actions(prepared: &Prepared) -> Vec<PlannedAction> {
    // A waiting rerun counts like one sent now: it runs once it fires.
    prepared
        .plans()
        .flat_map(|plan| {
            plan.actions()
                .chain(plan.waits().map(|(row, wait)| (row, &wait.action)))
        })
        .flat_map(|(row, action)| {
            let one = |task_id: String, kind| PlannedAction {
                label: row.label.clone(),
                task_id,
                kind,
            };
            match action {
                crate::policy::Action::Rerun { .. } => vec![one(row.task_id.to_string(), "rerun")],
                crate::policy::Action::CancelRerun { .. } => {
                    vec![one(row.task_id.to_string(), "cancel-rerun")]
                }
                // One row per copy: `max_retriggers_per_sha` counts copies.
                crate::policy::Action::Retrigger { copies } => copies
                    .iter()
                    .map(|c| one(c.to_string(), "retrigger"))
                    .collect(),
            }
        })
        .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StepError> {
    serde_json::to_string(value)
        .map_err(|e| StepError::Corrupt(format!("cannot store job state: {e}")))
}

/// Posts the reply once, then edits it: the comment id is stored with the
/// job, and a retried job that does not know it looks for its marker first.
async fn post_reply(
    gh: &crate::github::InstallationClient,
    store: &Store,
    claim: &Claim,
    job: &CommentJob,
    body: &str,
    marker: &str,
    resumed: bool,
) -> Result<(), StepError> {
    let known = claim
        .job
        .reply_comment_id
        .and_then(|id| u64::try_from(id).ok())
        .map(CommentId);
    let existing = match known {
        Some(id) => Some(id),
        // An earlier attempt may have posted the reply without learning its id.
        None if resumed || claim.job.attempts > 1 => find_reply(gh, job, marker).await?,
        None => None,
    };
    let id = match existing {
        Some(id) => {
            gh.edit_comment(&job.repo, id, body).await?;
            id
        }
        None => gh.create_comment(&job.repo, job.pr, body).await?,
    };
    if known != Some(id) {
        store
            .save_reply_comment(claim, i64::try_from(id.0).unwrap_or(i64::MAX))
            .await?;
    }
    Ok(())
}

/// The reply an earlier attempt posted for this delivery, by its marker.
async fn find_reply(
    gh: &crate::github::InstallationClient,
    job: &CommentJob,
    marker: &str,
) -> Result<Option<CommentId>, StepError> {
    // Only the App's own comments: any other bot could copy the marker.
    let ours = gh.bot_login().await?;
    let comments = gh.comments(&job.repo, job.pr).await?;
    Ok(comments
        .into_iter()
        .rev()
        .find(|c| c.user.login.as_str().eq_ignore_ascii_case(&ours) && c.body.contains(marker))
        .map(|c| c.id))
}

/// The job's stored plan and its recorded unit results, if readable.
async fn planned(
    store: &Store,
    claim: &Claim,
) -> Option<(
    Prepared,
    std::collections::HashMap<String, crate::outcome::UnitResult>,
)> {
    // The plan as stored now (this attempt may have made it), else as claimed.
    let current = store.job(claim.job.id).await.ok().flatten();
    let text = current
        .as_ref()
        .and_then(|job| job.plan.as_deref())
        .or(claim.job.plan.as_deref())?;
    let prepared = serde_json::from_str(text).ok()?;
    // Unreadable records: every unit shows "not confirmed", which is true.
    let known = crate::dispatch::recorded(store, claim.job.id)
        .await
        .unwrap_or_default();
    Some((prepared, known))
}

impl JobHandler for Pipeline {
    fn subject(&self, claim: &Claim) -> Option<JobSubject> {
        let job: CommentJob = serde_json::from_str(&claim.job.payload).ok()?;
        Some(JobSubject {
            repo: job.repo.to_string(),
            pr: job.pr.0,
        })
    }

    fn handle(&self, store: Store, claim: Claim) -> JobFuture {
        let pipeline = self.clone();
        Box::pin(async move { pipeline.run(store, claim).await.map_err(JobError::from) })
    }

    /// Tells the commenter the job failed for good, instead of leaving 👀.
    fn give_up(&self, store: Store, claim: Claim, error: String) -> JobFuture {
        let pipeline = self.clone();
        Box::pin(async move {
            let Ok(job) = serde_json::from_str::<CommentJob>(&claim.job.payload) else {
                return Ok(());
            };
            let gh = pipeline.inner.github.installation(job.installation);
            let marker = crate::reply::delivery_marker(&claim.job.delivery_id);
            // With a stored plan the reply says action by action what is
            // known: recorded results as they are, the rest "not confirmed"
            // (it may have taken effect; the reply never advises asking
            // again for it). Without a plan nothing was sent.
            let text = match planned(&store, &claim).await {
                Some((prepared, known)) => {
                    let unknown = DispatchError::Unavailable {
                        message: error.clone(),
                    };
                    let outcomes = crate::dispatch::known_outcomes(&prepared, &known, &unknown);
                    pipeline.render(&job, &prepared, &outcomes, None).0
                }
                None => crate::reply::render_gave_up(&job.commenter, &error),
            };
            let body = format!("{text}\n\n{marker}");
            let (replied, reacted) = tokio::join!(
                post_reply(&gh, &store, &claim, &job, &body, &marker, true),
                gh.add_reaction(&job.repo, job.comment_id, Reaction::Confused)
            );
            replied.map_err(JobError::from)?;
            reacted.map_err(|e| JobError::from(StepError::from(e)))
        })
    }
}
