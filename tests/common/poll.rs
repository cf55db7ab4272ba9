//! Bounded polling for state the tests cannot subscribe to (the sandbox
//! queue's records): read again shortly until it holds.

use std::time::Duration;

/// Polls `check` until it holds (10 s at most).
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}
