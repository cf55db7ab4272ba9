//! rerunbot: a GitHub App that reruns and retriggers Taskcluster tasks from
//! pull-request comments. See DESIGN.md for the shape; data flows one way:
//! webhook → store (job) → worker → pipeline → policy → dispatch → reply.

pub mod cli;
pub mod command;
pub mod config;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod dispatch;
pub mod dry_run;
pub mod follow;
pub mod github;
pub mod housekeeping;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod reply;
pub mod repo_config;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod service;
pub mod store;
pub mod taskcluster;
pub mod telemetry;
pub mod types;
pub mod webhook;
pub mod worker;
