//! What Taskcluster's queue answers, read into the task model before any
//! I/O: one `listTaskGroup` page entry by entry (`pages`), and each entry
//! into a `policy::task::TaskSnapshot` (`snapshot`). Here rather than in
//! `rerunbot::taskcluster` (the client) because a Firefox-sized group is
//! 20,000 entries, read at the core's -O3.

pub mod pages;
pub mod snapshot;
