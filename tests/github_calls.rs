//! The GitHub calls against the sandbox: pull requests, roles (and their
//! cache), the config file (present, missing, 304), check runs and statuses
//! (paginated), comments and reactions.

mod github_support;

use github_support::*;
use rerunbot::github::{GithubError, GithubOptions, PullState, Reaction};
use rerunbot::policy::plan::Role;
use rerunbot::sandbox::github::{SandboxCheckRun, SandboxPull, SandboxStatus, BOT_LOGIN};
use rerunbot::types::{CommitSha, Login, PullRequestNumber};
use std::time::Duration;

const CONFIG: &str = ".github/rerunbot.yml";

#[tokio::test]
async fn pull_requests_in_every_state() {
    let (sandbox, client) = setup(fast_options()).await;
    sandbox.add_repo(&repo(), "trunk");
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "aaa", "alice"));
    sandbox.add_pull_request(&repo(), SandboxPull::merged(2, "bbb", "mmm", "bob"));
    sandbox.add_pull_request(&repo(), SandboxPull::closed(3, "ccc", "carol"));
    let cases = [
        (1, PullState::Open, false, "aaa", None, "alice"),
        (2, PullState::Closed, true, "bbb", Some("mmm"), "bob"),
        (3, PullState::Closed, false, "ccc", None, "carol"),
    ];
    for (number, state, merged, head, merge, author) in cases {
        let pr = match client
            .pull_request(&repo(), PullRequestNumber(number))
            .await
        {
            Ok(pr) => pr,
            Err(e) => panic!("pr {number}: {e}"),
        };
        assert_eq!(pr.number, PullRequestNumber(number));
        assert_eq!(pr.state, state, "pr {number}");
        assert_eq!(pr.merged, merged, "pr {number}");
        assert_eq!(pr.head_sha, CommitSha::new(head));
        assert_eq!(pr.merge_commit_sha, merge.map(CommitSha::new));
        assert_eq!(pr.author, Login::new(author));
        assert_eq!(pr.base_default_branch.as_deref(), Some("trunk"));
    }
    let missing = client.pull_request(&repo(), PullRequestNumber(99)).await;
    assert!(
        matches!(missing, Err(GithubError::Permanent { status: 404, .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn roles_come_from_role_name_with_legacy_fallback() {
    let (sandbox, client) = setup(fast_options()).await;
    let cases = [
        ("ada", Some(Role::Admin), None, Role::Admin),
        ("max", Some(Role::Maintain), None, Role::Maintain),
        ("wes", Some(Role::Write), None, Role::Write),
        ("tia", Some(Role::Triage), None, Role::Triage),
        ("rae", Some(Role::Read), None, Role::Read),
        (
            "cus",
            None,
            Some(("release-managers", "write")),
            Role::Write,
        ),
        ("nobody", None, None, Role::None),
    ];
    for (user, role, custom, _) in cases {
        if let Some(role) = role {
            sandbox.set_role(&repo(), &Login::new(user), role);
        }
        if let Some((name, permission)) = custom {
            sandbox.set_custom_role(&repo(), &Login::new(user), name, permission);
        }
    }
    for (user, _, _, expected) in cases {
        let got = client.permission(&repo(), &Login::new(user)).await;
        assert_eq!(got.ok(), Some(expected), "{user}");
    }
}

#[tokio::test]
async fn roles_are_cached_for_the_ttl() {
    let (sandbox, client) = setup(fast_options()).await;
    let alice = Login::new("alice");
    sandbox.set_role(&repo(), &alice, Role::Write);
    assert_eq!(
        client.permission(&repo(), &alice).await.ok(),
        Some(Role::Write)
    );
    sandbox.set_role(&repo(), &alice, Role::Admin);
    // Within the TTL (60 s): the cached answer, no new request.
    assert_eq!(
        client.permission(&repo(), &Login::new("ALICE")).await.ok(),
        Some(Role::Write)
    );
    assert_eq!(
        calls_to(&sandbox, "GET", "/repos/mozilla/gecko/collaborators/").len(),
        1
    );

    // With a zero TTL every lookup asks GitHub.
    let options = GithubOptions {
        permission_ttl: Duration::ZERO,
        ..fast_options()
    };
    let (sandbox, client) = setup(options).await;
    sandbox.set_role(&repo(), &alice, Role::Write);
    assert_eq!(
        client.permission(&repo(), &alice).await.ok(),
        Some(Role::Write)
    );
    sandbox.set_role(&repo(), &alice, Role::Admin);
    assert_eq!(
        client.permission(&repo(), &alice).await.ok(),
        Some(Role::Admin)
    );
}

#[tokio::test]
async fn config_present_and_missing() {
    let (sandbox, client) = setup(fast_options()).await;
    // Long and non-ASCII, so the wrapped base64 is exercised.
    let text = format!(
        "limits:\n  max_retrigger: 5\n# {}\n# héllo ✓\n",
        "x".repeat(200)
    );
    sandbox.set_file(&repo(), CONFIG, &text);
    let got = client.repo_config_text(&repo()).await;
    assert_eq!(got.ok().flatten().as_deref(), Some(text.as_str()));
    // Read from the default branch: no `ref` parameter.
    let fetches = calls_to(&sandbox, "GET", "/repos/mozilla/gecko/contents/");
    assert_eq!(fetches.len(), 1);
    assert_eq!(
        fetches[0].path,
        "/repos/mozilla/gecko/contents/.github/rerunbot.yml"
    );

    let other = rerunbot::types::RepoName::new("mozilla", "empty");
    sandbox.add_repo(&other, "main");
    let missing = client.repo_config_text(&other).await;
    assert!(matches!(missing, Ok(None)), "{missing:?}");
}

#[tokio::test]
async fn config_is_revalidated_with_etag() {
    let options = GithubOptions {
        config_ttl: Duration::ZERO,
        ..fast_options()
    };
    let (sandbox, client) = setup(options).await;
    sandbox.set_file(&repo(), CONFIG, "limits: {}\n");
    for _ in 0..2 {
        let got = client.repo_config_text(&repo()).await;
        assert_eq!(got.ok().flatten().as_deref(), Some("limits: {}\n"));
    }
    let fetches = calls_to(&sandbox, "GET", "/repos/mozilla/gecko/contents/");
    assert_eq!(
        fetches.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![200, 304]
    );
    assert!(!fetches[0].headers.contains_key("if-none-match"));
    assert!(fetches[1].headers.contains_key("if-none-match"));

    // A changed file no longer matches the ETag: the new text arrives.
    sandbox.set_file(&repo(), CONFIG, "limits: { max_retrigger: 2 }\n");
    let got = client.repo_config_text(&repo()).await;
    assert_eq!(
        got.ok().flatten().as_deref(),
        Some("limits: { max_retrigger: 2 }\n")
    );
    // And a deleted file is seen as missing.
    sandbox.remove_file(&repo(), CONFIG);
    assert!(matches!(client.repo_config_text(&repo()).await, Ok(None)));
}

#[tokio::test]
async fn config_is_cached_within_the_ttl() {
    let (sandbox, client) = setup(fast_options()).await;
    sandbox.set_file(&repo(), CONFIG, "a: 1\n");
    assert!(client.repo_config_text(&repo()).await.is_ok());
    sandbox.set_file(&repo(), CONFIG, "a: 2\n");
    let got = client.repo_config_text(&repo()).await;
    assert_eq!(got.ok().flatten().as_deref(), Some("a: 1\n"));
    assert_eq!(
        calls_to(&sandbox, "GET", "/repos/mozilla/gecko/contents/").len(),
        1
    );
}

#[tokio::test]
async fn check_runs_follow_every_page() {
    let (sandbox, client) = setup(fast_options()).await;
    let sha = CommitSha::new("abc123");
    for i in 0..250 {
        let run = SandboxCheckRun::for_task(
            &format!("task-{i}"),
            "https://tc.example.com",
            &format!("T{i}"),
            "failure",
        );
        sandbox.add_check_run(&repo(), &sha, run);
    }
    sandbox.add_check_run(
        &repo(),
        &CommitSha::new("other"),
        SandboxCheckRun::for_task("x", "https://tc", "X", "success"),
    );
    let runs = match client.check_runs(&repo(), &sha).await {
        Ok(runs) => runs,
        Err(e) => panic!("check runs: {e}"),
    };
    assert_eq!(runs.len(), 250);
    assert_eq!(runs[0].name, "task-0");
    assert_eq!(runs[249].external_id.as_deref(), Some("T249"));
    assert_eq!(
        runs[249].details_url.as_deref(),
        Some("https://tc.example.com/tasks/T249")
    );
    assert_eq!(runs[249].head_sha, sha);
    let pages = calls_to(
        &sandbox,
        "GET",
        "/repos/mozilla/gecko/commits/abc123/check-runs",
    );
    let paths: Vec<&str> = pages.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/repos/mozilla/gecko/commits/abc123/check-runs?per_page=100",
            "/repos/mozilla/gecko/commits/abc123/check-runs?per_page=100&page=2",
            "/repos/mozilla/gecko/commits/abc123/check-runs?per_page=100&page=3",
        ]
    );
}

#[tokio::test]
async fn statuses_follow_every_page() {
    let (sandbox, client) = setup(fast_options()).await;
    let sha = CommitSha::new("abc123");
    for i in 0..120 {
        sandbox.add_status(
            &repo(),
            &sha,
            SandboxStatus {
                context: format!("ctx-{i}"),
                state: "failure".to_owned(),
                target_url: Some(format!("https://tc.example.com/tasks/groups/G{i}")),
                creator: "taskcluster[bot]".to_owned(),
            },
        );
    }
    let statuses = match client.statuses(&repo(), &sha).await {
        Ok(s) => s,
        Err(e) => panic!("statuses: {e}"),
    };
    assert_eq!(statuses.len(), 120);
    // Newest first, as GitHub lists them.
    assert_eq!(statuses[0].context, "ctx-119");
    assert_eq!(
        statuses[0].target_url.as_deref(),
        Some("https://tc.example.com/tasks/groups/G119")
    );
    assert_eq!(
        calls_to(
            &sandbox,
            "GET",
            "/repos/mozilla/gecko/commits/abc123/statuses"
        )
        .len(),
        2
    );
}

#[tokio::test]
async fn comments_are_created_then_edited_in_place() {
    let (sandbox, client) = setup(fast_options()).await;
    let pr = PullRequestNumber(5);
    sandbox.add_pull_request(&repo(), SandboxPull::open(5, "abc", "alice"));
    let id = match client.create_comment(&repo(), pr, "working on it").await {
        Ok(id) => id,
        Err(e) => panic!("create: {e}"),
    };
    let edited = client.edit_comment(&repo(), id, "done: 3 tasks").await;
    assert!(edited.is_ok(), "{edited:?}");
    let comments = sandbox.comments(&repo(), pr);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, id);
    assert_eq!(comments[0].body, "done: 3 tasks");
    assert_eq!(comments[0].author, Login::new(BOT_LOGIN));
    let patch = calls_to(
        &sandbox,
        "PATCH",
        &format!("/repos/mozilla/gecko/issues/comments/{id}"),
    );
    assert_eq!(patch.len(), 1);
    assert_eq!(
        patch[0].body,
        Some(serde_json::json!({ "body": "done: 3 tasks" }))
    );
}

#[tokio::test]
async fn reactions_are_added_once_each() {
    let (sandbox, client) = setup(fast_options()).await;
    let pr = PullRequestNumber(5);
    sandbox.add_pull_request(&repo(), SandboxPull::open(5, "abc", "alice"));
    let command = sandbox.add_user_comment(&repo(), pr, &Login::new("alice"), "/rerun");
    for reaction in [
        Reaction::Eyes,
        Reaction::Rocket,
        Reaction::Eyes,
        Reaction::Confused,
    ] {
        let added = client.add_reaction(&repo(), command, reaction).await;
        assert!(added.is_ok(), "{added:?}");
    }
    assert_eq!(
        sandbox.reactions(command),
        vec!["eyes", "rocket", "confused"]
    );
    let missing = client
        .add_reaction(&repo(), rerunbot::types::CommentId(1), Reaction::Eyes)
        .await;
    assert!(
        matches!(missing, Err(GithubError::Permanent { status: 404, .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn enterprise_server_base_url_works_with_pagination() {
    let sandbox = start(rerunbot::sandbox::github::SandboxGithubConfig::default()).await;
    let ghes = sandbox.ghes_api_url();
    let app = match rerunbot::github::GithubApp::with_options(
        &ghes,
        4242,
        &rerunbot::config::Secret::new(rerunbot::sandbox::github::TEST_APP_PRIVATE_KEY),
        fast_options(),
    ) {
        Ok(app) => app,
        Err(e) => panic!("app: {e}"),
    };
    let client = app.installation(INSTALLATION);
    let sha = CommitSha::new("abc123");
    for i in 0..150 {
        let run =
            SandboxCheckRun::for_task(&format!("t{i}"), "https://tc", &format!("T{i}"), "failure");
        sandbox.add_check_run(&repo(), &sha, run);
    }
    let runs = client.check_runs(&repo(), &sha).await;
    assert_eq!(runs.map(|r| r.len()).ok(), Some(150));
    let calls = sandbox.calls();
    assert!(!calls.is_empty());
    assert!(
        calls.iter().all(|c| c.path.starts_with("/api/v3/")),
        "{calls:?}"
    );
}
