//! App authentication against the sandbox: JWT, token caching and refresh.

mod github_support;

use github_support::*;
use rerunbot::github::GithubError;
use rerunbot::sandbox::github::{SandboxGithubConfig, SandboxPull, TEST_APP_PRIVATE_KEY};
use rerunbot::types::PullRequestNumber;
use std::time::Duration;

const OTHER_KEY: &str = include_str!("../fixtures/github/other-key.pem");

#[tokio::test]
async fn token_is_minted_once_and_reused() {
    let (sandbox, client) = setup(fast_options()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    for _ in 0..3 {
        let pr = client.pull_request(&repo(), PullRequestNumber(1)).await;
        assert!(pr.is_ok(), "{pr:?}");
    }
    assert_eq!(token_calls(&sandbox), 1);
    assert_eq!(sandbox.tokens_issued(), vec![INSTALLATION]);

    let calls = sandbox.calls();
    let mint = &calls[0];
    assert_eq!(mint.path, "/app/installations/7/access_tokens");
    assert_eq!(
        mint.headers.get("authorization").map(String::as_str),
        Some("Bearer")
    );
    // octocrab sends installation tokens as `Bearer` (GitHub takes
    // `Bearer` and `token` alike).
    for call in &calls[1..] {
        assert_eq!(
            call.headers.get("authorization").map(String::as_str),
            Some("Bearer")
        );
        assert_eq!(
            call.headers.get("accept").map(String::as_str),
            Some("application/vnd.github+json")
        );
        assert_eq!(
            call.headers.get("x-github-api-version").map(String::as_str),
            Some("2022-11-28")
        );
        assert_eq!(
            call.headers.get("user-agent").map(String::as_str),
            Some("rerunbot")
        );
    }
}

#[tokio::test]
async fn clients_of_one_app_share_the_token_per_installation() {
    let sandbox = start(SandboxGithubConfig::default()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    let app = app(&sandbox, 4242, TEST_APP_PRIVATE_KEY, fast_options());
    let a = app.installation(INSTALLATION);
    let b = app.installation(INSTALLATION);
    let other = app.installation(rerunbot::types::InstallationId(8));
    for client in [&a, &b, &other] {
        let pr = client.pull_request(&repo(), PullRequestNumber(1)).await;
        assert!(pr.is_ok(), "{pr:?}");
    }
    let mut issued = sandbox.tokens_issued();
    issued.sort();
    assert_eq!(
        issued,
        vec![INSTALLATION, rerunbot::types::InstallationId(8)]
    );
}

#[tokio::test]
async fn token_close_to_expiry_is_replaced() {
    // Tokens that live 20 seconds are inside octocrab's 30-second refresh
    // margin, so every call needs a new one.
    let config = SandboxGithubConfig {
        token_lifetime: Duration::from_secs(20),
        ..SandboxGithubConfig::default()
    };
    let (sandbox, client) = setup_with(config, fast_options()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    for _ in 0..2 {
        assert!(client
            .pull_request(&repo(), PullRequestNumber(1))
            .await
            .is_ok());
    }
    assert_eq!(token_calls(&sandbox), 2);
}

#[tokio::test]
async fn a_fresh_token_refused_on_the_first_call_is_not_the_last_word() {
    // The first call uses the token it just minted as given; when GitHub
    // refuses it twice (octocrab's resend included), the installation's
    // cached client is tried once more before giving up.
    let (sandbox, client) = setup(fast_options()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    sandbox.fail_next_matching("GET", "/pulls/1", 2, 401);
    let pr = client.pull_request(&repo(), PullRequestNumber(1)).await;
    assert!(pr.is_ok(), "{pr:?}");
    let statuses: Vec<u16> = sandbox.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![201, 401, 401, 200]);
}

#[tokio::test]
async fn expired_token_is_replaced_after_a_401() {
    let (sandbox, client) = setup(fast_options()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    assert!(client
        .pull_request(&repo(), PullRequestNumber(1))
        .await
        .is_ok());
    sandbox.expire_tokens();
    let pr = client.pull_request(&repo(), PullRequestNumber(1)).await;
    assert!(pr.is_ok(), "{pr:?}");
    assert_eq!(token_calls(&sandbox), 2);
    let statuses: Vec<u16> = sandbox.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![201, 200, 401, 201, 200]);
}

#[tokio::test]
async fn jwt_signed_with_another_key_is_rejected() {
    let sandbox = start(SandboxGithubConfig::default()).await;
    let client = app(&sandbox, 4242, OTHER_KEY, fast_options()).installation(INSTALLATION);
    let err = client.pull_request(&repo(), PullRequestNumber(1)).await;
    match err {
        Err(e @ GithubError::Permanent { status: 401, .. }) => assert!(!e.is_retryable()),
        other => panic!("expected a 401, got {other:?}"),
    }
    assert!(sandbox.tokens_issued().is_empty());
    // No retry storm on a refused JWT: one attempt.
    assert_eq!(token_calls(&sandbox), 1);
}

#[tokio::test]
async fn jwt_for_another_app_id_is_rejected() {
    let sandbox = start(SandboxGithubConfig::default()).await;
    let client =
        app(&sandbox, 9999, TEST_APP_PRIVATE_KEY, fast_options()).installation(INSTALLATION);
    let err = client.pull_request(&repo(), PullRequestNumber(1)).await;
    assert!(
        matches!(err, Err(GithubError::Permanent { status: 401, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bad_key_is_reported_without_echoing_it() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END RSA PRIVATE KEY-----\n";
    let err = rerunbot::github::GithubApp::new(
        "http://127.0.0.1:1",
        1,
        &rerunbot::config::Secret::new(pem),
    );
    match err {
        Err(e @ GithubError::Key(_)) => {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("c2VjcmV0"), "{text}");
        }
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_output_shows_no_secrets() {
    let (sandbox, client) = setup(fast_options()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    assert!(client
        .pull_request(&repo(), PullRequestNumber(1))
        .await
        .is_ok());
    let app = app(&sandbox, 4242, TEST_APP_PRIVATE_KEY, fast_options());
    let shown = format!("{app:?} {client:?}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
    assert!(!shown.contains("ghs_"), "{shown}");
}

#[tokio::test]
async fn sandbox_refuses_calls_without_a_valid_token() {
    let sandbox = start(SandboxGithubConfig::default()).await;
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    let http = reqwest::Client::new();
    let url = format!("{}/repos/mozilla/gecko/pulls/1", sandbox.api_url());
    let cases = [None, Some("token ghs_made_up"), Some("Bearer not.a.jwt")];
    for auth in cases {
        let mut request = http.get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let status = request.send().await.map(|r| r.status().as_u16()).ok();
        assert_eq!(status, Some(401), "{auth:?}");
    }
    let statuses: Vec<u16> = sandbox.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![401, 401, 401]);
}
