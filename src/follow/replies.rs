//! Live replies: a reply whose watched runs resolved since its last edit is
//! re-rendered from the job's stored plan and outcome plus what its watches
//! learned, and edited in place — at most once per `edit_every` (edits also
//! pass the GitHub client's content-creation limiter). Once every watched
//! run resolved, the command comment gets the final reaction.

use super::{FollowEvent, Follower};
use crate::dispatch::Outcomes;
use crate::pipeline::prepared::Prepared;
use crate::policy::task::TaskState;
use crate::reply::follow::{final_reaction, Followed, Made, RunProgress};
use crate::store::{DueReply, StoreError, Watch};
use crate::types::CommentId;
use crate::webhook::event::CommentJob;
use std::time::Duration;

/// How long a reply whose edit failed waits before the next try.
const RETRY_EDIT: Duration = Duration::from_secs(30);

/// What the watches of a job say, for the reply. An action task that
/// completed reads as open until what it made is watched, so the final
/// reaction waits for that too.
pub fn followed(watches: &[Watch]) -> Followed {
    let mut followed = Followed::default();
    for w in watches {
        let progress = match w.result.as_deref().and_then(parse_state) {
            Some(TaskState::Completed) if w.expect.is_some() => RunProgress::Open,
            Some(state) => RunProgress::Resolved {
                state,
                reason: w.reason.clone(),
            },
            None => RunProgress::Open,
        };
        followed
            .runs
            .insert((w.task_id.clone(), w.run_id), progress);
        if let Some(action_task) = &w.made_by {
            followed
                .made
                .entry(action_task.clone())
                .or_default()
                .push(Made {
                    task_id: w.task_id.clone(),
                    run_id: w.run_id,
                    label: w.label.clone().unwrap_or_default(),
                });
        }
    }
    followed
}

fn parse_state(text: &str) -> Option<TaskState> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// Edits every due reply.
pub async fn edit_due(follower: &Follower) -> Result<(), StoreError> {
    let due = follower
        .store
        .claim_due_replies(follower.config.lease, follower.config.batch)
        .await?;
    for reply in due {
        match edit_one(follower, &reply).await {
            Ok(reacted) => {
                follower
                    .store
                    .reply_edited(&reply, follower.config.edit_every, reacted)
                    .await?
            }
            Err(e) => {
                tracing::warn!(job_id = reply.job_id, error = %e, "follow: reply not edited");
                follower
                    .store
                    .reply_not_edited(&reply, RETRY_EDIT.min(follower.config.poll_interval))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Edits one reply; true when its final reaction was added.
async fn edit_one(follower: &Follower, reply: &DueReply) -> anyhow::Result<bool> {
    let store = &follower.store;
    let job = store
        .job(reply.job_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("job {} is gone", reply.job_id))?;
    if job.event == crate::store::HEAD_EVENT {
        // A pull-request head's automatic reruns: its own comment.
        super::auto_rerun::head::edit(follower, &job).await?;
        return Ok(true);
    }
    let comment = job
        .reply_comment_id
        .and_then(|id| u64::try_from(id).ok())
        .map(CommentId)
        // The job has not posted its reply yet; it makes the reply due
        // again once it has.
        .ok_or_else(|| anyhow::anyhow!("job {} has no reply yet", reply.job_id))?;
    let payload: CommentJob = serde_json::from_str(&job.payload)?;
    let prepared: Prepared = serde_json::from_str(job.plan.as_deref().unwrap_or_default())?;
    let mut outcomes: Outcomes = serde_json::from_str(job.outcome.as_deref().unwrap_or_default())?;
    let waits = store.waits_of_job(reply.job_id).await?;
    let waits = super::waits::overlay(&waits, &mut outcomes);
    let watches = store.watches_of_job(reply.job_id).await?;
    let followed = followed(&watches);
    let (body, _) = follower
        .pipeline
        .render(&payload, &prepared, &outcomes, Some(&followed));
    let marker = crate::reply::delivery_marker(&job.delivery_id);
    let body = format!("{body}\n\n{marker}");
    let gh = follower
        .pipeline
        .github()
        .installation(payload.installation);
    gh.edit_comment(&payload.repo, comment, &body).await?;
    follower.metrics.reply_edit();
    follower.emit(FollowEvent::ReplyEdited {
        job_id: reply.job_id,
        body,
    });
    if reply.reacted {
        return Ok(true);
    }
    // A wait still to be decided may start another run.
    if waits.open {
        return Ok(false);
    }
    let Some(reaction) = final_reaction(followed.runs.values()) else {
        return Ok(false);
    };
    let reaction = if waits.dropped {
        crate::reply::Reaction::ThumbsDown
    } else {
        reaction
    };
    let reaction = match reaction {
        crate::reply::Reaction::Hooray => crate::github::Reaction::Hooray,
        _ => crate::github::Reaction::ThumbsDown,
    };
    gh.add_reaction(&payload.repo, payload.comment_id, reaction)
        .await?;
    follower.emit(FollowEvent::Reacted {
        job_id: reply.job_id,
        reaction: reaction.as_str(),
    });
    Ok(true)
}
