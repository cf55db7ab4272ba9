//! Taskcluster: queue client, discovery, reading the queue's answers into
//! the task model (`policy::task`), retrigger copy definitions.

pub mod actions;
pub mod client;
pub mod copy;
pub mod discovery;
pub mod error;
pub mod hawk;
pub mod hooks;
pub mod kept;
mod pages;
pub mod snapshot;
pub mod timestamps;

pub use client::{last_run_id, run_count, QueueClient, RetryPolicy};
pub use copy::{retrigger_definition, CopyError};
pub use discovery::{
    discover_tasks, discover_tasks_keeping, task_groups_from_checks, task_ids_from_checks,
    CheckRunRef, Discovered, StatusRef,
};
pub use error::QueueError;
pub use kept::KeptDefinitions;
pub use timestamps::rebase_times;
