//! One job from event to reply. (Until the pipeline lands: log the job.)

use crate::store::{Claim, Store};
use crate::worker::{JobFuture, JobHandler};

/// Logs each job and completes it.
pub struct LogOnly;

impl JobHandler for LogOnly {
    fn handle(&self, _store: Store, claim: Claim) -> JobFuture {
        Box::pin(async move {
            tracing::info!(event = %claim.job.event, "job received (pipeline not wired yet)");
            Ok(())
        })
    }
}
