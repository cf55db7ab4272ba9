//! How long this process may still act on a claimed job, by its own clock.
//! The database holds the lease; this is the worker's conservative view of
//! it: the lease counts from the moment the claim (or the last renewal) was
//! *asked for*, so the real lease always outlasts it. Dispatch consults it
//! before each queue call, and the worker stops an attempt whose lease it
//! could not renew before the lease runs out.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// A shared view of one claim's lease; clones see the same state.
#[derive(Clone, Debug)]
pub struct LeaseHold {
    inner: Arc<Mutex<HoldState>>,
}

#[derive(Debug)]
struct HoldState {
    lease: Duration,
    valid_until: Instant,
    lost: bool,
}

impl LeaseHold {
    /// A lease of `lease` asked for at `asked`.
    pub fn new(asked: Instant, lease: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(HoldState {
                lease,
                valid_until: asked + lease,
                lost: false,
            })),
        }
    }

    /// A hold that never runs out, for dispatching outside a job (tests,
    /// benchmarks, the CLI).
    pub fn unbounded() -> Self {
        // Far enough to never matter, near enough to never overflow.
        Self::new(Instant::now(), Duration::from_secs(100 * 365 * 86_400))
    }

    fn lock(&self) -> MutexGuard<'_, HoldState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lease was extended by a renewal asked for at `asked`.
    pub fn renewed(&self, asked: Instant) {
        let mut state = self.lock();
        let until = asked + state.lease;
        if until > state.valid_until {
            state.valid_until = until;
        }
    }

    /// The lease is gone (taken over, or about to run out unrenewed).
    pub fn lose(&self) {
        self.lock().lost = true;
    }

    /// True while work may start: the lease is ours and more than a quarter
    /// of it is left (so that what starts now ends before it runs out).
    pub fn is_held(&self) -> bool {
        let state = self.lock();
        !state.lost && Instant::now() + state.lease / 4 < state.valid_until
    }

    /// The lease's length.
    pub fn lease(&self) -> Duration {
        self.lock().lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn held_until_three_quarters_then_renewals_extend_it() {
        let lease = Duration::from_secs(40);
        let hold = LeaseHold::new(Instant::now(), lease);
        assert!(hold.is_held());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(hold.is_held(), "11 s left");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!hold.is_held(), "10 s left: a quarter");
        hold.renewed(Instant::now());
        assert!(hold.is_held());
        hold.renewed(Instant::now() - Duration::from_secs(100));
        assert!(hold.is_held(), "an older renewal never shortens it");
        hold.lose();
        assert!(!hold.is_held());
    }
}
