//! Who may use rerunbot at all on a repository, decided before any work
//! (DESIGN.md §6: the role is checked before any Taskcluster work): the
//! commenter's role (one call, cached), whether they wrote the pull request
//! (from the delivery), and the repository's configuration as last read (a
//! fresh read only when it was never read, so a flood costs at most one per
//! cache period). A comment from someone who may run nothing costs the role
//! call and one reply — no reaction, no discovery — and the replies to one
//! person's refused comments are rate-limited.
//!
//! The role call and the configuration's first read do not depend on each
//! other: when both are needed (a cold start) they are made together, one
//! round trip instead of two.

use crate::github::{GithubError, InstallationClient};
use crate::policy::Role;
use crate::repo_config::{ConfigError, Permissions, RepoConfig};
use crate::webhook::event::CommentJob;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refusal replies one person gets per window; further refused comments
/// are only logged.
pub(crate) const REFUSALS_PER_WINDOW: usize = 3;
pub(crate) const REFUSAL_WINDOW: Duration = Duration::from_secs(600);
/// People remembered at once; the oldest are forgotten first.
const REMEMBERED: usize = 4096;

/// True when `role` (or authorship, through `pr_author_rerun`) allows at
/// least one of rerunbot's commands.
pub(crate) fn may_use(role: Role, is_pr_author: bool, permissions: &Permissions) -> bool {
    let lowest = permissions.rerun.min(permissions.retrigger);
    role >= lowest || (is_pr_author && permissions.pr_author_rerun)
}

/// The commenter's role and the permissions to judge it by: those of the
/// configuration as last read (`cached`), or of its first read, made
/// alongside the role call. An unreadable configuration judges by the
/// defaults here; its error is reported once the commenter is let in.
pub(crate) async fn role_and_permissions(
    gh: &InstallationClient,
    job: &CommentJob,
    cached: Option<&Result<RepoConfig, ConfigError>>,
) -> Result<(Role, Permissions), GithubError> {
    let defaults = || RepoConfig::default().permissions;
    let role = gh.permission(&job.repo, &job.commenter);
    match cached {
        Some(Ok(config)) => Ok((role.await?, config.permissions.clone())),
        Some(Err(_)) => Ok((role.await?, defaults())),
        // Never read: one read, cached for every later comment.
        None => {
            let (role, text) = tokio::try_join!(role, gh.repo_config_text(&job.repo))?;
            let permissions = match text {
                None => defaults(),
                Some(text) => crate::repo_config::parse(&text)
                    .map(|c| c.permissions)
                    .unwrap_or_else(|_| defaults()),
            };
            Ok((role, permissions))
        }
    }
}

/// The lowest role that allows any command.
pub(crate) fn needed(permissions: &Permissions) -> Role {
    permissions.rerun.min(permissions.retrigger)
}

/// Counts refusal replies per person over a sliding window.
#[derive(Default)]
pub(crate) struct RefusalLimiter {
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RefusalLimiter {
    /// True when `login` may get one more refusal reply now (and counts it).
    pub(crate) fn allow(&self, login: &str, now: Instant) -> bool {
        let login = login.to_ascii_lowercase();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= REMEMBERED && !recent.contains_key(&login) {
            recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < REFUSAL_WINDOW)
            });
            if recent.len() >= REMEMBERED {
                // Still full of active people: refuse silently rather than grow.
                return false;
            }
        }
        let times = recent.entry(login).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= REFUSAL_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= REFUSALS_PER_WINDOW {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_use_it() {
        let default = Permissions::default();
        let readers = Permissions {
            rerun: Role::Read,
            ..Permissions::default()
        };
        let no_authors = Permissions {
            pr_author_rerun: false,
            ..Permissions::default()
        };
        let rows = [
            // (role, author, permissions, may use)
            (Role::Write, false, &default, true),
            (Role::Triage, false, &default, false),
            (Role::None, true, &default, true),
            (Role::None, true, &no_authors, false),
            (Role::Read, false, &readers, true),
            (Role::None, false, &readers, false),
            (Role::Admin, false, &no_authors, true),
        ];
        for (role, author, permissions, expected) in rows {
            assert_eq!(
                may_use(role, author, permissions),
                expected,
                "{role:?} author={author}"
            );
        }
        assert_eq!(needed(&readers), Role::Read);
    }

    #[test]
    fn refusal_replies_are_limited_per_person_and_window() {
        let limiter = RefusalLimiter::default();
        let start = Instant::now();
        let answered: Vec<bool> = (0..5).map(|_| limiter.allow("mallory", start)).collect();
        assert_eq!(answered, vec![true, true, true, false, false]);
        assert!(limiter.allow("MALLORY2", start), "per person");
        assert!(
            !limiter.allow("Mallory", start),
            "logins are case-insensitive"
        );
        assert!(
            limiter.allow("mallory", start + REFUSAL_WINDOW),
            "a new window"
        );
    }
}
