//! rerunbot's pure core, a crate of its own so that nothing here can reach
//! the network, the database or the clock of a runtime: the command language
//! (`command`), the rules (`policy`), every reply text (`reply`), the
//! repository configuration (`repo_config`), the operator settings
//! (`config`), what a command came to (`outcome`), the newtypes (`types`),
//! the webhook payloads and signature (`webhook`), and the queue's task
//! listings read into task snapshots (`taskcluster`). The `rerunbot` crate
//! re-exports each module under its old path, and does all the I/O.
//!
//! Being its own crate also lets the release profile build it at -O3 in
//! parallel with the I/O dependencies, while the I/O shell, whose time goes to
//! round trips, builds at -O2 in 4 codegen units (README "Benchmarks").

pub mod command;
pub mod config;
pub mod outcome;
pub mod policy;
pub mod reply;
pub mod repo_config;
pub mod taskcluster;
pub mod types;
pub mod webhook;
