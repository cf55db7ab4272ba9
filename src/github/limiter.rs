//! The content-creation limiter: at most N content-creating requests (POST,
//! PATCH, PUT, DELETE) per sliding window per installation. GitHub's
//! secondary limit is 80 per minute; going over it earns a 403 and a
//! penalty, so we queue instead. Waiters are served in arrival order
//! (tokio's mutex is fair) and never dropped.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct ContentLimiter {
    max: usize,
    window: Duration,
    granted: Mutex<VecDeque<Instant>>,
}

impl ContentLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1) as usize,
            window,
            granted: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request fits in the window, then counts it.
    pub async fn acquire(&self) {
        // Holding the lock while sleeping is the point: the next caller
        // queues behind us and gets its turn in order.
        let mut granted = self.granted.lock().await;
        loop {
            let now = Instant::now();
            while granted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                granted.pop_front();
            }
            if granted.len() < self.max {
                granted.push_back(now);
                return;
            }
            if let Some(oldest) = granted.front().copied() {
                tokio::time::sleep_until(oldest + self.window).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(300);

    // A paused clock: time moves only when every task waits, so the
    // assertions hold however loaded the machine is.
    #[tokio::test(start_paused = true)]
    async fn requests_over_the_limit_wait_for_the_window() {
        let limiter = ContentLimiter::new(2, WINDOW);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert!(start.elapsed() < WINDOW);
        limiter.acquire().await;
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
                l.acquire().await;
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
}
