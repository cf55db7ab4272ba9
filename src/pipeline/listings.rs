//! The tasks discovered for a commit, shared for a short time by the jobs
//! of the same repository and head SHA: comments arriving together (or a
//! refusal right after a command) list a Firefox-sized graph once, not once
//! each. In-process, bounded and short-lived:
//!
//! - one listing per (repository, SHA) at a time: a job that asks while
//!   another lists waits for that listing instead of starting its own;
//! - an entry is used for [`LISTING_TTL`] after its listing finished, and
//!   forgotten as soon as this process dispatches an action for the commit
//!   (its own reruns and copies change the graph);
//! - at most [`MAX_LISTINGS`] commits are kept; the oldest goes first.
//!
//! Several replicas each keep their own: a replica may judge on states up
//! to [`LISTING_TTL`] old after another replica acted on the same commit.
//! The ledger and the plan's stored run counts (shared in the database)
//! still bound what that can do: `max_reruns_per_task` counts every rerun,
//! and the queue makes a rerun of a task already pending a no-op.

use super::StepError;
use crate::taskcluster::Discovered;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// How long a listing is reused after it finished.
pub const LISTING_TTL: Duration = Duration::from_secs(15);
/// Commits whose listings are kept at once.
pub const MAX_LISTINGS: usize = 4;

/// One commit's tasks (with the definitions kept from their listing) and
/// when their listing finished.
type Listed = (Instant, Discovered);

struct Entry {
    key: (String, String),
    cell: Arc<OnceCell<Listed>>,
}

/// The shared listings (see the module doc).
#[derive(Default)]
pub(crate) struct Listings {
    entries: Mutex<Vec<Entry>>,
}

impl Listings {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tasks of `repo` at `sha`: the listing made within
    /// [`LISTING_TTL`], the one under way, or a new one made by `list`. A
    /// failed listing is not kept (the next job lists again).
    pub async fn get_or_list<F, Fut>(
        &self,
        repo: &str,
        sha: &str,
        list: F,
    ) -> Result<Discovered, StepError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Discovered, StepError>>,
    {
        let key = (repo.to_owned(), sha.to_owned());
        let cell = {
            let mut entries = self.lock();
            let now = Instant::now();
            entries.retain(|e| e.cell.get().is_none_or(|(at, _)| now < *at + LISTING_TTL));
            match entries.iter().find(|e| e.key == key) {
                Some(entry) => entry.cell.clone(),
                None => {
                    if entries.len() >= MAX_LISTINGS {
                        // The oldest finished listing goes; one under way
                        // stays (its job is waiting on it).
                        let oldest = entries
                            .iter()
                            .enumerate()
                            .filter_map(|(i, e)| Some((e.cell.get()?.0, i)))
                            .min();
                        if let Some((_, i)) = oldest {
                            entries.remove(i);
                        }
                    }
                    let cell = Arc::new(OnceCell::new());
                    entries.push(Entry {
                        key,
                        cell: cell.clone(),
                    });
                    cell
                }
            }
        };
        let listed = cell
            .get_or_try_init(|| async { Ok::<_, StepError>((Instant::now(), list().await?)) })
            .await?;
        Ok(listed.1.clone())
    }

    /// Forgets the listing of `repo` at `sha` (this process acted on it).
    pub fn forget(&self, repo: &str, sha: &str) {
        self.lock().retain(|e| e.key.0 != repo || e.key.1 != sha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testutil::task;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn one_task() -> Discovered {
        Discovered {
            tasks: Arc::new(vec![task("A", "a")]),
            ..Discovered::default()
        }
    }

    async fn get(listings: &Listings, sha: &str, calls: &AtomicUsize) -> usize {
        let tasks = listings
            .get_or_list("o/r", sha, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(one_task())
            })
            .await
            .expect("lists");
        tasks.tasks.len()
    }

    #[tokio::test(start_paused = true)]
    async fn a_listing_is_shared_until_it_expires_or_is_forgotten() {
        let listings = Listings::default();
        let calls = AtomicUsize::new(0);
        assert_eq!(get(&listings, "s1", &calls).await, 1);
        get(&listings, "s1", &calls).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "shared within the TTL");
        tokio::time::advance(LISTING_TTL).await;
        get(&listings, "s1", &calls).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "listed again after the TTL"
        );
        listings.forget("o/r", "s1");
        get(&listings, "s1", &calls).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "listed again once forgotten"
        );
        for n in 0..MAX_LISTINGS {
            get(&listings, &format!("other{n}"), &calls).await;
        }
        assert!(listings.lock().len() <= MAX_LISTINGS, "bounded");
        get(&listings, "other3", &calls).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3 + MAX_LISTINGS,
            "newest kept"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_asking_together_share_one_listing_and_failures_are_not_kept() {
        let listings = Listings::default();
        let calls = AtomicUsize::new(0);
        let slow = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(one_task())
        };
        let (a, b) = tokio::join!(
            listings.get_or_list("o/r", "s", slow),
            listings.get_or_list("o/r", "s", slow)
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let failed = listings
            .get_or_list("o/r", "t", || async {
                Err(StepError::Corrupt("queue down".into()))
            })
            .await;
        assert!(failed.is_err());
        get(&listings, "t", &calls).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a failure is listed again");
    }
}
