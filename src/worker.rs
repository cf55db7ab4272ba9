//! The worker pool: N loops that claim jobs with a lease, run them on the
//! handler, keep the lease alive while they run (and stop an attempt whose
//! lease they cannot renew before it runs out), and retry failures with
//! capped exponential backoff for as long as the retry budget lasts (an
//! outage of hours delays a command, it does not drop it). A job that gives
//! up reports it on the pull request, and that report has retries of its
//! own. On shutdown the loops stop claiming, running jobs get a grace
//! period, and the leases of jobs still running after it are released.

use crate::metrics::Metrics;
use crate::store::{Claim, Store};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// How long a handler may take to report a job it gives up on.
const GIVE_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// A boxed future returned by a [`JobHandler`].
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// Runs one job. Must be idempotent: a job may run again after a crash.
pub trait JobHandler: Send + Sync + 'static {
    fn handle(&self, store: Store, claim: Claim) -> JobFuture;

    /// What the job is about (repository, pull request), read from its
    /// payload, so every log line of the job names them. `None` when the
    /// payload does not say.
    fn subject(&self, _claim: &Claim) -> Option<JobSubject> {
        None
    }

    /// Called, still holding the lease, before a job is marked failed for
    /// good (to tell its requester). An error queues the job again, only to
    /// report, for as long as the report budget lasts.
    fn give_up(&self, _store: Store, _claim: Claim, _error: String) -> JobFuture {
        Box::pin(async { Ok(()) })
    }
}

/// The repository and pull request a job acts on, for its log span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSubject {
    pub repo: String,
    pub pr: u64,
}

/// Why a job attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (a service was down, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Worth another attempt, but not before this long (a rate limit's reset).
    #[error("{0}")]
    RetryAfter(String, Duration),
    /// Will never succeed; the job is marked failed at once.
    #[error("{0}")]
    Permanent(String),
}

/// What happened to a job attempt; broadcast for observers (the demo waits
/// on these; so do tests, instead of sleeping).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEvent {
    pub job_id: i64,
    pub delivery_id: String,
    pub outcome: JobEventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEventKind {
    Done,
    Retrying(String),
    Failed(String),
    Released,
    /// The lease was lost (another worker took the job): this attempt stopped.
    Abandoned,
}

/// Tuning of the pool.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub workers: usize,
    pub lease: Duration,
    /// How long after it was queued a job may still be retried.
    pub retry_budget: Duration,
    /// How much longer a job that gave up keeps trying to say so.
    pub report_budget: Duration,
    /// A safety cap on attempts, for a job that keeps killing its worker
    /// (every claim counts); the time budget is what normally ends retries.
    pub max_attempts: i64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How often an idle worker looks for jobs queued by another process.
    pub poll_interval: Duration,
    /// Finished jobs older than this are purged (`RERUNBOT_RETENTION`).
    pub retention: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            lease: crate::config::DEFAULT_LEASE,
            retry_budget: Duration::from_secs(6 * 3600),
            report_budget: Duration::from_secs(6 * 3600),
            max_attempts: 200,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            poll_interval: Duration::from_millis(500),
            retention: crate::config::DEFAULT_RETENTION,
        }
    }
}

impl WorkerConfig {
    fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.backoff_base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.backoff_max)
    }

    /// The wait before the next attempt of a job that has existed for
    /// `spent` and been tried `attempts` times, or `None` when that attempt
    /// would start after the retry budget.
    pub fn retry_delay(
        &self,
        spent: Duration,
        attempts: i64,
        not_before: Duration,
    ) -> Option<Duration> {
        let delay = self.backoff(attempts).max(not_before);
        (attempts < self.max_attempts && spent.saturating_add(delay) <= self.retry_budget)
            .then_some(delay)
    }

    /// The wait before trying again to report a job that gave up, or `None`
    /// when the report budget (after the retry budget) is spent too.
    pub fn report_delay(&self, spent: Duration, attempts: i64) -> Option<Duration> {
        let delay = self.backoff(attempts);
        let budget = self.retry_budget.saturating_add(self.report_budget);
        (spent.saturating_add(delay) <= budget).then_some(delay)
    }

    /// How often the lease is renewed: four times per lease, so that two
    /// failed renewals in a row still leave time to stop.
    fn heartbeat(&self) -> Duration {
        (self.lease / 4).max(Duration::from_millis(1))
    }
}

/// A running pool.
pub struct WorkerPool {
    loops: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    hard_stop: watch::Sender<bool>,
    events: broadcast::Sender<JobEvent>,
}

struct Shared {
    store: Store,
    handler: Arc<dyn JobHandler>,
    config: WorkerConfig,
    job_ready: Arc<Notify>,
    metrics: Arc<Metrics>,
    events: broadcast::Sender<JobEvent>,
}

impl WorkerPool {
    pub fn spawn(
        store: Store,
        handler: Arc<dyn JobHandler>,
        config: WorkerConfig,
        job_ready: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let (hard_stop, hard_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            store,
            handler,
            config,
            job_ready,
            metrics,
            events: events.clone(),
        });
        let housekeeping = tokio::spawn(crate::housekeeping::purge_loop(
            shared.store.clone(),
            shared.config.retention,
            stop_rx.clone(),
        ));
        let loops = (0..shared.config.workers.max(1))
            .map(|n| {
                let shared = shared.clone();
                let (stop_rx, hard_rx) = (stop_rx.clone(), hard_rx.clone());
                tokio::spawn(
                    worker_loop(shared, stop_rx, hard_rx)
                        .instrument(tracing::info_span!("worker", n)),
                )
            })
            .chain(std::iter::once(housekeeping))
            .collect();
        Self {
            loops,
            stop,
            hard_stop,
            events,
        }
    }

    /// Job events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Stops claiming, waits up to `grace` for running jobs, then releases
    /// the leases of the rest.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut loops = self.loops;
        // A handle is popped once it has completed, so none is polled twice.
        let wait_all = async {
            while let Some(handle) = loops.last_mut() {
                let _ = handle.await;
                loops.pop();
            }
        };
        if tokio::time::timeout(grace, wait_all).await.is_err() {
            tracing::warn!("grace period over; releasing the leases of running jobs");
            let _ = self.hard_stop.send(true);
            for handle in loops {
                let _ = handle.await;
            }
        }
    }
}

async fn worker_loop(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    hard_stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match shared.store.claim(shared.config.lease).await {
            Ok(Some(claim)) => run_claim(&shared, claim, hard_stop.clone()).await,
            Ok(None) => {
                tokio::select! {
                    _ = shared.job_ready.notified() => {}
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "claim failed");
                tokio::select! {
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

async fn run_claim(shared: &Shared, claim: Claim, mut hard_stop: watch::Receiver<bool>) {
    // Every line logged while the job runs, in the handler and in the
    // tasks it spawns, carries these fields: one command can be followed
    // through the log by its job id or delivery GUID.
    let span = tracing::info_span!(
        "job",
        id = claim.job.id,
        guid = %claim.job.delivery_id,
        attempt = claim.job.attempts,
        repo = tracing::field::Empty,
        pr = tracing::field::Empty,
    );
    if let Some(subject) = shared.handler.subject(&claim) {
        span.record("repo", subject.repo.as_str());
        span.record("pr", subject.pr);
    }
    let handler_span = span.clone();
    async {
        let started = Instant::now();
        if let Some(error) = claim.job.gave_up.clone() {
            // Only its report is still owed.
            give_up(shared, &claim, error, started).await;
            return;
        }
        if let Some(error) = spent_before_start(&shared.config, &claim) {
            give_up(shared, &claim, error, started).await;
            return;
        }
        let mut job = tokio::spawn(
            shared
                .handler
                .handle(shared.store.clone(), claim.clone())
                .instrument(handler_span),
        );
        let mut heartbeat = tokio::time::interval(shared.config.heartbeat());
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let result = loop {
            tokio::select! {
                joined = &mut job => break joined,
                _ = heartbeat.tick() => {
                    if let Err(why) = renew(shared, &claim).await {
                        // Stop now: another worker owns the job, or soon may.
                        job.abort();
                        claim.hold.lose();
                        tracing::warn!("{why}; stopping this attempt");
                        send(shared, &claim, JobEventKind::Abandoned);
                        return;
                    }
                }
                _ = hard_stop.changed() => {
                    job.abort();
                    let _ = shared.store.release(&claim).await;
                    tracing::info!("released at shutdown");
                    send(shared, &claim, JobEventKind::Released);
                    return;
                }
            }
        };
        let result = result.unwrap_or_else(|e| {
            Err(JobError::Retry(if e.is_panic() {
                "the job handler panicked".to_owned()
            } else {
                "the job was cancelled".to_owned()
            }))
        });
        finish(shared, &claim, result, started).await;
    }
    .instrument(span)
    .await
}

/// Why a claimed job must not start again: its retry budget or its attempts
/// are spent (a job whose workers keep dying never finishes an attempt, so
/// only its claims count them).
fn spent_before_start(config: &WorkerConfig, claim: &Claim) -> Option<String> {
    let last = claim
        .job
        .last_error
        .as_deref()
        .map_or(String::new(), |e| format!("; last error: {e}"));
    if claim.job.attempts > config.max_attempts {
        Some(format!(
            "gave up after {} attempts (the last worker stopped without finishing){last}",
            config.max_attempts
        ))
    } else if claim.job.attempts > 1 && claim.age > config.retry_budget {
        // Every job gets one attempt, however long it waited in the queue.
        Some(format!(
            "gave up: still failing {} after the command{last}",
            describe(config.retry_budget)
        ))
    } else {
        None
    }
}

/// Renews the lease. An error when the lease is gone, or when renewals keep
/// failing and it is about to run out (the database is unreachable; another
/// worker may soon claim the job, so this one must stop before then).
async fn renew(shared: &Shared, claim: &Claim) -> Result<(), &'static str> {
    let asked = tokio::time::Instant::now();
    // A renewal that hangs is a failed renewal: never wait past the next one.
    let renewal = shared.store.extend_lease(claim, shared.config.lease);
    match tokio::time::timeout(shared.config.heartbeat() / 2, renewal).await {
        Ok(Ok(true)) => {
            claim.hold.renewed(asked);
            Ok(())
        }
        Ok(Ok(false)) => Err("lease lost; the job was taken over"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not extend the lease");
            claim
                .hold
                .is_held()
                .then_some(())
                .ok_or("could not renew the lease before it runs out")
        }
        Err(_) => {
            tracing::warn!("extending the lease timed out");
            claim
                .hold
                .is_held()
                .then_some(())
                .ok_or("could not renew the lease before it runs out")
        }
    }
}

async fn finish(shared: &Shared, claim: &Claim, result: Result<(), JobError>, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let store = &shared.store;
    let spent = claim.age.saturating_add(started.elapsed());
    let error = match result {
        Ok(()) => {
            let stored = store.complete(claim).await;
            record(shared, claim, "done", JobEventKind::Done, stored, seconds);
            return;
        }
        Err(JobError::Permanent(error)) => error,
        Err(JobError::Retry(error)) => {
            match retry_within_budget(shared, claim, error, spent, Duration::ZERO).await {
                Some(error) => error,
                None => return shared.metrics.job("retry", seconds),
            }
        }
        Err(JobError::RetryAfter(error, wait)) => {
            match retry_within_budget(shared, claim, error, spent, wait).await {
                Some(error) => error,
                None => return shared.metrics.job("retry", seconds),
            }
        }
    };
    tracing::error!(%error, "job failed");
    give_up(shared, claim, error, started).await;
}

/// Queues a retry when the budget allows it, else returns the error to give
/// up with.
async fn retry_within_budget(
    shared: &Shared,
    claim: &Claim,
    error: String,
    spent: Duration,
    not_before: Duration,
) -> Option<String> {
    let Some(delay) = shared
        .config
        .retry_delay(spent, claim.job.attempts, not_before)
    else {
        return Some(error);
    };
    tracing::warn!(%error, ?delay, "attempt failed; will retry");
    let stored = shared.store.retry_later(claim, &error, delay).await;
    log_stored(&stored);
    send(shared, claim, JobEventKind::Retrying(error));
    None
}

/// Tells the requester the job failed; marks it failed once that is done,
/// or queues it again to report later (GitHub may be down too).
async fn give_up(shared: &Shared, claim: &Claim, error: String, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let store = &shared.store;
    let told = shared
        .handler
        .give_up(store.clone(), claim.clone(), error.clone());
    let reported = match tokio::time::timeout(GIVE_UP_TIMEOUT, told).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("reporting the failure timed out".to_owned()),
    };
    let spent = claim.age.saturating_add(started.elapsed());
    if let Err(why) = reported {
        if let Some(delay) = shared.config.report_delay(spent, claim.job.attempts) {
            tracing::warn!(error = %why, ?delay, "could not report the failure; will try again");
            let stored = store.report_later(claim, &error, delay).await;
            log_stored(&stored);
            shared.metrics.job("retry", seconds);
            send(shared, claim, JobEventKind::Retrying(why));
            return;
        }
        tracing::error!(error = %why, "could not report the failure; giving that up too");
    }
    let stored = store.fail(claim, &error).await;
    record(
        shared,
        claim,
        "failed",
        JobEventKind::Failed(error),
        stored,
        seconds,
    );
}

fn record(
    shared: &Shared,
    claim: &Claim,
    label: &'static str,
    event: JobEventKind,
    stored: Result<bool, crate::store::StoreError>,
    seconds: f64,
) {
    log_stored(&stored);
    shared.metrics.job(label, seconds);
    send(shared, claim, event);
}

fn log_stored(stored: &Result<bool, crate::store::StoreError>) {
    match stored {
        Ok(true) => {}
        Ok(false) => tracing::warn!("lease was taken over before the job finished"),
        Err(e) => tracing::error!(error = %e, "could not record the job's result"),
    }
}

/// "6 h", "10 min", "30 s": a budget as a reply may show it.
pub fn describe(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs % 3600 == 0 {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{} s", secs)
    }
}

fn send(shared: &Shared, claim: &Claim, outcome: JobEventKind) {
    let _ = shared.events.send(JobEvent {
        job_id: claim.job.id,
        delivery_id: claim.job.delivery_id.clone(),
        outcome,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_last_as_long_as_the_budget() {
        let config = WorkerConfig {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            retry_budget: Duration::from_secs(3600),
            report_budget: Duration::from_secs(600),
            max_attempts: 1000,
            ..WorkerConfig::default()
        };
        let min = |m: u64| Duration::from_secs(m * 60);
        let rows = [
            // (spent, attempts, not_before, retry delay)
            (min(0), 1, Duration::ZERO, Some(Duration::from_secs(2))),
            (min(0), 9, Duration::ZERO, Some(Duration::from_secs(300))),
            (min(54), 20, Duration::ZERO, Some(Duration::from_secs(300))),
            (min(56), 20, Duration::ZERO, None),
            (min(10), 1, min(60), None),
            (min(10), 1, min(5), Some(min(5))),
        ];
        for (spent, attempts, not_before, expected) in rows {
            assert_eq!(
                config.retry_delay(spent, attempts, not_before),
                expected,
                "{spent:?} {attempts}"
            );
        }
        assert_eq!(
            config.report_delay(min(62), 30),
            Some(Duration::from_secs(300))
        );
        assert_eq!(config.report_delay(min(66), 30), None);
        let capped = WorkerConfig {
            max_attempts: 3,
            ..config
        };
        assert_eq!(capped.retry_delay(min(0), 3, Duration::ZERO), None);
        assert_eq!(describe(Duration::from_secs(6 * 3600)), "6 h");
        assert_eq!(describe(Duration::from_secs(600)), "10 min");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = WorkerConfig {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..WorkerConfig::default()
        };
        let delays: Vec<u64> = (1..=6).map(|a| config.backoff(a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10]);
    }
}
