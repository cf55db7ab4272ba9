//! The worker pool: N loops that claim jobs with a lease, run them on the
//! handler, keep the lease alive while they run, and retry failures with
//! exponential backoff up to a bounded number of attempts. On shutdown the
//! loops stop claiming, running jobs get a grace period, and the leases of
//! jobs still running after it are released for another process.

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

    /// Called once, still holding the lease, before a job is marked failed
    /// for good (to tell its requester). Failures here are only logged.
    fn give_up(&self, _store: Store, _claim: Claim, _error: String) -> JobFuture {
        Box::pin(async { Ok(()) })
    }
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
    pub max_attempts: i64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How often an idle worker looks for jobs queued by another process.
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            lease: Duration::from_secs(60),
            max_attempts: 5,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            poll_interval: Duration::from_millis(500),
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
        let loops = (0..shared.config.workers.max(1))
            .map(|n| {
                let shared = shared.clone();
                let (stop_rx, hard_rx) = (stop_rx.clone(), hard_rx.clone());
                tokio::spawn(
                    worker_loop(shared, stop_rx, hard_rx)
                        .instrument(tracing::info_span!("worker", n)),
                )
            })
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
    let span = tracing::info_span!(
        "job",
        id = claim.job.id,
        guid = %claim.job.delivery_id,
        attempt = claim.job.attempts
    );
    async {
        let started = Instant::now();
        if claim.job.attempts > shared.config.max_attempts {
            let error = format!(
                "gave up after {} attempts (the last worker stopped without finishing)",
                shared.config.max_attempts
            );
            finish(shared, &claim, Err(JobError::Permanent(error)), started).await;
            return;
        }
        let mut job = tokio::spawn(shared.handler.handle(shared.store.clone(), claim.clone()));
        let mut heartbeat = tokio::time::interval(shared.config.lease / 3);
        heartbeat.tick().await;
        let result = loop {
            tokio::select! {
                joined = &mut job => break joined,
                _ = heartbeat.tick() => {
                    match shared.store.extend_lease(&claim, shared.config.lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Another worker owns the job now: stop, and leave it to them.
                            job.abort();
                            tracing::warn!("lease lost; the job was taken over, stopping this attempt");
                            send(shared, &claim, JobEventKind::Abandoned);
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "could not extend the lease"),
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

async fn finish(shared: &Shared, claim: &Claim, result: Result<(), JobError>, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let store = &shared.store;
    let not_before = match &result {
        Err(JobError::RetryAfter(_, wait)) => *wait,
        _ => Duration::ZERO,
    };
    let (label, event, stored) = match result {
        Ok(()) => ("done", JobEventKind::Done, store.complete(claim).await),
        Err(JobError::Retry(error) | JobError::RetryAfter(error, _))
            if claim.job.attempts < shared.config.max_attempts =>
        {
            let delay = shared.config.backoff(claim.job.attempts).max(not_before);
            tracing::warn!(%error, ?delay, "attempt failed; will retry");
            let stored = store.retry_later(claim, &error, delay).await;
            ("retry", JobEventKind::Retrying(error), stored)
        }
        Err(
            JobError::Retry(error) | JobError::RetryAfter(error, _) | JobError::Permanent(error),
        ) => {
            tracing::error!(%error, "job failed");
            let told = shared
                .handler
                .give_up(store.clone(), claim.clone(), error.clone());
            match tokio::time::timeout(GIVE_UP_TIMEOUT, told).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not report the failure"),
                Err(_) => tracing::warn!("reporting the failure timed out"),
            }
            let stored = store.fail(claim, &error).await;
            ("failed", JobEventKind::Failed(error), stored)
        }
    };
    match stored {
        Ok(true) => {}
        Ok(false) => tracing::warn!("lease was taken over before the job finished"),
        Err(e) => tracing::error!(error = %e, "could not record the job's result"),
    }
    shared.metrics.job(label, seconds);
    send(shared, claim, event);
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
