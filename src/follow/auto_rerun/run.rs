//! One automatic-rerun event end to end (a job of the worker pool): the
//! pull request of the commit (open, its head still that commit), the
//! repository's `auto_rerun` block, its task groups found the way comments
//! find them (the Taskcluster App's check runs and statuses, then group
//! provenance for this repository and pull request, DESIGN.md §12), each
//! resolved group judged (first on the reruns made so far, so that only
//! groups with something to rerun have their in-tree actions read, then
//! for good under the commit's planning lock), the reruns
//! dispatched through the repository's in-tree `rerun` action when its
//! `dispatch` mode and decision task allow (DESIGN.md §8), else its scoped
//! queue client, and followed on the head's comment.
//!
//! The decision is stored with the job before anything is sent, so a
//! retried job dispatches exactly what the first attempt decided (and
//! dispatch itself never reruns a task that has a run beyond the one seen).

use super::AutoReruns;
use crate::dispatch::route::{route, RouteInput, Routed};
use crate::dispatch::{dispatch_job, Memory, DEFAULT_CONCURRENCY};
use crate::github::{InstallationClient, PullState};
use crate::outcome::{ActionOutcome, DispatchError};
use crate::pipeline::prepared::{Prepared, PreparedReply, PreparedSection};
use crate::pipeline::StepError;
use crate::policy::auto_rerun::{judge, Made, Pick, Verdict};
use crate::policy::provenance::{skipped_groups, Expected};
use crate::policy::task::{TaskSnapshot, TaskState};
use crate::policy::{Action, Decision, Plan, PlanRow, PrState, Role, TaskClass};
use crate::repo_config::{Classifier, RepoConfig};
use crate::store::{AutoRefusal, AutoRerunRow, Claim, Head, NewWatch, Store, StoreError};
use crate::types::{CommitSha, InstallationId, PullRequestNumber, RepoName, TaskId};
use crate::webhook::check_suite::SuiteJob;
use crate::worker::{JobError, JobSubject};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A `task_group_resolved` job's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupJob {
    pub task_group_id: String,
}

/// What one job decided (stored with the job before dispatch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoPlan {
    pub head: Head,
    pub head_job: i64,
    pub reruns: Vec<PlannedRerun>,
    /// Reruns carried out through the repository's in-tree `rerun` action
    /// (rows of [`as_prepared`]'s plan), decided with the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routed: Vec<Routed>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedRerun {
    pub pick: Pick,
    pub task_group_id: String,
}

/// The repository and pull request of a job, for its log span.
pub fn subject(claim: &Claim) -> Option<JobSubject> {
    let job: SuiteJob = serde_json::from_str(&claim.job.payload).ok()?;
    Some(JobSubject {
        repo: job.repo.to_string(),
        pr: job.pull_requests.first().copied().unwrap_or_default(),
    })
}

/// Where an event points: a commit (a check suite), or one followed group.
enum Trigger {
    Suite(SuiteJob),
    Group(String),
}

impl AutoReruns {
    pub(crate) async fn run(&self, store: Store, claim: Claim) -> Result<(), JobError> {
        let plan = match claim.job.plan.as_deref() {
            Some(text) => Some(serde_json::from_str::<AutoPlan>(text).map_err(|e| {
                JobError::Permanent(format!("stored automatic-rerun plan unreadable: {e}"))
            })?),
            None => self.decide(&store, &claim).await.map_err(JobError::from)?,
        };
        let Some(plan) = plan else {
            return Ok(());
        };
        self.dispatch(&store, &claim, &plan)
            .await
            .map_err(JobError::from)
    }

    /// Finds the pull request and judges its groups; `None`: nothing to do.
    async fn decide(&self, store: &Store, claim: &Claim) -> Result<Option<AutoPlan>, StepError> {
        let trigger = match claim.job.event.as_str() {
            super::GROUP_EVENT => {
                let job: GroupJob = serde_json::from_str(&claim.job.payload)
                    .map_err(|e| StepError::Corrupt(e.to_string()))?;
                Trigger::Group(job.task_group_id)
            }
            _ => Trigger::Suite(
                serde_json::from_str(&claim.job.payload)
                    .map_err(|e| StepError::Corrupt(e.to_string()))?,
            ),
        };
        let source = match &trigger {
            Trigger::Suite(_) => "check_suite",
            Trigger::Group(_) => "pulse",
        };
        self.metrics.auto_event(source);
        let (head, only_group) = match trigger {
            Trigger::Suite(job) => match self.head_of_suite(&job).await? {
                Some(head) => (head, None),
                None => return Ok(None),
            },
            Trigger::Group(group) => match store.auto_group(&group).await? {
                Some(followed) => (followed.head, Some(group)),
                None => {
                    tracing::debug!(task_group_id = %group, "not a followed group");
                    return Ok(None);
                }
            },
        };
        let repo = RepoName::parse(&head.repo)
            .ok_or_else(|| StepError::Corrupt(format!("bad repository {}", head.repo)))?;
        let gh = self
            .pipeline
            .github()
            .installation(InstallationId(head.installation));
        let pull = gh.pull_request(&repo, PullRequestNumber(head.pr)).await?;
        if pull.head_sha.as_str() != head.sha {
            tracing::info!(pr = head.pr, "the pull request moved on; nothing to rerun");
            return Ok(None);
        }
        let pr = pr_state(pull.state, pull.merged);
        let config = match gh.repo_config_text(&repo).await? {
            None => RepoConfig::default(),
            Some(text) => match crate::repo_config::parse(&text) {
                Ok(config) => config,
                Err(e) => {
                    tracing::info!(error = %e, "repository configuration invalid; no automatic reruns");
                    return Ok(None);
                }
            },
        };
        // Cheap refusals first: no Taskcluster call for a closed pull
        // request or a repository without the block.
        if pr != PrState::Open || !config.auto_rerun.enabled {
            return Ok(None);
        }
        let mut groups = self.groups(&gh, &repo, &head).await?;
        if let Some(only) = &only_group {
            groups.retain(|g, _| g == only);
        }
        let until = crate::store::now_ms()
            + i64::try_from(super::GROUP_TTL.as_millis()).unwrap_or(i64::MAX);
        for group in groups.keys() {
            store.follow_auto_group(group, &head, until).await?;
        }
        let head_job = store.auto_head(&head).await?;
        let classifier = Classifier::new(&config);
        // Judged first, on what was rerun already as read now, outside the
        // planning lock: most resolutions rerun nothing (attempts spent,
        // too many failures, no failure the block asks for), and then the
        // groups' decision tasks are not asked what they offer.
        let made_before = made_of(store.auto_reruns_made(&head).await?);
        let (preliminary, _) = judge_groups(&groups, pr, &config, &classifier, &made_before);
        let to_read: BTreeSet<String> = preliminary
            .iter()
            .map(|r| r.task_group_id.clone())
            .collect();
        tracing::debug!(
            groups = groups.len(),
            with_reruns = to_read.len(),
            reruns = preliminary.len(),
            "judged before reading the groups' actions"
        );
        // What those groups' decision tasks offer (DESIGN.md §8).
        let tasks: Vec<TaskSnapshot> = groups
            .iter()
            .filter(|(group, _)| to_read.contains(group.as_str()))
            .flat_map(|(_, tasks)| tasks)
            .cloned()
            .collect();
        let actions = crate::pipeline::actions::gather_actions(
            &self.pipeline.queue_for(&repo),
            config.dispatch,
            &tasks,
        )
        .await?;
        let routing = RouteInput {
            mode: config.dispatch,
            groups: &actions,
            tasks: &tasks,
        };
        let (plan, refusals) = store
            .plan_auto_reruns(claim, &head, head_job, |made| {
                // The authoritative judgement, on `made` as read under the
                // planning lock. Its picks are among the preliminary ones,
                // so their groups' actions were read: `judge` picks a task
                // only while `made` has no rerun from its current run count
                // and fewer than `max_attempts` reruns for it, and the
                // group's verdict (off, unresolved, refused) does not read
                // `made` at all; `made` only grows between the two reads
                // (planning jobs add rows under the lock), so a task not
                // picked before is not picked now. The one exception is
                // `forget_auto_rerun`, which drops a rerun refused when it
                // was sent: such a task may be picked again in a group whose
                // actions were not read. It is left out rather than routed
                // without them (`dispatch: auto` would then send it to the
                // queue, around the repository's `rerun` action): it was
                // refused a moment ago, and a later event judges it anew.
                let (mut reruns, refusals) =
                    judge_groups(&groups, pr, &config, &classifier, &made_of(made));
                reruns.retain(|r| {
                    let read = to_read.contains(&r.task_group_id);
                    if !read {
                        tracing::info!(
                            task_id = %r.pick.task_id,
                            task_group_id = %r.task_group_id,
                            "no automatic rerun: a forgotten rerun reappeared in a group whose actions were not read"
                        );
                    }
                    read
                });
                let (reruns, routed) = routed_reruns(reruns, &head, &routing);
                let rows = reruns
                    .iter()
                    .map(|r| AutoRerunRow {
                        task_id: r.pick.task_id.to_string(),
                        label: r.pick.label.clone(),
                        runs_seen: r.pick.runs_seen,
                        attempt: r.pick.attempt,
                    })
                    .collect();
                let plan = AutoPlan {
                    head: head.clone(),
                    head_job,
                    reruns,
                    routed,
                };
                let text = serde_json::to_string(&plan).unwrap_or_default();
                ((plan, refusals), text, rows)
            })
            .await?;
        for refusal in &refusals {
            if store.refuse_auto_group(head_job, refusal).await? {
                self.metrics.auto_refused();
                tracing::info!(
                    task_group_id = %refusal.task_group_id,
                    failed = refusal.failed,
                    total = refusal.total,
                    "too many failures: nothing rerun automatically"
                );
            }
        }
        Ok(Some(plan))
    }

    /// The open pull request whose head is the suite's commit, if any.
    async fn head_of_suite(&self, job: &SuiteJob) -> Result<Option<Head>, StepError> {
        let gh = self
            .pipeline
            .github()
            .installation(InstallationId(job.installation));
        let sha = CommitSha::new(job.head_sha.clone());
        let mut numbers = job.pull_requests.clone();
        if numbers.is_empty() {
            // A fork's suite names no pull request.
            numbers = gh
                .pulls_of_commit(&job.repo, &sha)
                .await?
                .into_iter()
                .filter(|p| p.head_sha == sha && pr_state(p.state, p.merged) == PrState::Open)
                .map(|p| p.number.0)
                .collect();
        }
        Ok(numbers.first().map(|pr| Head {
            repo: job.repo.to_string(),
            installation: job.installation,
            pr: *pr,
            sha: job.head_sha.clone(),
        }))
    }

    /// The pull request's trusted task groups, by id (only groups made for
    /// this repository, this commit and this pull request).
    async fn groups(
        &self,
        gh: &InstallationClient,
        repo: &RepoName,
        head: &Head,
    ) -> Result<BTreeMap<String, Vec<TaskSnapshot>>, StepError> {
        let sha = CommitSha::new(head.sha.clone());
        // Reruns copy nothing: the listing's kept definitions are not used.
        let found = crate::pipeline::prepare::find_tasks(&self.pipeline, gh, repo, &sha)
            .await?
            .tasks;
        let name = repo.to_string();
        let expected = Expected {
            repo: &name,
            sha: &head.sha,
        };
        let skipped = skipped_groups(&found, expected, true);
        for s in &skipped {
            tracing::info!(task_group_id = %s.group, reason = ?s.reason, "group left out");
        }
        let mut groups: BTreeMap<String, Vec<TaskSnapshot>> = BTreeMap::new();
        let kept = found
            .iter()
            .filter(|t| !skipped.iter().any(|s| s.group == t.task_group_id))
            .cloned();
        for task in kept {
            groups
                .entry(task.task_group_id.to_string())
                .or_default()
                .push(task);
        }
        Ok(groups)
    }

    /// Sends the planned reruns (once: dispatch's own records), follows
    /// the new runs on the head's comment.
    async fn dispatch(
        &self,
        store: &Store,
        claim: &Claim,
        plan: &AutoPlan,
    ) -> Result<(), StepError> {
        if plan.reruns.is_empty() {
            return Ok(());
        }
        let repo = RepoName::parse(&plan.head.repo)
            .ok_or_else(|| StepError::Corrupt(format!("bad repository {}", plan.head.repo)))?;
        let prepared = as_prepared(plan);
        let resumed = claim.job.attempts > 1;
        let memory = if resumed {
            Memory::resumed(crate::dispatch::recorded(store, claim.job.id).await?)
        } else {
            Memory::first_attempt()
        };
        let queue = self.pipeline.queue_for(&repo);
        let dispatched = dispatch_job(
            &queue,
            self.pipeline.hooks(),
            &prepared,
            &memory.recording(store, claim),
            DEFAULT_CONCURRENCY,
            &claim.hold,
        )
        .await;
        if let Some(message) = dispatched.unconfirmed.first() {
            return Err(StepError::Queue(
                crate::taskcluster::QueueError::Unavailable {
                    message: message.clone(),
                },
            ));
        }
        let outcomes = dispatched.outcomes.into_iter().next().unwrap_or_default();
        let mut watches = Vec::new();
        let mut sent = 0;
        for (rerun, outcome) in plan.reruns.iter().zip(outcomes) {
            let pick = &rerun.pick;
            let run_id = match outcome {
                ActionOutcome::Rerun { run_id } => {
                    sent += 1;
                    run_id.unwrap_or(pick.runs_seen)
                }
                // Someone reran it meanwhile: follow that run.
                ActionOutcome::AlreadyQueued { .. } => pick.runs_seen,
                // Through the repository's `rerun` action: its action task
                // is followed, then the run it started.
                ActionOutcome::Triggered { actions } => {
                    sent += 1;
                    watches.extend(crate::follow::made::action_task_watches(
                        &actions,
                        &pick.task_id,
                        &Action::Rerun {
                            runs_seen: pick.runs_seen,
                        },
                        &pick.label,
                        &rerun.task_group_id,
                    ));
                    continue;
                }
                ActionOutcome::Failed { error, .. } => {
                    log_refused(pick, &error);
                    store
                        .forget_auto_rerun(&plan.head, pick.task_id.as_str(), pick.runs_seen)
                        .await?;
                    continue;
                }
                _ => continue,
            };
            watches.push(NewWatch {
                task_id: pick.task_id.to_string(),
                run_id,
                task_group_id: rerun.task_group_id.clone(),
                ..NewWatch::default()
            });
        }
        self.metrics.auto_reruns(sent);
        store
            .add_watches(plan.head_job, &watches, std::time::Duration::ZERO)
            .await?;
        store.head_due(plan.head_job).await?;
        tracing::info!(reruns = sent, pr = plan.head.pr, "automatic reruns sent");
        Ok(())
    }
}

/// The store's record of reruns made, keyed by task id.
fn made_of(made: BTreeMap<String, Vec<u32>>) -> Made {
    made.into_iter()
        .map(|(task, runs)| (TaskId::new(task), runs))
        .collect()
}

/// Judges every group: the reruns picked, and the groups refused for too
/// many failures.
fn judge_groups(
    groups: &BTreeMap<String, Vec<TaskSnapshot>>,
    pr: PrState,
    config: &RepoConfig,
    classifier: &Classifier,
    made: &Made,
) -> (Vec<PlannedRerun>, Vec<AutoRefusal>) {
    let mut reruns = Vec::new();
    let mut refusals = Vec::new();
    for (group, tasks) in groups {
        match judge(tasks, pr, &config.auto_rerun, classifier, made) {
            Verdict::Rerun(picks) => reruns.extend(picks.into_iter().map(|pick| PlannedRerun {
                pick,
                task_group_id: group.clone(),
            })),
            Verdict::Refused(share) => refusals.push(AutoRefusal {
                task_group_id: group.clone(),
                failed: u32::try_from(share.failed).unwrap_or(u32::MAX),
                total: u32::try_from(share.total).unwrap_or(u32::MAX),
                limit: config.auto_rerun.max_failure_percent,
            }),
            Verdict::Off | Verdict::Unresolved => {}
        }
    }
    (reruns, refusals)
}

fn log_refused(pick: &Pick, error: &DispatchError) {
    tracing::info!(task_id = %pick.task_id, error = ?error, "automatic rerun refused by the queue");
}

fn pr_state(state: PullState, merged: bool) -> PrState {
    match (state, merged) {
        (_, true) => PrState::Merged,
        (PullState::Closed, _) => PrState::Closed,
        _ => PrState::Open,
    }
}

/// The reruns as a plan dispatch knows how to send.
/// The reruns that may go ahead under the repository's `dispatch` mode
/// (`actions` without a usable `rerun` action refuses; those are left
/// out, not counted as attempts), and those routed to its in-tree actions.
fn routed_reruns(
    reruns: Vec<PlannedRerun>,
    head: &Head,
    routing: &RouteInput,
) -> (Vec<PlannedRerun>, Vec<Routed>) {
    let mut plan = rows_of(&reruns);
    route(&mut plan, 0, routing);
    let reruns: Vec<PlannedRerun> = reruns
        .into_iter()
        .zip(&plan.rows)
        .filter_map(|(rerun, row)| match &row.decision {
            Decision::Act(_) => Some(rerun),
            refused => {
                tracing::info!(pr = head.pr, task_id = %rerun.pick.task_id, ?refused, "no automatic rerun: the repository's actions do not allow it");
                None
            }
        })
        .collect();
    let routed = route(&mut rows_of(&reruns), 0, routing);
    (reruns, routed)
}

/// The reruns as one plan's rows (in order).
fn rows_of(reruns: &[PlannedRerun]) -> Plan {
    let rows = reruns
        .iter()
        .map(|r| PlanRow {
            task_id: r.pick.task_id.clone(),
            label: r.pick.label.clone(),
            name: r.pick.label.clone(),
            class: TaskClass::Other,
            state: TaskState::Failed,
            decision: Decision::Act(Action::Rerun {
                runs_seen: r.pick.runs_seen,
            }),
            warnings: Vec::new(),
        })
        .collect();
    Plan {
        rows,
        ..Plan::default()
    }
}

fn as_prepared(plan: &AutoPlan) -> Prepared {
    Prepared {
        repo: plan.head.repo.clone(),
        sha: plan.head.sha.clone(),
        force_role: Role::Maintain,
        reply: PreparedReply::Sections {
            sections: vec![PreparedSection::Planned {
                command_text: "auto_rerun".to_owned(),
                plan: rows_of(&plan.reruns),
            }],
        },
        definitions: BTreeMap::new(),
        skipped_groups: Vec::new(),
        routed: plan.routed.clone(),
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::from(StepError::from(e))
    }
}
