//! Stateful stand-ins for GitHub and Taskcluster that speak their real HTTP
//! APIs on loopback, for `demo` and tests.

pub mod github;
pub mod taskcluster;
pub mod world;
