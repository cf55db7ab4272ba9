//! Shared setup for the GitHub client tests: a sandbox GitHub on loopback
//! and an App client pointed at it with the test key.
#![allow(dead_code)]

use rerunbot::config::Secret;
use rerunbot::github::{GithubApp, GithubOptions, InstallationClient};
use rerunbot::sandbox::github::{
    RecordedCall, SandboxGithub, SandboxGithubConfig, TEST_APP_PRIVATE_KEY,
};
use rerunbot::types::{InstallationId, RepoName};
use std::time::Duration;

pub const INSTALLATION: InstallationId = InstallationId(7);

pub fn repo() -> RepoName {
    RepoName::new("mozilla", "gecko")
}

/// Fast retries so failure tests finish quickly; real limits otherwise.
pub fn fast_options() -> GithubOptions {
    GithubOptions {
        backoff_base: Duration::from_millis(10),
        request_timeout: Duration::from_secs(10),
        ..GithubOptions::default()
    }
}

pub async fn start(config: SandboxGithubConfig) -> SandboxGithub {
    match SandboxGithub::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => panic!("sandbox starts: {e}"),
    }
}

pub fn app(
    sandbox: &SandboxGithub,
    app_id: u64,
    key_pem: &str,
    options: GithubOptions,
) -> GithubApp {
    match GithubApp::with_options(sandbox.api_url(), app_id, &Secret::new(key_pem), options) {
        Ok(app) => app,
        Err(e) => panic!("app builds: {e}"),
    }
}

/// A sandbox with defaults and a client for `INSTALLATION`.
pub async fn setup(options: GithubOptions) -> (SandboxGithub, InstallationClient) {
    setup_with(SandboxGithubConfig::default(), options).await
}

pub async fn setup_with(
    config: SandboxGithubConfig,
    options: GithubOptions,
) -> (SandboxGithub, InstallationClient) {
    let app_id = config.app_id;
    let sandbox = start(config).await;
    let client = app(&sandbox, app_id, TEST_APP_PRIVATE_KEY, options).installation(INSTALLATION);
    (sandbox, client)
}

/// Calls whose path starts with `prefix` (query included in the path).
pub fn calls_to(sandbox: &SandboxGithub, method: &str, prefix: &str) -> Vec<RecordedCall> {
    sandbox
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.path.starts_with(prefix))
        .collect()
}

pub fn token_calls(sandbox: &SandboxGithub) -> usize {
    calls_to(sandbox, "POST", "/app/installations/").len()
}
