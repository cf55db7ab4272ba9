//! Follow-through (DESIGN.md §13): one loop per process that follows the
//! runs rerunbot started (watches, stored and leased in the database) and
//! edits their replies as they resolve.
//!
//! - [`pulse`]: with Pulse configured, resolutions arrive as messages on a
//!   durable queue bound per watched task group.
//! - [`poll`]: the queue is asked about due watches every poll interval,
//!   a batch at a time (with Pulse configured, polling is the backstop for a
//!   missed message).
//! - [`replies`]: replies with resolutions they do not show yet are
//!   re-rendered and edited, at most once per reply per `edit_every`, and
//!   get their final reaction once every run resolved.
//!
//! - [`made`]: what in-tree action tasks made (their copies, or the run
//!   a `rerun` started), watched once they completed.
//!
//! - [`waits`]: actions held back until the runs they wait on resolve,
//!   fired or dropped as those runs resolve.
//!
//! - [`auto_rerun`]: automatic reruns when a pull request's group resolves
//!   (repo config `auto_rerun`), one comment per head, edited here too.
//! - [`supervise`]: `rerunbot supervise`, one task group followed from a
//!   terminal or a CI step.
//!
//! Everything the loop learns is stored before it acts on it, so a process
//! killed mid-way leaves nothing half done that another cannot finish.

pub mod auto_rerun;
pub mod made;
pub mod poll;
pub mod pulse;
pub mod replies;
pub mod supervise;
pub mod supervise_pr;
pub mod waits;

use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// How the follow loop paces itself.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// How long a watched run waits between two looks at the queue
    /// (`RERUNBOT_POLL_INTERVAL`).
    pub poll_interval: Duration,
    /// At most one edit per reply in this window (GitHub's content limits).
    pub edit_every: Duration,
    /// How often the loop looks for due work.
    pub wake_every: Duration,
    /// Watches claimed per query.
    pub batch: usize,
    /// Status requests in flight at once.
    pub concurrency: usize,
    /// A task group with at least this many watched tasks due together is
    /// read with one listTaskGroup instead of one status call per task.
    pub list_group_from: usize,
    /// How long a claim holds due watches or a reply.
    pub lease: Duration,
    /// How long a fired wait's cancel action task may take to cancel the
    /// task (it is looked at again meanwhile, never waited for inline)
    /// before the wait is dropped without its rerun. A cancel action task
    /// that resolved without canceling the task drops it at once.
    pub cancel_effect_wait: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            poll_interval: Duration::from_secs(30),
            edit_every: Duration::from_secs(10),
            wake_every: Duration::from_secs(1),
            batch: 200,
            concurrency: 16,
            list_group_from: 20,
            lease: Duration::from_secs(120),
            // An action task runs on a decision worker, up within minutes
            // even when one has to be started.
            cancel_effect_wait: Duration::from_secs(30 * 60),
        }
    }
}

/// Something the loop did, for tests and the demo.
#[derive(Clone, Debug, PartialEq)]
pub enum FollowEvent {
    /// A watched run resolved (recorded in the store).
    Resolved {
        task_id: String,
        run_id: u32,
        state: String,
        source: &'static str,
    },
    /// A reply was edited to `body`.
    ReplyEdited { job_id: i64, body: String },
    /// A reply got its final reaction.
    Reacted { job_id: i64, reaction: &'static str },
    /// A waiting action fired (its action was sent) or was dropped.
    WaitDecided {
        job_id: i64,
        task_id: String,
        fired: bool,
    },
}

/// What the loop's steps share.
#[derive(Clone)]
pub struct Follower {
    pub(crate) store: Store,
    pub(crate) pipeline: Pipeline,
    pub(crate) config: FollowConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) events: broadcast::Sender<FollowEvent>,
}

/// The running loop; stops on [`FollowHandle::shutdown`] or when dropped.
pub struct FollowHandle {
    events: broadcast::Sender<FollowEvent>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Follower {
    pub fn new(
        store: Store,
        pipeline: Pipeline,
        config: FollowConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Follower {
            store,
            pipeline,
            config,
            metrics,
            events: broadcast::channel(1024).0,
        }
    }

    pub(crate) fn emit(&self, event: FollowEvent) {
        let _ = self.events.send(event);
    }

    /// One pass: due watches checked, due replies edited.
    pub async fn step(&self) {
        if let Err(e) = poll::check_due(self).await {
            tracing::warn!(error = %e, "follow: checking watches failed");
        }
        if let Err(e) = made::watch_due(self).await {
            tracing::warn!(error = %e, "follow: following action tasks' work failed");
        }
        if let Err(e) = waits::fire_due(self).await {
            tracing::warn!(error = %e, "follow: judging waits failed");
        }
        if let Err(e) = replies::edit_due(self).await {
            tracing::warn!(error = %e, "follow: editing replies failed");
        }
        if let Ok(open) = self.store.open_watches().await {
            self.metrics.watches_open(open);
        }
    }

    /// Runs [`Self::step`] every `wake_every` until stopped.
    pub fn spawn(self) -> FollowHandle {
        let (stop, mut stopped) = watch::channel(false);
        let events = self.events.clone();
        let task = tokio::spawn(async move {
            loop {
                self.step().await;
                tokio::select! {
                    _ = tokio::time::sleep(self.config.wake_every) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        FollowHandle {
            events,
            stop,
            task: Some(task),
        }
    }
}

impl FollowHandle {
    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<FollowEvent> {
        self.events.subscribe()
    }

    /// Stops after the current step.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FollowHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
