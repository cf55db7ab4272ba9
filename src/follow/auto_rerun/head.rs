//! The comment of a pull-request head that lists its automatic reruns
//! (DESIGN.md §13). It is written only by the follow loop's leased reply
//! edits (the head's job row is due whenever a rerun is added, a group is
//! refused, or a watched run resolves), so two events at once cannot post
//! it twice; a lost answer to its creation is found again by its marker,
//! among the App's own comments only.

use super::super::{FollowEvent, Follower};
use crate::reply::auto_rerun::{render, AutoRerunView, RefusedGroup, RerunLine};
use crate::reply::follow::RunProgress;
use crate::store::{Head, Job};
use crate::types::{CommentId, InstallationId, PullRequestNumber, RepoName};

/// The invisible marker of a head's comment.
fn marker(head: &Head) -> String {
    crate::reply::delivery_marker(&format!(
        "auto-rerun-{}-{}-{}",
        head.repo.replace('/', "-"),
        head.pr,
        head.sha
    ))
}

/// Posts or edits the head's comment to show what the store knows.
pub(crate) async fn edit(follower: &Follower, job: &Job) -> anyhow::Result<()> {
    let store = &follower.store;
    let head: Head = serde_json::from_str(&job.payload)?;
    let repo = RepoName::parse(&head.repo)
        .ok_or_else(|| anyhow::anyhow!("bad repository {}", head.repo))?;
    let (rows, refusals, watches) = (
        store.auto_reruns_of_head(job.id).await?,
        store.auto_refusals_of_head(job.id).await?,
        store.watches_of_job(job.id).await?,
    );
    if rows.is_empty() && refusals.is_empty() {
        return Ok(());
    }
    let followed = crate::follow::replies::followed(&watches);
    let lines: Vec<RerunLine> = rows
        .iter()
        .map(|r| {
            let watched = watches
                .iter()
                .find(|w| w.task_id == r.task_id && w.run_id >= r.runs_seen);
            let run_id = watched.map_or(r.runs_seen, |w| w.run_id);
            RerunLine {
                task_id: r.task_id.clone(),
                label: r.label.clone(),
                attempt: r.attempt,
                run_id,
                progress: followed
                    .get(&(r.task_id.clone(), run_id))
                    .cloned()
                    .unwrap_or(RunProgress::Open),
            }
        })
        .collect();
    let refused: Vec<RefusedGroup> = refusals
        .into_iter()
        .map(|r| RefusedGroup {
            task_group_id: r.task_group_id,
            failed: r.failed,
            total: r.total,
            limit: r.limit,
        })
        .collect();
    let marker = marker(&head);
    let body = format!(
        "{}\n\n{marker}",
        render(&AutoRerunView {
            root_url: follower.pipeline.root_url(),
            sha: &head.sha,
            reruns: &lines,
            refused: &refused,
        })
    );
    let gh = follower
        .pipeline
        .github()
        .installation(InstallationId(head.installation));
    let pr = PullRequestNumber(head.pr);
    let known = job
        .reply_comment_id
        .and_then(|id| u64::try_from(id).ok())
        .map(CommentId);
    let existing = match known {
        Some(id) => Some(id),
        None => {
            let ours = gh.bot_login().await?;
            gh.comments(&repo, pr)
                .await?
                .into_iter()
                .rev()
                .find(|c| {
                    c.user.login.as_str().eq_ignore_ascii_case(&ours) && c.body.contains(&marker)
                })
                .map(|c| c.id)
        }
    };
    let id = match existing {
        Some(id) => {
            gh.edit_comment(&repo, id, &body).await?;
            id
        }
        None => gh.create_comment(&repo, pr, &body).await?,
    };
    if known != Some(id) {
        store
            .set_head_comment(job.id, i64::try_from(id.0).unwrap_or(i64::MAX))
            .await?;
    }
    follower.metrics.reply_edit();
    follower.emit(FollowEvent::ReplyEdited {
        job_id: job.id,
        body,
    });
    Ok(())
}
