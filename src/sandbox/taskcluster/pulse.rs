//! The sandbox queue's Pulse side: declares the queue's topic exchanges on a
//! real AMQP broker and publishes a Pulse-shaped message (DESIGN.md §8) for
//! every run the sandbox worker resolves, as the Taskcluster queue does,
//! and `task-group-resolved` when a run's resolution leaves nothing of its
//! group pending or running.
//!
//! Tests give each world its own exchange prefix so parallel runs on one
//! broker do not see each other's messages.

use super::worker::Resolution;
use super::{SandboxQueue, Shared};
use crate::follow::pulse::{GROUP_RESOLVED_EXCHANGE, RESOLVED_EXCHANGES};
use crate::policy::task::TaskState;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// The exchange (after the prefix) that announces a run resolved as `state`.
pub fn exchange_for(state: TaskState) -> &'static str {
    match state {
        TaskState::Completed => RESOLVED_EXCHANGES[0],
        TaskState::Failed => RESOLVED_EXCHANGES[1],
        _ => RESOLVED_EXCHANGES[2],
    }
}

/// The queue's routing key for a run; fields the sandbox does not model
/// are `_`.
pub fn routing_key(task_id: &str, run_id: u32, task_group_id: &str) -> String {
    format!("primary.{task_id}.{run_id}._._._._._.{task_group_id}.")
}

/// The message body: `{status, runId, workerGroup, workerId, version}`.
pub fn message(status: &Value, run_id: u32) -> Value {
    json!({
        "version": 1,
        "status": status,
        "runId": run_id,
        "workerGroup": "_",
        "workerId": "_",
    })
}

/// A publisher attached to a sandbox queue; stops when dropped.
pub struct SandboxPulse {
    channel: Channel,
    _connection: Connection,
    prefix: String,
    forward: JoinHandle<()>,
}

impl SandboxPulse {
    /// Connects, declares the exchanges under `prefix`, and forwards every
    /// resolution of `queue`'s worker from now on.
    pub async fn start(queue: &SandboxQueue, url: &str, prefix: &str) -> anyhow::Result<Self> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        for name in RESOLVED_EXCHANGES.iter().chain([&GROUP_RESOLVED_EXCHANGE]) {
            channel
                .exchange_declare(
                    format!("{prefix}{name}").as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let mut resolutions = queue.resolutions();
        let (shared, publisher, exchange_prefix) =
            (queue.shared.clone(), channel.clone(), prefix.to_owned());
        let forward = tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match resolutions.recv().await {
                    Ok(r) => {
                        if let Err(e) = publish(&publisher, &exchange_prefix, &shared, &r).await {
                            tracing::warn!(error = %e, "sandbox pulse: publish failed");
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
        Ok(SandboxPulse {
            channel,
            _connection: connection,
            prefix: prefix.to_owned(),
            forward,
        })
    }

    /// Publishes the message for `resolution` now (as a redelivery would).
    pub async fn publish(
        &self,
        queue: &SandboxQueue,
        resolution: &Resolution,
    ) -> anyhow::Result<()> {
        publish(&self.channel, &self.prefix, &queue.shared, resolution).await
    }

    /// The publishing channel (tests publish raw messages with it).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes `task-group-resolved` for `task_group_id` now (as the
    /// queue does, or as a redelivery would).
    pub async fn publish_group_resolved(&self, task_group_id: &str) -> anyhow::Result<()> {
        publish_group(&self.channel, &self.prefix, task_group_id).await
    }

    /// Deletes the exchanges (end of a test).
    pub async fn delete_exchanges(&self) -> anyhow::Result<()> {
        for name in RESOLVED_EXCHANGES.iter().chain([&GROUP_RESOLVED_EXCHANGE]) {
            self.channel
                .exchange_delete(
                    format!("{}{name}", self.prefix).as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await?;
        }
        Ok(())
    }
}

impl Drop for SandboxPulse {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

async fn publish(
    channel: &Channel,
    prefix: &str,
    shared: &Shared,
    r: &Resolution,
) -> anyhow::Result<()> {
    let status = shared
        .lock()
        .data
        .get(&r.task_id)
        .map(|t| t.status.clone())
        .ok_or_else(|| anyhow::anyhow!("task {} is gone", r.task_id))?;
    let group_resolved = {
        let inner = shared.lock();
        let group = inner.data.group(&r.task_group_id);
        !group.is_empty()
            && group.iter().all(|(_, t)| {
                !matches!(
                    t.status.get("state").and_then(Value::as_str),
                    Some("pending" | "running")
                )
            })
    };
    let body = message(&status, r.run_id).to_string();
    channel
        .basic_publish(
            format!("{prefix}{}", exchange_for(r.state)).as_str().into(),
            routing_key(&r.task_id, r.run_id, &r.task_group_id)
                .as_str()
                .into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await?
        .await?;
    if group_resolved {
        publish_group(channel, prefix, &r.task_group_id).await?;
    }
    Ok(())
}

/// `task-group-resolved`: body `{taskGroupId, schedulerId}`, key
/// `primary.<taskGroupId>.<schedulerId>.`.
async fn publish_group(channel: &Channel, prefix: &str, task_group_id: &str) -> anyhow::Result<()> {
    let body = json!({"taskGroupId": task_group_id, "schedulerId": "_"}).to_string();
    channel
        .basic_publish(
            format!("{prefix}{GROUP_RESOLVED_EXCHANGE}").as_str().into(),
            format!("primary.{task_group_id}._.").as_str().into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await?
        .await?;
    Ok(())
}
