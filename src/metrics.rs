//! Prometheus metrics: one registry per process, owned by the app state (no
//! globals). Deliveries by event and outcome, jobs by outcome, job duration,
//! queue depth (read from the database at scrape time).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    job_duration: Histogram,
    webhook_duration: Histogram,
    jobs_by_state: Family<StateLabels, Gauge>,
    follow: FollowMetrics,
    waits: WaitMetrics,
    handlers: HandlerMetrics,
}

/// Waiting actions that were decided (DESIGN.md §13): one counter per
/// outcome.
#[derive(Default)]
struct WaitMetrics {
    fired: Counter,
    dropped: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
    /// `new` (recorded) or `duplicate` (seen before).
    effect: &'static str,
}

/// The follow-through's metrics (DESIGN.md §13).
#[derive(Default)]
struct FollowMetrics {
    watches_open: Gauge,
    events: Family<SourceLabels, Counter>,
    edits: Counter,
    auto_events: Family<AutoSourceLabels, Counter>,
    auto_reruns: Family<JobLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AutoSourceLabels {
    /// `check_suite` or `pulse`.
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabels {
    /// `issue_comment`, `check_suite`, `task_group_resolved`.
    handler: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerName {
    handler: &'static str,
}

/// One counter and one duration per job handler.
struct HandlerMetrics {
    jobs: Family<HandlerLabels, Counter>,
    duration: Family<HandlerName, Histogram>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("rerunbot");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by event and outcome",
            deliveries.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Jobs finished, by outcome", jobs.clone());
        let job_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "job_duration_seconds",
            "Time from claim to finish of a job",
            job_duration.clone(),
        );
        let webhook_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "webhook_duration_seconds",
            "Time to answer a webhook delivery",
            webhook_duration.clone(),
        );
        let jobs_by_state = Family::<StateLabels, Gauge>::default();
        registry.register(
            "queue_jobs",
            "Jobs in the database by state (queued is the queue depth)",
            jobs_by_state.clone(),
        );
        let follow = FollowMetrics::default();
        registry.register(
            "watches_open",
            "Watched runs not resolved yet",
            follow.watches_open.clone(),
        );
        registry.register(
            "follow_events",
            "Task resolutions received, by source (poll, pulse) and effect (new, duplicate)",
            follow.events.clone(),
        );
        registry.register(
            "reply_edits",
            "Live edits of reply comments",
            follow.edits.clone(),
        );
        let waits = WaitMetrics::default();
        registry.register(
            "waits_fired",
            "Waiting actions fired once what they waited on completed",
            waits.fired.clone(),
        );
        registry.register(
            "waits_dropped",
            "Waiting actions dropped (what they waited on failed, or the task's deadline passed)",
            waits.dropped.clone(),
        );
        registry.register(
            "auto_rerun_events",
            "Resolutions that may call for automatic reruns, by source (check_suite, pulse)",
            follow.auto_events.clone(),
        );
        registry.register(
            "auto_reruns",
            "Automatic reruns, by outcome (sent; refused: a group over max_failure_percent)",
            follow.auto_reruns.clone(),
        );
        let handlers = HandlerMetrics {
            jobs: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
        };
        registry.register(
            "handler_jobs",
            "Job attempts by handler and outcome (done, retry, failed)",
            handlers.jobs.clone(),
        );
        registry.register(
            "handler_duration_seconds",
            "Time of one job attempt, by handler",
            handlers.duration.clone(),
        );
        Arc::new(Self {
            follow,
            waits,
            handlers,
            registry,
            deliveries,
            jobs,
            job_duration,
            webhook_duration,
            jobs_by_state,
        })
    }

    /// Counts one delivery and the time taken to answer it. `outcome` is a
    /// fixed word (accepted, duplicate, …).
    pub fn delivery(&self, event: &str, outcome: &'static str, seconds: f64) {
        self.webhook_duration.observe(seconds);
        // Bound the label's cardinality: unknown events share one label.
        let event = match event {
            "issue_comment" | "ping" | "pull_request" | "check_run" | "check_suite"
            | "installation" => event,
            _ => "other",
        };
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event: event.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts one finished job attempt and its duration.
    pub fn job(&self, outcome: &'static str, seconds: f64) {
        self.jobs.get_or_create(&JobLabels { outcome }).inc();
        self.job_duration.observe(seconds);
    }

    /// The number of open watches, as last counted.
    pub fn watches_open(&self, n: i64) {
        self.follow.watches_open.set(n);
    }

    /// One resolution received from `source`; `new` when it changed a watch.
    pub fn follow_event(&self, source: &'static str, new: bool) {
        let effect = if new { "new" } else { "duplicate" };
        self.follow
            .events
            .get_or_create(&SourceLabels { source, effect })
            .inc();
    }

    /// An event that may call for automatic reruns, from `source`.
    pub fn auto_event(&self, source: &'static str) {
        self.follow
            .auto_events
            .get_or_create(&AutoSourceLabels { source })
            .inc();
    }

    /// `n` automatic reruns sent.
    pub fn auto_reruns(&self, n: u64) {
        self.follow
            .auto_reruns
            .get_or_create(&JobLabels { outcome: "sent" })
            .inc_by(n);
    }

    /// A group left alone: too many of its tasks failed.
    pub fn auto_refused(&self) {
        self.follow
            .auto_reruns
            .get_or_create(&JobLabels { outcome: "refused" })
            .inc();
    }

    /// One job attempt of `handler`, its outcome and duration.
    pub fn handled(&self, handler: &'static str, outcome: &'static str, seconds: f64) {
        self.handlers
            .jobs
            .get_or_create(&HandlerLabels { handler, outcome })
            .inc();
        self.handlers
            .duration
            .get_or_create(&HandlerName { handler })
            .observe(seconds);
    }

    /// One live edit of a reply.
    pub fn reply_edit(&self) {
        self.follow.edits.inc();
    }

    /// One waiting action decided: `fired` or dropped.
    pub fn wait_decided(&self, fired: bool) {
        if fired {
            self.waits.fired.inc();
        } else {
            self.waits.dropped.inc();
        }
    }

    /// Prometheus text format, with the job counts given (queued, running, done, failed).
    pub fn render(&self, job_counts: [i64; 4]) -> String {
        for (state, n) in ["queued", "running", "done", "failed"]
            .into_iter()
            .zip(job_counts)
        {
            self.jobs_by_state
                .get_or_create(&StateLabels { state })
                .set(n);
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
