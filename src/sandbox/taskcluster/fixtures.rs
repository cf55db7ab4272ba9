//! The Taskcluster fixtures, compiled in so `demo` needs no files.
//! Both are `listTaskGroup` responses with fixed dates; seed them with
//! [`super::SandboxQueue::seed_fixture`], which rebases them to now.
//!
//! `PR_GROUP`: a try-like pull-request graph of `mozilla-firefox/firefox`:
//! decision task (= group id), builds (one failed), tests with
//! `tags.retrigger: "true"` and `extra.treeherder.jobKind: "test"` in every
//! state (failed after a worker-shutdown retry, completed, running, pending,
//! exception/claim-expired, unscheduled behind the failed Windows build),
//! and lints (failed, completed).
//!
//! `RELEASE_GROUP`: a release-promotion graph on scriptworker queues:
//! signing, `notarization-part-1` (completed), `notarization-poller`
//! (failed), beetmover (completed; and unscheduled behind the failed
//! poller, whose artifacts it uploads), a push-phase notification on a
//! build pool (unscheduled behind the poller, using none of its
//! artifacts), balrog (failed; and unscheduled while checksums still runs),
//! and a leaf bouncer task resolved exception/deadline-exceeded whose
//! deadline stays in the past after rebasing.

//!
//! `PR_ACTIONS` / `RELEASE_ACTIONS`: the `public/actions.json` their
//! decision tasks publish, in the shape taskgraph's `actions/registry.py`
//! renders (`render_actions_json`): `retrigger` (context
//! `[{"retrigger": "true"}]`, input `{downstream, times 1..100}`), the
//! `retrigger` of every other task (cb `retrigger-disabled`, input with
//! `force`), `rerun`, `cancel` (no schema) and the group action
//! `retrigger-multiple`, all on the generic in-tree action hook of the
//! group's level (`project-gecko`, `in-tree-action-1-generic/<hash>` for
//! the pull request's level-1 graph, `in-tree-action-3-…` for the release
//! graph). Seed them with [`super::SandboxQueue::seed_actions`]; remove one
//! with [`super::SandboxQueue::remove_artifact`] for a group without
//! in-tree actions.

use serde_json::Value;

pub const PR_GROUP: &str = include_str!("../../../fixtures/taskcluster/pr-group.json");
pub const RELEASE_GROUP: &str = include_str!("../../../fixtures/taskcluster/release-group.json");
pub const PR_ACTIONS: &str = include_str!("../../../fixtures/taskcluster/pr-actions.json");
pub const RELEASE_ACTIONS: &str =
    include_str!("../../../fixtures/taskcluster/release-actions.json");
/// The name of the artifact.
pub const ACTIONS_JSON: &str = "public/actions.json";

/// Task ids of the PR fixture, by role.
pub mod pr {
    pub const GROUP: &str = "YFvDlpaJRhSniiJ0ABAAtw";
    pub const DECISION: &str = GROUP;
    pub const BUILD_LINUX64_OPT: &str = "RxKC_iqwSxmJRJ2b5oz7mg";
    pub const BUILD_LINUX64_DEBUG: &str = "U9MW0yfeQKCZFb12ER83LQ";
    pub const BUILD_WIN64_OPT_FAILED: &str = "PFIwu8W5SVagtTUXhkNfZQ";
    pub const TEST_BC1_FAILED: &str = "QgIehBqMQLuGKh7C410j_w";
    pub const TEST_BC2_COMPLETED: &str = "e7TV2lpJRAidhIS7LDOu4w";
    pub const TEST_DT1_RUNNING: &str = "cqSSOo4GRpCRjkRQG8ekNg";
    pub const TEST_XPCSHELL3_EXCEPTION: &str = "WUkWPUDRQDueIdN9uLVCgA";
    pub const TEST_WPT5_PENDING: &str = "OLxJEUXEQ7GxSUppEACc1A";
    pub const TEST_WIN_UNSCHEDULED: &str = "Y1m4DHYRSNSdPclq9aLtGw";
    pub const LINT_ESLINT_FAILED: &str = "TxgWoRUhTFKZ9WHavgWL9w";
    pub const LINT_CLIPPY_COMPLETED: &str = "G0Ac6SHBTx28UPMASVpwkQ";
}

/// Task ids of the release fixture, by role.
pub mod release {
    pub const GROUP: &str = "VzknzfeqR0aSRxKS2y69Cg";
    pub const DECISION: &str = GROUP;
    pub const SIGNING_LINUX_COMPLETED: &str = "CluN0-8XSlG-u6xB6K5qBQ";
    pub const NOTARIZATION_PART_1_COMPLETED: &str = "chceYi-vSRizHQCBa0uG7w";
    pub const NOTARIZATION_POLLER_FAILED: &str = "KqLqT5Q6SvCREbAC8wSMvw";
    pub const BEETMOVER_LINUX_COMPLETED: &str = "NoqquOcfR4m52gDVrN7B6w";
    pub const BEETMOVER_MAC_BEHIND_FAILED: &str = "WOZbxRlAQUGFBbY5vCZTsw";
    pub const NOTIFY_PUSH_BEHIND_FAILED: &str = "NpQ2e5mYRW-tvx3lH0cJ1g";
    pub const CHECKSUMS_RUNNING: &str = "eXz7-VlQS5e-r3cyVe55fg";
    pub const BALROG_LINUX_FAILED: &str = "bDezbm1GRbGbuwMkZSgCVg";
    pub const BALROG_TOPLEVEL_BEHIND_RUNNING: &str = "VrKCBpnkQyWs0T4YsDdWLw";
    pub const BOUNCER_DEADLINE_EXCEEDED: &str = "OuSb2W_2TCKhUI5yGcNaTQ";
}

/// The repository and commit both fixtures' decision tasks name.
pub const FIXTURE_REPO: &str = "mozilla-firefox/firefox";
pub const FIXTURE_SHA: &str = "4d7b62c5e0a1f7c2a0f3b3d6e1c9a8b7f6e5d4c3";

/// A fixture parsed, its decision task (and every other mention) naming
/// `repo` (`owner/name`) and commit `sha` instead of the fixture's own, as
/// if taskcluster-github had run it for that commit.
pub fn for_commit(text: &str, repo: &str, sha: &str) -> Value {
    parse(
        &text
            .replace(
                &format!("github.com/{FIXTURE_REPO}"),
                &format!("github.com/{repo}"),
            )
            .replace(FIXTURE_SHA, sha),
    )
}

/// A fixture parsed (the constants are valid JSON; tested).
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}
