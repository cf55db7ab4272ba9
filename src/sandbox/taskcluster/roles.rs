//! The auth service's role table, as far as the sandbox needs it: a scope
//! set is expanded by the roles its `assume:` scopes reach (to a fixed
//! point), the way Taskcluster expands a client's scopes and a request's
//! `authorizedScopes`.
//!
//! A scope set reaches role `R` when it satisfies `assume:R`, or when `R`
//! ends in `*` and one of its `assume:` scopes starts with `assume:` + `R`
//! without the `*` (a parameterized role: `repo:github.com/a/b:*` is
//! reached by `assume:repo:github.com/a/b:pull-request`).

use super::scopes::satisfies;

/// One role: its id and the scopes it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRole {
    pub role_id: String,
    pub scopes: Vec<String>,
}

impl SandboxRole {
    pub fn new(role_id: &str, scopes: &[&str]) -> Self {
        Self {
            role_id: role_id.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The sandbox's role table for `mozilla/gecko-dev`:
/// - [`super::gecko_dev_role`] (`repo:github.com/mozilla/gecko-dev:*`);
/// - what its decision tasks may trigger (`in-tree:hook-action:`): a
///   pull request's (`:pull-request`) only the level-1 action hooks, a
///   branch's or an action's (`:branch:*`, `:action:*`, e.g. the release
///   promotion that made a release graph) the level-3 ones;
/// - the hook role of gecko's action hooks, `hook-id:project-gecko/in-tree-action-*`,
///   which assumes the repository's action roles: the action task an
///   action hook creates runs with the repository's scopes (signing
///   included), not with those of whoever triggered the hook.
pub fn gecko_roles() -> Vec<SandboxRole> {
    let repo = "repo:github.com/mozilla/gecko-dev";
    let hook_action = "in-tree:hook-action:project-gecko/in-tree-action";
    vec![
        super::gecko_dev_role(),
        SandboxRole::new(
            &format!("{repo}:pull-request"),
            &[&format!("{hook_action}-1-*")],
        ),
        SandboxRole::new(
            &format!("{repo}:branch:*"),
            &[&format!("{hook_action}-3-*")],
        ),
        SandboxRole::new(
            &format!("{repo}:action:*"),
            &[&format!("{hook_action}-3-*")],
        ),
        SandboxRole::new(
            "hook-id:project-gecko/in-tree-action-*",
            &[&format!("assume:{repo}:action:*")],
        ),
    ]
}

/// `scopes` with the scopes of every role they reach, sorted, without
/// duplicates.
pub fn expand(scopes: &[String], roles: &[SandboxRole]) -> Vec<String> {
    let mut out: Vec<String> = scopes.to_vec();
    let mut used = vec![false; roles.len()];
    loop {
        let mut grew = false;
        for (role, used) in roles.iter().zip(used.iter_mut()) {
            if *used || !reaches(&out, &role.role_id) {
                continue;
            }
            *used = true;
            grew = true;
            out.extend(role.scopes.iter().cloned());
        }
        if !grew {
            break;
        }
    }
    out.sort();
    out.dedup();
    out
}

fn reaches(scopes: &[String], role_id: &str) -> bool {
    if satisfies(scopes, &format!("assume:{role_id}")) {
        return true;
    }
    let Some(prefix) = role_id.strip_suffix('*') else {
        return false;
    };
    let prefix = format!("assume:{prefix}");
    scopes.iter().any(|s| s.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn assume_scopes_reach_roles() {
        let roles = vec![
            SandboxRole::new("repo:github.com/a/b:*", &["queue:rerun-task:a-level-1/*"]),
            SandboxRole::new(
                "repo:github.com/a/b:branch:main",
                &["assume:project:a:ship"],
            ),
            SandboxRole::new("project:a:ship", &["project:a:signing"]),
            SandboxRole::new("repo:github.com/c/d:*", &["queue:rerun-task:c-level-1/*"]),
        ];
        let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
            (
                "parameterized role",
                vec!["assume:repo:github.com/a/b:pull-request"],
                vec!["queue:rerun-task:a-level-1/*"],
            ),
            (
                "star scope reaches roles below it, transitively",
                vec!["assume:repo:github.com/a/b:*"],
                vec!["queue:rerun-task:a-level-1/*", "project:a:signing"],
            ),
            ("no assume scope", vec!["queue:*"], vec![]),
        ];
        for (name, given, wanted) in cases {
            let got = expand(&strings(&given), &roles);
            for w in &wanted {
                assert!(got.iter().any(|g| g == w), "{name}: {w} in {got:?}");
            }
            assert!(
                !got.iter().any(|g| g.contains("c-level")),
                "{name}: another repository's role: {got:?}"
            );
        }
    }
}
