//! Stateful stand-ins for GitHub and Taskcluster, for `demo` and tests.
pub mod taskcluster;
