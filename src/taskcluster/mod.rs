//! Taskcluster: queue client, discovery, retrigger copies.

pub mod snapshot;
