//! Automatic reruns (DESIGN.md §13, repo config `auto_rerun`): when a pull
//! request's task group resolves — GitHub's `check_suite` `completed` from
//! the Taskcluster App, or Pulse's `task-group-resolved` for a group we
//! follow — its failures that the repository's rules name are rerun, and
//! one comment per pull-request head says what was rerun and is edited as
//! those runs resolve.
//!
//! - [`run`]: one event end to end, as a job of the worker pool (leased,
//!   retried): find the pull request and its trusted task groups, judge
//!   each group ([`crate::policy::auto_rerun`]) under the commit's planning
//!   lock, dispatch the reruns, follow them.
//! - [`head`]: the per-head comment, posted and edited by the follow
//!   loop's leased reply edits (so never twice at once).
//! - [`Jobs`]: the worker pool's handler, sending each job to the comment
//!   pipeline or here by its event.
//!
//! Both sources may announce the same resolution, and either may deliver
//! it twice: the reruns of a head are recorded per task and run count under
//! the planning lock, so a second event finds the first's rerun (or the
//! task already running again) and reruns nothing.

pub mod head;
pub mod run;

use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::store::{Claim, Store};
use crate::worker::{JobError, JobFuture, JobHandler, JobSubject};
use std::sync::Arc;
use std::time::Duration;

/// The job `event` of a Pulse `task-group-resolved` message.
pub const GROUP_EVENT: &str = "task_group_resolved";

/// How long a group of a pull request is followed on Pulse after its last
/// event (a group resolves again when reruns resolve).
pub const GROUP_TTL: Duration = Duration::from_secs(3 * 86_400);

/// Handles automatic-rerun jobs.
#[derive(Clone)]
pub struct AutoReruns {
    pub(crate) pipeline: Pipeline,
    pub(crate) metrics: Arc<Metrics>,
}

impl AutoReruns {
    pub fn new(pipeline: Pipeline, metrics: Arc<Metrics>) -> Self {
        AutoReruns { pipeline, metrics }
    }
}

/// The worker pool's handler: comment jobs go to the pipeline, automatic
/// rerun jobs here; each handler's jobs are counted and timed.
#[derive(Clone)]
pub struct Jobs {
    comments: Pipeline,
    auto: AutoReruns,
}

impl Jobs {
    pub fn new(pipeline: Pipeline, metrics: Arc<Metrics>) -> Self {
        Jobs {
            comments: pipeline.clone(),
            auto: AutoReruns::new(pipeline, metrics),
        }
    }

    fn is_auto(claim: &Claim) -> bool {
        matches!(
            claim.job.event.as_str(),
            crate::webhook::check_suite::EVENT | GROUP_EVENT
        )
    }
}

impl JobHandler for Jobs {
    fn handle(&self, store: Store, claim: Claim) -> JobFuture {
        let started = std::time::Instant::now();
        let metrics = self.auto.metrics.clone();
        let (handler, inner) = if Self::is_auto(&claim) {
            let auto = self.auto.clone();
            let event = claim.job.event.clone();
            let fut: JobFuture = Box::pin(async move { auto.run(store, claim).await });
            (
                if event == GROUP_EVENT {
                    "task_group_resolved"
                } else {
                    "check_suite"
                },
                fut,
            )
        } else {
            ("issue_comment", self.comments.handle(store, claim))
        };
        Box::pin(async move {
            let result = inner.await;
            let outcome = match &result {
                Ok(()) => "done",
                Err(JobError::Permanent(_)) => "failed",
                Err(_) => "retry",
            };
            metrics.handled(handler, outcome, started.elapsed().as_secs_f64());
            result
        })
    }

    fn subject(&self, claim: &Claim) -> Option<JobSubject> {
        if Self::is_auto(claim) {
            return run::subject(claim);
        }
        self.comments.subject(claim)
    }

    fn give_up(&self, store: Store, claim: Claim, error: String) -> JobFuture {
        if Self::is_auto(&claim) {
            // Nobody asked: the log says it (the worker logs the error).
            return Box::pin(async { Ok(()) });
        }
        self.comments.give_up(store, claim, error)
    }
}
