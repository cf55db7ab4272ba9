//! Webhook deliveries built from GitHub's published examples
//! (`fixtures/github/webhooks/`, from `@octokit/webhooks-examples`, MIT).
//! Each builder starts from the real payload and changes only the fields a
//! scenario needs, so every other field GitHub sends (or omits) is what the
//! webhook parser meets in the demo and the tests.

use serde_json::{json, Value};

/// `issue_comment` `created`, as GitHub sends it to an App installation.
pub const ISSUE_COMMENT_CREATED: &str =
    include_str!("../../../fixtures/github/webhooks/issue_comment.created.json");
/// `issue_comment` `edited` (with `changes.body.from`).
pub const ISSUE_COMMENT_EDITED: &str =
    include_str!("../../../fixtures/github/webhooks/issue_comment.edited.json");
/// `check_suite` `completed` of another App's suite.
pub const CHECK_SUITE_COMPLETED: &str =
    include_str!("../../../fixtures/github/webhooks/check_suite.completed.json");
/// `ping`, sent when a webhook is created.
pub const PING: &str = include_str!("../../../fixtures/github/webhooks/ping.json");

/// The fields of an `issue_comment` delivery a scenario chooses.
#[derive(Clone, Debug)]
pub struct CommentDelivery<'a> {
    /// `created`, `edited` or `deleted`.
    pub action: &'a str,
    /// `owner/name`.
    pub repo: &'a str,
    pub installation: u64,
    pub pr: u64,
    pub pr_author: &'a str,
    pub comment_id: u64,
    /// The commenter (and sender).
    pub login: &'a str,
    pub body: &'a str,
    /// For an edit, the body it replaced (`changes.body.from`); `None`
    /// leaves `changes` out.
    pub before: Option<&'a str>,
}

/// An `issue_comment` delivery on a pull request.
pub fn issue_comment(d: &CommentDelivery) -> Vec<u8> {
    let example = if d.action == "edited" {
        ISSUE_COMMENT_EDITED
    } else {
        ISSUE_COMMENT_CREATED
    };
    let mut p = parse(example);
    let (owner, name) = d.repo.split_once('/').unwrap_or((d.repo, d.repo));
    p["action"] = d.action.into();
    set_repository(&mut p, owner, name);
    p["installation"]["id"] = d.installation.into();

    let issue = &mut p["issue"];
    issue["number"] = d.pr.into();
    issue["url"] = format!("https://api.github.com/repos/{}/issues/{}", d.repo, d.pr).into();
    issue["html_url"] = format!("https://github.com/{}/pull/{}", d.repo, d.pr).into();
    set_user(&mut issue["user"], d.pr_author);
    // What marks a comment on a pull request (the examples are on issues).
    issue["pull_request"] = json!({
        "url": format!("https://api.github.com/repos/{}/pulls/{}", d.repo, d.pr),
        "html_url": format!("https://github.com/{}/pull/{}", d.repo, d.pr),
        "diff_url": format!("https://github.com/{}/pull/{}.diff", d.repo, d.pr),
        "patch_url": format!("https://github.com/{}/pull/{}.patch", d.repo, d.pr),
        "merged_at": null
    });

    let comment = &mut p["comment"];
    comment["id"] = d.comment_id.into();
    comment["body"] = d.body.into();
    comment["html_url"] = format!(
        "https://github.com/{}/pull/{}#issuecomment-{}",
        d.repo, d.pr, d.comment_id
    )
    .into();
    set_user(&mut comment["user"], d.login);
    set_user(&mut p["sender"], d.login);

    match (d.action, d.before) {
        ("edited", Some(before)) => p["changes"] = json!({"body": {"from": before}}),
        _ => {
            if let Some(map) = p.as_object_mut() {
                map.remove("changes");
            }
        }
    }
    to_vec(&p)
}

/// A `check_suite` `completed` delivery for `head_sha` in `repo`, from the
/// App `app_slug`; `pull_requests` empty as GitHub sends it for forks.
pub fn check_suite_completed(
    repo: &str,
    installation_id: u64,
    head_sha: &str,
    app_slug: &str,
    conclusion: &str,
) -> Vec<u8> {
    let mut p = parse(CHECK_SUITE_COMPLETED);
    let (owner, name) = repo.split_once('/').unwrap_or((repo, repo));
    set_repository(&mut p, owner, name);
    p["installation"]["id"] = installation_id.into();
    let suite = &mut p["check_suite"];
    suite["head_sha"] = head_sha.into();
    suite["after"] = head_sha.into();
    suite["conclusion"] = conclusion.into();
    suite["app"]["slug"] = app_slug.into();
    suite["pull_requests"] = json!([]);
    to_vec(&p)
}

/// The `ping` delivery, unchanged.
pub fn ping() -> Vec<u8> {
    PING.as_bytes().to_vec()
}

fn parse(example: &str) -> Value {
    // The examples are compiled in; the tests check that each parses.
    serde_json::from_str(example).unwrap_or_else(|_| json!({}))
}

fn to_vec(p: &Value) -> Vec<u8> {
    serde_json::to_vec(p).unwrap_or_default()
}

fn set_repository(p: &mut Value, owner: &str, name: &str) {
    let repo = &mut p["repository"];
    repo["name"] = name.into();
    repo["full_name"] = format!("{owner}/{name}").into();
    repo["html_url"] = format!("https://github.com/{owner}/{name}").into();
    repo["url"] = format!("https://api.github.com/repos/{owner}/{name}").into();
    repo["default_branch"] = "main".into();
    set_user(&mut repo["owner"], owner);
}

/// A user object: login, and `type` `Bot` for `name[bot]` logins.
fn set_user(user: &mut Value, login: &str) {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    user["login"] = login.into();
    user["type"] = kind.into();
    user["html_url"] = format!("https://github.com/{login}").into();
    user["url"] = format!("https://api.github.com/users/{login}").into();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_an_object() {
        for example in [
            ISSUE_COMMENT_CREATED,
            ISSUE_COMMENT_EDITED,
            CHECK_SUITE_COMPLETED,
            PING,
        ] {
            let value: Value = serde_json::from_str(example).expect("example parses");
            assert!(value.is_object());
        }
    }

    #[test]
    fn a_comment_delivery_keeps_the_examples_fields_and_sets_the_scenarios() {
        let body = issue_comment(&CommentDelivery {
            action: "edited",
            repo: "mozilla/gecko-dev",
            installation: 55,
            pr: 7,
            pr_author: "alice",
            comment_id: 1001,
            login: "bob",
            body: "/rerun",
            before: Some("hi"),
        });
        let p: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(p["repository"]["full_name"], "mozilla/gecko-dev");
        assert_eq!(p["issue"]["number"], 7);
        assert_eq!(p["comment"]["user"]["login"], "bob");
        assert_eq!(p["changes"]["body"]["from"], "hi");
        // Untouched fields of GitHub's example are still there.
        assert!(p["comment"]["author_association"].is_string());
        assert!(p["issue"]["labels"].is_array());
    }
}
