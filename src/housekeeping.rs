//! The retention loop: once at start and then every hour, finished jobs
//! older than `RERUNBOT_RETENTION` are purged (see `store::purge`). Several
//! replicas may run it at once: the deletes are idempotent.

use crate::store::Store;
use std::time::Duration;
use tokio::sync::watch;

/// How often the purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Purges until `stop` turns true.
pub async fn purge_loop(store: Store, retention: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => match store.purge(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "purged jobs past the retention period"),
                Err(e) => tracing::warn!(error = %e, "purge failed; will try again"),
            },
            _ = stop.changed() => {}
        }
    }
}
