//! Taskcluster: queue client, discovery, retrigger copy definitions. Reading
//! the queue's answers into the task model (`policy::task`) is pure and lives
//! in the core (`rerunbot_core::taskcluster`), re-exported here.

pub mod actions;
pub mod client;
pub mod copy;
pub mod discovery;
pub mod error;
pub mod hawk;
pub mod hooks;
pub mod kept;
pub mod timestamps;

// Reading the queue's listings is pure and hot; it lives in the core.
use rerunbot_core::taskcluster::pages;
pub use rerunbot_core::taskcluster::snapshot;

pub use client::{last_run_id, run_count, QueueClient, RetryPolicy};
pub use copy::{retrigger_definition, CopyError};
pub use discovery::{
    discover_tasks, discover_tasks_keeping, task_groups_from_checks, task_ids_from_checks,
    CheckRunRef, Discovered, StatusRef,
};
pub use error::QueueError;
pub use kept::KeptDefinitions;
pub use timestamps::rebase_times;
