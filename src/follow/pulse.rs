//! The Pulse source (DESIGN.md §8, §13): one durable queue, bound to the
//! queue's task-completed / task-failed / task-exception exchanges with one
//! routing key per watched task group, consumed with manual acks.
//!
//! A message is acked only after its resolution is stored (the same
//! [`super::poll::record`] the poller uses), so a process killed mid-way
//! gets the message again; a redelivered message finds its watch resolved
//! already and changes nothing. Bindings follow the store: a group is bound
//! while it has an open watch and unbound once it has none. A lost
//! connection is retried with capped backoff; polling keeps running as the
//! backstop for whatever Pulse misses meanwhile.
//!
//! The same queue is bound to `task-group-resolved` (key
//! `primary.<taskGroupId>.#`) for the groups of pull requests whose
//! repository has `auto_rerun` on ([`crate::store::Store::auto_groups`]); such
//! a message becomes an automatic-rerun job (stored before the ack), which
//! reruns nothing twice however often the group is announced.

use super::poll::{record, resolved_run, RunState};
use super::Follower;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The Taskcluster queue's exchanges, as Pulse names them.
pub const QUEUE_EXCHANGE_PREFIX: &str = "exchange/taskcluster-queue/v1/";

/// The exchanges (after the prefix) that announce a resolved run.
pub const RESOLVED_EXCHANGES: [&str; 3] = ["task-completed", "task-failed", "task-exception"];

/// The exchange (after the prefix) that announces a resolved task group.
pub const GROUP_RESOLVED_EXCHANGE: &str = "task-group-resolved";

/// Where and how to consume.
#[derive(Clone)]
pub struct PulseConfig {
    /// `amqps://user:password@host:port/vhost` (secret: never logged).
    pub url: String,
    /// The durable queue (`queue/<user>/...` on Pulse).
    pub queue: String,
    /// Prefix of the exchange names ([`QUEUE_EXCHANGE_PREFIX`] in production).
    pub exchange_prefix: String,
    /// How often bindings are brought in line with the watched groups.
    pub sync_every: Duration,
    /// The longest wait between two connection attempts.
    pub max_backoff: Duration,
    /// Unacked messages in flight.
    pub prefetch: u16,
}

impl PulseConfig {
    pub fn new(url: &str, queue: &str) -> Self {
        PulseConfig {
            url: url.to_owned(),
            queue: queue.to_owned(),
            exchange_prefix: QUEUE_EXCHANGE_PREFIX.to_owned(),
            sync_every: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            prefetch: 32,
        }
    }

    fn exchanges(&self) -> impl Iterator<Item = String> + '_ {
        RESOLVED_EXCHANGES
            .iter()
            .map(move |e| format!("{}{e}", self.exchange_prefix))
    }
}

impl std::fmt::Debug for PulseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulseConfig")
            .field("url", &"<redacted>")
            .field("queue", &self.queue)
            .field("exchange_prefix", &self.exchange_prefix)
            .finish_non_exhaustive()
    }
}

/// The `task-group-resolved` routing key of `task_group_id` (its first
/// word after `primary`).
pub fn resolved_group_key(task_group_id: &str) -> String {
    format!("primary.{task_group_id}.#")
}

/// The group a `task-group-resolved` message announces.
pub fn parse_group_message(body: &[u8]) -> Option<String> {
    let message: Value = serde_json::from_slice(body).ok()?;
    let group = message.get("taskGroupId")?.as_str()?;
    (!group.is_empty()).then(|| group.to_owned())
}

/// The routing key that matches every run of `task_group_id` (the group is
/// the ninth word of the queue's routing keys).
pub fn group_routing_key(task_group_id: &str) -> String {
    format!("primary.*.*.*.*.*.*.*.{task_group_id}.#")
}

/// The task, run and resolution a queue message announces; `None` for a
/// message that is not about a resolved run.
pub fn parse_message(body: &[u8]) -> Option<(String, u32, RunState)> {
    let message: Value = serde_json::from_slice(body).ok()?;
    let status = message.get("status")?;
    let task_id = status.get("taskId")?.as_str()?.to_owned();
    let run_id = u32::try_from(message.get("runId")?.as_u64()?).ok()?;
    let run = resolved_run(status, run_id)?;
    Some((task_id, run_id, run))
}

/// The running consumer; stops on [`PulseHandle::shutdown`] or when dropped.
pub struct PulseHandle {
    stop: watch::Sender<bool>,
    bound: watch::Receiver<BTreeSet<String>>,
    groups: watch::Receiver<BTreeSet<String>>,
    task: Option<JoinHandle<()>>,
}

impl PulseHandle {
    /// The task groups currently bound (empty while disconnected).
    pub fn bindings(&self) -> watch::Receiver<BTreeSet<String>> {
        self.bound.clone()
    }

    /// The task groups bound on `task-group-resolved` (automatic reruns).
    pub fn group_bindings(&self) -> watch::Receiver<BTreeSet<String>> {
        self.groups.clone()
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PulseHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts consuming; reconnects with capped backoff until stopped.
pub fn spawn(follower: Follower, config: PulseConfig) -> PulseHandle {
    let (stop, mut stopped) = watch::channel(false);
    let (bound_tx, bound) = watch::channel(BTreeSet::new());
    let (groups_tx, groups) = watch::channel(BTreeSet::new());
    let task = tokio::spawn(async move {
        const FIRST: Duration = Duration::from_secs(1);
        let mut backoff = FIRST;
        loop {
            let started = tokio::time::Instant::now();
            let ended = tokio::select! {
                ended = session(&follower, &config, (&bound_tx, &groups_tx)) => ended,
                _ = stopped.changed() => break,
            };
            bound_tx.send_if_modified(|b| !std::mem::take(b).is_empty());
            groups_tx.send_if_modified(|b| !std::mem::take(b).is_empty());
            if let Err(e) = ended {
                tracing::warn!(error = %e, queue = %config.queue, "pulse: connection lost");
            }
            // A connection that held for a while starts the backoff over.
            if started.elapsed() >= config.max_backoff {
                backoff = FIRST;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped.changed() => break,
            }
            backoff = (backoff * 2).min(config.max_backoff.max(FIRST));
        }
    });
    PulseHandle {
        stop,
        bound,
        groups,
        task: Some(task),
    }
}

/// One connection: declare, consume, keep bindings in line; returns on the
/// first AMQP or store error (unacked messages are then redelivered).
async fn session(
    follower: &Follower,
    config: &PulseConfig,
    (bound_tx, groups_tx): (
        &watch::Sender<BTreeSet<String>>,
        &watch::Sender<BTreeSet<String>>,
    ),
) -> anyhow::Result<()> {
    let connection = Connection::connect(&config.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await?;
    channel
        .queue_declare(
            config.queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut consumer = channel
        .basic_consume(
            config.queue.as_str().into(),
            "rerunbot".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %config.queue, "pulse: consuming");
    let mut bound = BTreeSet::new();
    let mut bound_resolved = BTreeSet::new();
    let mut sync = tokio::time::interval(config.sync_every);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sync.tick() => {
                sync_bindings(follower, config, &channel, &mut bound).await?;
                sync_group_bindings(follower, config, &channel, &mut bound_resolved).await?;
                bound_tx.send_if_modified(|b| {
                    let changed = *b != bound;
                    b.clone_from(&bound);
                    changed
                });
                groups_tx.send_if_modified(|b| {
                    let changed = *b != bound_resolved;
                    b.clone_from(&bound_resolved);
                    changed
                });
            }
            delivery = consumer.next() => {
                let Some(delivery) = delivery else {
                    anyhow::bail!("consumer cancelled by the broker");
                };
                let delivery = delivery?;
                handle(follower, &delivery).await?;
                delivery.ack(BasicAckOptions::default()).await?;
            }
        }
    }
}

/// Stores what one message says. Nothing to store is fine (acked too).
async fn handle(follower: &Follower, delivery: &Delivery) -> anyhow::Result<()> {
    if delivery
        .exchange
        .as_str()
        .ends_with(GROUP_RESOLVED_EXCHANGE)
    {
        return group_resolved(follower, delivery).await;
    }
    match parse_message(&delivery.data) {
        Some((task_id, run_id, run)) => {
            record(follower, &task_id, run_id, &run, "pulse").await?;
        }
        None => tracing::warn!(
            exchange = %delivery.exchange,
            "pulse: message is not a resolved run; dropped"
        ),
    }
    Ok(())
}

/// A resolved group of a pull request with automatic reruns: queued as a
/// job (the job finds the group's pull request and judges it).
async fn group_resolved(follower: &Follower, delivery: &Delivery) -> anyhow::Result<()> {
    let Some(group) = parse_group_message(&delivery.data) else {
        tracing::warn!("pulse: task-group-resolved without a taskGroupId; dropped");
        return Ok(());
    };
    let payload = serde_json::to_string(&crate::follow::auto_rerun::run::GroupJob {
        task_group_id: group.clone(),
    })?;
    let delivery_id = format!(
        "pulse:{GROUP_RESOLVED_EXCHANGE}:{group}:{}",
        uuid::Uuid::new_v4().simple()
    );
    follower
        .store
        .enqueue(crate::store::NewJob {
            delivery_id: &delivery_id,
            event: crate::follow::auto_rerun::GROUP_EVENT,
            payload: &payload,
        })
        .await?;
    tracing::info!(task_group_id = %group, "pulse: task group resolved; automatic reruns queued");
    Ok(())
}

/// Binds and unbinds `task-group-resolved` for the groups followed for
/// automatic reruns.
async fn sync_group_bindings(
    follower: &Follower,
    config: &PulseConfig,
    channel: &Channel,
    bound: &mut BTreeSet<String>,
) -> anyhow::Result<()> {
    let wanted: BTreeSet<String> = match follower.store.auto_groups().await {
        Ok(groups) => groups.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "pulse: followed groups unavailable");
            return Ok(());
        }
    };
    let exchange = format!("{}{GROUP_RESOLVED_EXCHANGE}", config.exchange_prefix);
    for group in wanted.difference(bound).cloned().collect::<Vec<_>>() {
        channel
            .queue_bind(
                config.queue.as_str().into(),
                exchange.as_str().into(),
                resolved_group_key(&group).as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        bound.insert(group);
    }
    for group in bound.difference(&wanted).cloned().collect::<Vec<_>>() {
        channel
            .queue_unbind(
                config.queue.as_str().into(),
                exchange.as_str().into(),
                resolved_group_key(&group).as_str().into(),
                FieldTable::default(),
            )
            .await?;
        bound.remove(&group);
    }
    Ok(())
}

/// Binds newly watched groups and unbinds groups nothing watches any more.
async fn sync_bindings(
    follower: &Follower,
    config: &PulseConfig,
    channel: &Channel,
    bound: &mut BTreeSet<String>,
) -> anyhow::Result<()> {
    let wanted: BTreeSet<String> = match follower.store.watched_groups().await {
        Ok(groups) => groups.into_iter().collect(),
        Err(e) => {
            // The store is down: keep the bindings as they are.
            tracing::warn!(error = %e, "pulse: watched groups unavailable");
            return Ok(());
        }
    };
    for group in wanted.difference(bound).cloned().collect::<Vec<_>>() {
        for exchange in config.exchanges() {
            channel
                .queue_bind(
                    config.queue.as_str().into(),
                    exchange.as_str().into(),
                    group_routing_key(&group).as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        tracing::debug!(task_group_id = %group, "pulse: bound");
        bound.insert(group);
    }
    for group in bound.difference(&wanted).cloned().collect::<Vec<_>>() {
        for exchange in config.exchanges() {
            channel
                .queue_unbind(
                    config.queue.as_str().into(),
                    exchange.as_str().into(),
                    group_routing_key(&group).as_str().into(),
                    FieldTable::default(),
                )
                .await?;
        }
        tracing::debug!(task_group_id = %group, "pulse: unbound");
        bound.remove(&group);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::task::TaskState;
    use serde_json::json;

    #[test]
    fn messages_parse_by_rule() {
        let status = |state: &str| {
            json!({"taskId": "T", "runs": [{"runId": 0, "state": "failed"},
                {"runId": 1, "state": state, "reasonResolved": "claim-expired"}]})
        };
        type Want = Option<(&'static str, u32, TaskState)>;
        let rows: Vec<(Value, Want)> = vec![
            // A resolved run: task, run and state.
            (
                json!({"status": status("exception"), "runId": 1}),
                Some(("T", 1, TaskState::Exception)),
            ),
            // The run named, not the last one.
            (
                json!({"status": status("running"), "runId": 0}),
                Some(("T", 0, TaskState::Failed)),
            ),
            // A run that is not resolved yet.
            (json!({"status": status("running"), "runId": 1}), None),
            // No such run.
            (json!({"status": status("completed"), "runId": 7}), None),
            // Missing pieces.
            (json!({"runId": 1}), None),
            (json!({"status": status("completed")}), None),
            (json!({"status": status("completed"), "runId": -1}), None),
        ];
        for (message, want) in rows {
            let got = parse_message(message.to_string().as_bytes());
            let got = got.as_ref().map(|(t, r, s)| (t.as_str(), *r, s.state));
            assert_eq!(got, want, "{message}");
        }
        assert!(parse_message(b"not json").is_none());
    }

    #[test]
    fn group_resolutions_parse() {
        assert_eq!(
            parse_group_message(br#"{"taskGroupId": "G", "schedulerId": "s"}"#),
            Some("G".to_owned())
        );
        for bad in [&b"{}"[..], br#"{"taskGroupId": ""}"#, b"nope"] {
            assert_eq!(parse_group_message(bad), None);
        }
        assert_eq!(resolved_group_key("G"), "primary.G.#");
    }

    #[test]
    fn group_key_matches_the_ninth_word() {
        assert_eq!(group_routing_key("G"), "primary.*.*.*.*.*.*.*.G.#");
    }

    #[test]
    fn debug_hides_the_url() {
        let c = PulseConfig::new("amqps://u:hunter2@pulse/", "queue/u/x");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
