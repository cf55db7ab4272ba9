//! Pull-request details and the commenter's repository role (DESIGN.md §6:
//! permissions come from `role_name`, never from `author_association`).

use super::client::{is_not_found, login_key, make_room, repo_key, InstallationClient};
use super::error::GithubError;
use super::model::{PullRequest, RawPermission, RawPull};
use crate::policy::plan::Role;
use crate::types::{Login, PullRequestNumber, RepoName};
use std::time::Instant;

impl InstallationClient {
    /// `GET /repos/{o}/{r}/pulls/{n}`.
    pub async fn pull_request(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
    ) -> Result<PullRequest, GithubError> {
        let raw: RawPull = self
            .get_json(&format!("/repos/{repo}/pulls/{number}"))
            .await?;
        Ok(raw.into())
    }

    /// `GET /repos/{o}/{r}/commits/{sha}/pulls`: the pull requests of a
    /// commit (a `check_suite` of a fork names none itself).
    pub async fn pulls_of_commit(
        &self,
        repo: &RepoName,
        sha: &crate::types::CommitSha,
    ) -> Result<Vec<PullRequest>, GithubError> {
        let raw: Vec<RawPull> = self
            .get_json(&format!("/repos/{repo}/commits/{sha}/pulls?per_page=100"))
            .await?;
        Ok(raw.into_iter().map(PullRequest::from).collect())
    }

    /// The user's role in the repository, cached for `permission_ttl`.
    /// Not a collaborator (404) means `Role::None`.
    pub async fn permission(&self, repo: &RepoName, user: &Login) -> Result<Role, GithubError> {
        let key = (repo_key(repo), login_key(user));
        let ttl = self.options().permission_ttl;
        if let Some((role, at)) = self.lock_roles().get(&key) {
            if at.elapsed() < ttl {
                return Ok(*role);
            }
        }
        let path = format!("/repos/{repo}/collaborators/{user}/permission");
        let role = match self.get_json::<RawPermission>(&path).await {
            Ok(raw) => role_of(&raw),
            Err(e) if is_not_found(&e) => Role::None,
            Err(e) => return Err(e),
        };
        let mut roles = self.lock_roles();
        make_room(&mut roles, |(_, at)| at.elapsed() < ttl);
        roles.insert(key, (role, Instant::now()));
        Ok(role)
    }

    fn lock_roles(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), (Role, Instant)>>
    {
        self.state()
            .roles
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `role_name` when it is a built-in role; a custom role falls back to the
/// legacy `permission` it is based on.
fn role_of(raw: &RawPermission) -> Role {
    raw.role_name
        .as_deref()
        .and_then(parse_role)
        .or_else(|| raw.permission.as_deref().and_then(parse_role))
        .unwrap_or(Role::None)
}

fn parse_role(name: &str) -> Option<Role> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "admin" => Role::Admin,
        "maintain" => Role::Maintain,
        "write" | "push" => Role::Write,
        "triage" => Role::Triage,
        "read" | "pull" => Role::Read,
        "none" => Role::None,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_permission_answers() {
        let cases: [(Option<&str>, Option<&str>, Role); 9] = [
            (Some("admin"), Some("admin"), Role::Admin),
            (Some("maintain"), Some("write"), Role::Maintain),
            (Some("write"), Some("write"), Role::Write),
            (Some("triage"), Some("read"), Role::Triage),
            (Some("read"), Some("read"), Role::Read),
            // A custom role falls back to its base permission.
            (Some("release-managers"), Some("write"), Role::Write),
            (None, Some("admin"), Role::Admin),
            (Some("none"), Some("none"), Role::None),
            (None, None, Role::None),
        ];
        for (role_name, permission, expected) in cases {
            let raw = RawPermission {
                role_name: role_name.map(str::to_owned),
                permission: permission.map(str::to_owned),
            };
            assert_eq!(role_of(&raw), expected, "{role_name:?} {permission:?}");
        }
    }
}
