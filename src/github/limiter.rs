//! The content-creation limiter: at most N content-creating requests (POST,
//! PATCH, PUT, DELETE) per sliding window per installation. GitHub's
//! secondary limit is 80 per minute; going over it earns a 403 and a
//! penalty, so we wait instead.
//!
//! One budget per installation for the whole deployment: when the app is
//! given the store ([`ContentLimiter::share`]), slots are taken in the
//! database (see `store::budget`), so every process on it and every restart
//! count against the same window. Without a store (tests, tools) the window
//! lives in this process. Either way a waiter holds no lock while it
//! sleeps: other installations and other jobs are never held up by it.

use crate::store::Store;
use crate::types::InstallationId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

pub struct ContentLimiter {
    max: u32,
    window: Duration,
    shared: OnceLock<Store>,
    /// Grants per installation when no store is shared (or it is down).
    local: Mutex<HashMap<InstallationId, VecDeque<Instant>>>,
}

impl ContentLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window,
            shared: OnceLock::new(),
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Counts grants in `store` from now on, shared with every process on
    /// it. A second call is ignored.
    pub fn share(&self, store: Store) {
        let _ = self.shared.set(store);
    }

    /// Waits until one more request of `installation` fits in the window,
    /// then counts it.
    pub async fn acquire(&self, installation: InstallationId) {
        loop {
            let wait = match self.shared.get() {
                Some(store) => {
                    match store
                        .take_content_slot(installation.0, self.max, self.window)
                        .await
                    {
                        Ok(wait) => wait,
                        Err(e) => {
                            // The database is down: keep within the limit in
                            // this process rather than stop writing.
                            tracing::warn!(error = %e, "content budget unavailable; counting in this process");
                            self.take_local(installation)
                        }
                    }
                }
                None => self.take_local(installation),
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// The in-process window: takes a slot (`None`) or says how long until
    /// one frees up. The lock is held only to look and count, never while
    /// waiting.
    fn take_local(&self, installation: InstallationId) -> Option<Duration> {
        let mut all = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let granted = all.entry(installation).or_default();
        let now = Instant::now();
        while granted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            granted.pop_front();
        }
        if granted.len() < self.max as usize {
            granted.push_back(now);
            return None;
        }
        let oldest = granted.front().copied().unwrap_or(now);
        Some((oldest + self.window).saturating_duration_since(now))
    }
}

/// The limiter as one installation's requests see it.
#[derive(Clone)]
pub struct InstallationLimiter {
    limiter: std::sync::Arc<ContentLimiter>,
    installation: InstallationId,
}

impl InstallationLimiter {
    pub fn new(limiter: std::sync::Arc<ContentLimiter>, installation: InstallationId) -> Self {
        Self {
            limiter,
            installation,
        }
    }

    pub async fn acquire(&self) {
        self.limiter.acquire(self.installation).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(300);
    const ONE: InstallationId = InstallationId(1);

    // A paused clock: time moves only when every task waits, so the
    // assertions hold however loaded the machine is.
    #[tokio::test(start_paused = true)]
    async fn requests_over_the_limit_wait_for_the_window() {
        let limiter = ContentLimiter::new(2, WINDOW);
        let start = Instant::now();
        limiter.acquire(ONE).await;
        limiter.acquire(ONE).await;
        assert!(start.elapsed() < WINDOW);
        limiter.acquire(ONE).await;
        assert!(start.elapsed() >= WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn every_waiter_is_eventually_served() {
        let limiter = std::sync::Arc::new(ContentLimiter::new(3, WINDOW));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..7 {
            let l = limiter.clone();
            handles.push(tokio::spawn(async move {
                l.acquire(ONE).await;
                start.elapsed()
            }));
        }
        let mut waits = Vec::new();
        for h in handles {
            waits.push(h.await.unwrap_or_default());
        }
        waits.sort();
        // 7 requests at 3 per window: served in windows 0, 1 and 2.
        assert_eq!(waits.len(), 7);
        assert!(waits[2] < WINDOW, "{waits:?}");
        assert!(waits[3] >= WINDOW, "{waits:?}");
        assert!(waits[6] >= WINDOW * 2, "{waits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_does_not_hold_up_another_installation() {
        let limiter = std::sync::Arc::new(ContentLimiter::new(1, WINDOW));
        let start = Instant::now();
        limiter.acquire(ONE).await;
        let waiting = tokio::spawn({
            let l = limiter.clone();
            async move { l.acquire(ONE).await }
        });
        tokio::task::yield_now().await;
        limiter.acquire(InstallationId(2)).await;
        assert!(start.elapsed() < WINDOW, "installation 2 went first");
        assert!(!waiting.is_finished());
        waiting.await.expect("served");
        assert!(start.elapsed() >= WINDOW);
    }
}
