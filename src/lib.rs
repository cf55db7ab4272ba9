//! rerunbot: a GitHub App that reruns and retriggers Taskcluster tasks from
//! pull-request comments. See DESIGN.md for the shape; data flows one way:
//! webhook → store (job) → worker → pipeline → policy → dispatch → reply.

// The pure core lives in its own crate (core/); its modules keep their
// paths here.
pub use rerunbot_core::{command, config, outcome, policy, reply, repo_config, types};

pub mod cli;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod dispatch;
pub mod dry_run;
pub mod follow;
pub mod github;
pub mod housekeeping;
pub mod metrics;
pub mod pipeline;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod service;
pub mod store;
pub mod taskcluster;
pub mod telemetry;
pub mod webhook;
pub mod worker;
