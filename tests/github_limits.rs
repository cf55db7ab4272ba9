//! Failure handling against the sandbox: 5xx retries, secondary rate limits
//! (`retry-after`), primary limits (`x-ratelimit-reset`) we will not wait
//! out, and the content-creation limiter queueing requests.

mod github_support;

use github_support::*;
use rerunbot::github::{GithubError, GithubOptions};
use rerunbot::sandbox::github::SandboxPull;
use rerunbot::types::PullRequestNumber;
use std::time::Duration;

async fn warm(
    sandbox: &rerunbot::sandbox::github::SandboxGithub,
    client: &rerunbot::github::InstallationClient,
) {
    sandbox.add_pull_request(&repo(), SandboxPull::open(1, "abc", "alice"));
    // Mint the token first so injected faults hit the call under test.
    assert!(client
        .pull_request(&repo(), PullRequestNumber(1))
        .await
        .is_ok());
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (sandbox, client) = setup(fast_options()).await;
    warm(&sandbox, &client).await;
    sandbox.fail_next(2, 502);
    let pr = client.pull_request(&repo(), PullRequestNumber(1)).await;
    assert!(pr.is_ok(), "{pr:?}");
    let statuses: Vec<u16> = calls_to(&sandbox, "GET", "/repos/mozilla/gecko/pulls/1")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![200, 502, 502, 200]);
}

#[tokio::test]
async fn server_errors_past_the_retry_budget_are_retryable_errors() {
    let options = GithubOptions {
        max_retries: 2,
        ..fast_options()
    };
    let (sandbox, client) = setup(options).await;
    warm(&sandbox, &client).await;
    sandbox.fail_next(10, 500);
    let err = client.pull_request(&repo(), PullRequestNumber(1)).await;
    match err {
        Err(e @ GithubError::Unavailable { .. }) => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains("500"), "{e}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // One try and two retries.
    assert_eq!(
        calls_to(&sandbox, "GET", "/repos/mozilla/gecko/pulls/1").len(),
        4
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (sandbox, client) = setup(fast_options()).await;
    warm(&sandbox, &client).await;
    sandbox.fail_next(1, 422);
    let err = client.pull_request(&repo(), PullRequestNumber(1)).await;
    assert!(
        matches!(err, Err(GithubError::Permanent { status: 422, .. })),
        "{err:?}"
    );
    assert!(!err.is_err_and(|e| e.is_retryable()));
    assert_eq!(
        calls_to(&sandbox, "GET", "/repos/mozilla/gecko/pulls/1").len(),
        2
    );
}

#[tokio::test]
async fn secondary_rate_limit_is_waited_out() {
    let (sandbox, client) = setup(fast_options()).await;
    warm(&sandbox, &client).await;
    sandbox.rate_limit_next(1, 1);
    let id = client
        .create_comment(&repo(), PullRequestNumber(1), "hello")
        .await;
    assert!(id.is_ok(), "{id:?}");
    let posts = calls_to(&sandbox, "POST", "/repos/mozilla/gecko/issues/1/comments");
    assert_eq!(
        posts.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![403, 201]
    );
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    // Queued and sent once: exactly one comment exists.
    assert_eq!(sandbox.comments(&repo(), PullRequestNumber(1)).len(), 1);
}

#[tokio::test]
async fn spent_primary_limit_waits_until_reset() {
    let (sandbox, client) = setup(fast_options()).await;
    warm(&sandbox, &client).await;
    sandbox.exhaust_rate_limit_next(1, 1);
    let pr = client.pull_request(&repo(), PullRequestNumber(1)).await;
    assert!(pr.is_ok(), "{pr:?}");
    let gets = calls_to(&sandbox, "GET", "/repos/mozilla/gecko/pulls/1");
    assert_eq!(
        gets.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![200, 403, 200]
    );
    let waited = gets[2].at.duration_since(gets[1].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[tokio::test]
async fn long_rate_limits_become_retryable_errors() {
    let options = GithubOptions {
        max_rate_limit_wait: Duration::from_secs(5),
        ..fast_options()
    };
    let (sandbox, client) = setup(options).await;
    warm(&sandbox, &client).await;
    sandbox.rate_limit_next(1, 3600);
    let started = std::time::Instant::now();
    let err = client
        .create_comment(&repo(), PullRequestNumber(1), "hello")
        .await;
    match err {
        Err(e @ GithubError::RateLimited { .. }) => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains("3600"), "{e}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(sandbox.comments(&repo(), PullRequestNumber(1)).is_empty());
}

#[tokio::test]
async fn content_creation_is_queued_not_dropped() {
    let window = Duration::from_millis(400);
    let options = GithubOptions {
        content_requests_per_window: 2,
        content_window: window,
        ..fast_options()
    };
    let (sandbox, client) = setup(options).await;
    warm(&sandbox, &client).await;
    // Taken before any slot is granted: every grant comes after it, whatever
    // the scheduling delays of a loaded machine (the request's arrival at the
    // sandbox may lag its grant, never precede it).
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for i in 0..5 {
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            client
                .create_comment(&repo(), PullRequestNumber(1), &format!("comment {i}"))
                .await
        }));
    }
    for handle in handles {
        let created = tokio::time::timeout(Duration::from_secs(10), handle).await;
        assert!(matches!(created, Ok(Ok(Ok(_)))), "{created:?}");
    }
    assert_eq!(sandbox.comments(&repo(), PullRequestNumber(1)).len(), 5);
    let posts = calls_to(&sandbox, "POST", "/repos/mozilla/gecko/issues/1/comments");
    assert_eq!(posts.len(), 5);
    assert!(posts.iter().all(|c| c.status == 201));
    // Two per window: the 3rd waits one window, the 5th two (less a few
    // milliseconds for the limiter's millisecond rounding).
    let rounding = Duration::from_millis(5);
    assert!(posts[2].at.duration_since(started) + rounding >= window);
    assert!(posts[4].at.duration_since(started) + rounding >= window * 2);
}

/// octocrab's retry layer is not in the stack: a comment creation answered
/// 502 is sent once (GitHub may have made it), while a read is retried.
#[tokio::test]
async fn a_comment_creation_is_never_replayed() {
    let (sandbox, client) = setup(fast_options()).await;
    warm(&sandbox, &client).await;
    sandbox.fail_next(1, 502);
    let err = client
        .create_comment(&repo(), PullRequestNumber(1), "hello")
        .await;
    assert!(
        matches!(&err, Err(e @ GithubError::Unavailable { .. }) if e.is_retryable()),
        "{err:?}"
    );
    assert_eq!(
        calls_to(&sandbox, "POST", "/repos/mozilla/gecko/issues/1/comments").len(),
        1
    );
}
