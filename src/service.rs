//! One running rerunbot: the HTTP server, the worker pool and (when started)
//! the follow-through loop over one store.
//! Used by `serve`, by `demo` and by the tests, so all three run the same
//! wiring.

use crate::config::WebhookSecrets;
use crate::follow::pulse::{PulseConfig, PulseHandle};
use crate::follow::{FollowConfig, FollowEvent, FollowHandle, Follower};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::server::{router, serve, AppState, IngressLimits};
use crate::store::Store;
use crate::worker::{JobEvent, JobHandler, WorkerConfig, WorkerPool};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot, Notify};
use tokio::task::JoinHandle;

/// What a service shares with its job handler.
#[derive(Clone)]
pub struct ServiceOptions {
    /// The process's metrics (the handler counts its jobs there too).
    pub metrics: Arc<Metrics>,
    /// Slug of the Taskcluster GitHub App: only its `check_suite`s are
    /// queued (`RERUNBOT_TASKCLUSTER_APP`).
    pub taskcluster_app: String,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            metrics: Metrics::new(),
            taskcluster_app: crate::config::DEFAULT_TASKCLUSTER_APP.to_owned(),
        }
    }
}

/// A started service.
pub struct Service {
    pub addr: SocketAddr,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pool: WorkerPool,
    follow: Option<FollowHandle>,
    pulse: Option<PulseHandle>,
    server: JoinHandle<std::io::Result<()>>,
    stop_accepting: oneshot::Sender<()>,
}

impl Service {
    /// Serves on `listener` (default ingress limits) and starts the workers.
    pub async fn start(
        listener: TcpListener,
        store: Store,
        secrets: WebhookSecrets,
        handler: Arc<dyn JobHandler>,
        workers: WorkerConfig,
    ) -> std::io::Result<Self> {
        let limits = IngressLimits::default();
        Self::start_limited(listener, store, secrets, handler, (workers, limits)).await
    }

    /// [`Service::start`] with the given worker and ingress limits.
    pub async fn start_limited(
        listener: TcpListener,
        store: Store,
        secrets: WebhookSecrets,
        handler: Arc<dyn JobHandler>,
        limits: (WorkerConfig, IngressLimits),
    ) -> std::io::Result<Self> {
        let options = ServiceOptions::default();
        Self::start_with(listener, store, secrets, handler, limits, options).await
    }

    /// [`Service::start_limited`] with `options` (the metrics the handler
    /// shares, the App whose `check_suite`s are queued).
    pub async fn start_with(
        listener: TcpListener,
        store: Store,
        secrets: WebhookSecrets,
        handler: Arc<dyn JobHandler>,
        (workers, limits): (WorkerConfig, IngressLimits),
        options: ServiceOptions,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let ServiceOptions {
            metrics,
            taskcluster_app,
        } = options;
        let job_ready = Arc::new(Notify::new());
        let state = AppState {
            store: store.clone(),
            secrets,
            metrics: metrics.clone(),
            job_ready: job_ready.clone(),
            body_budget: Arc::new(tokio::sync::Semaphore::new(limits.body_budget)),
            body_read_timeout: limits.body_read_timeout,
            taskcluster_app: Arc::from(taskcluster_app.as_str()),
            history_counts: Arc::default(),
        };
        let (stop_accepting, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            serve(listener, router(state), limits, stopped).await
        });
        let pool = WorkerPool::spawn(store.clone(), handler, workers, job_ready, metrics.clone());
        Ok(Self {
            addr,
            store,
            metrics,
            pool,
            follow: None,
            pulse: None,
            server,
            stop_accepting,
        })
    }

    /// Starts the follow-through loop (DESIGN.md §13) over this service's
    /// store and metrics, with `pipeline`'s clients.
    pub fn start_following(&mut self, pipeline: Pipeline, config: FollowConfig) {
        self.start_following_with(pipeline, config, None);
    }

    /// [`Self::start_following`], plus the Pulse consumer when `pulse` is
    /// set (polling keeps running as the backstop).
    pub fn start_following_with(
        &mut self,
        pipeline: Pipeline,
        config: FollowConfig,
        pulse: Option<PulseConfig>,
    ) {
        let follower = Follower::new(self.store.clone(), pipeline, config, self.metrics.clone());
        self.pulse = pulse.map(|p| crate::follow::pulse::spawn(follower.clone(), p));
        self.follow = Some(follower.spawn());
    }

    /// The task groups the Pulse consumer has bound (`None` without Pulse).
    pub fn pulse_bindings(
        &self,
    ) -> Option<tokio::sync::watch::Receiver<std::collections::BTreeSet<String>>> {
        self.pulse.as_ref().map(PulseHandle::bindings)
    }

    /// The task groups the Pulse consumer has bound on
    /// `task-group-resolved` (`None` without Pulse).
    pub fn pulse_group_bindings(
        &self,
    ) -> Option<tokio::sync::watch::Receiver<std::collections::BTreeSet<String>>> {
        self.pulse.as_ref().map(PulseHandle::group_bindings)
    }

    /// Follow-through events from now on (none without [`Self::start_following`]).
    pub fn follow_events(&self) -> Option<broadcast::Receiver<FollowEvent>> {
        self.follow.as_ref().map(FollowHandle::subscribe)
    }

    /// `http://ADDR/webhook`.
    pub fn webhook_url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// Job events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.pool.subscribe()
    }

    /// Stops accepting requests, lets running jobs finish within `grace`,
    /// releases the rest.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop_accepting.send(());
        let _ = self.server.await;
        if let Some(pulse) = self.pulse {
            pulse.shutdown().await;
        }
        if let Some(follow) = self.follow {
            follow.shutdown().await;
        }
        self.pool.shutdown(grace).await;
    }
}
