//! What the logs carry: no secret or token, on success and failure paths.
//! Its own test binary: log capture is per thread (`set_default`), and
//! tracing caches a callsite's interest process-wide, so another test's
//! thread touching a callsite first could hide events from the capture.

mod common;

use rerunbot::sandbox::world::{World, WorldOptions, PR_OPEN};

const TWO_COMMANDS: &str =
    "/rerun source-test-mozlint-eslint\n/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1";

#[tokio::test]
async fn no_secret_or_token_reaches_the_logs() {
    let logs = common::CapturedLogs::start(false);

    let mut w = World::start(WorldOptions::default()).await.expect("world");
    // A failure path too: errors are where secrets tend to leak.
    w.queue.fail_next_matching("PUT", 1, 500);
    w.comment(PR_OPEN, "bob", TWO_COMMANDS)
        .await
        .expect("comment");
    w.github.expire_tokens();
    w.comment(PR_OPEN, "bob", "/rerun build-win64/opt")
        .await
        .expect("comment");
    w.shutdown().await;

    let logs = logs.text();
    assert!(logs.contains("queued"), "logs were captured:\n{logs}");
    assert!(logs.contains("replied"), "the pipeline logs too:\n{logs}");
    for secret in [
        rerunbot::sandbox::world::SECRET,
        "sandbox-access-token",
        "ghs_sandbox",
        "PRIVATE KEY",
        "Bearer ",
        "Hawk id=",
        "eyJ0eXAi",
        "eyJhbGci",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
