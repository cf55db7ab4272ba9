//! Reactions on the command comment and the status reply comment, which is
//! created once and then edited in place (PATCH, not POST).

use super::client::{decode, InstallationClient};
use super::error::GithubError;
use super::model::{IssueComment, RawComment, Reaction};
use crate::types::{CommentId, PullRequestNumber, RepoName};
use http::Method;
use serde_json::json;

impl InstallationClient {
    /// `POST /repos/{o}/{r}/issues/comments/{id}/reactions`; adding a
    /// reaction that is already there is fine.
    pub async fn add_reaction(
        &self,
        repo: &RepoName,
        comment: CommentId,
        reaction: Reaction,
    ) -> Result<(), GithubError> {
        let path = format!("/repos/{repo}/issues/comments/{comment}/reactions");
        let body = json!({ "content": reaction.as_str() });
        self.send(Method::POST, &path, Some(&body), None).await?;
        Ok(())
    }

    /// `POST /repos/{o}/{r}/issues/{n}/comments`; returns the new comment's id.
    pub async fn create_comment(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId, GithubError> {
        let path = format!("/repos/{repo}/issues/{number}/comments");
        let payload = json!({ "body": body });
        // Not repeated on a 5xx: GitHub may have created it (the pipeline
        // finds it by its marker when the job is retried).
        let response = self.send_once(Method::POST, &path, Some(&payload)).await?;
        let raw: RawComment = decode(Method::POST, &path, &response)?;
        Ok(raw.id())
    }

    /// Every comment of an issue or pull request, oldest first, all pages.
    pub async fn comments(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let path = format!("/repos/{repo}/issues/{number}/comments?per_page=100");
        self.get_all_pages(&path, |page: Vec<IssueComment>| page)
            .await
    }

    /// `PATCH /repos/{o}/{r}/issues/comments/{id}`.
    pub async fn edit_comment(
        &self,
        repo: &RepoName,
        comment: CommentId,
        body: &str,
    ) -> Result<(), GithubError> {
        let path = format!("/repos/{repo}/issues/comments/{comment}");
        let payload = json!({ "body": body });
        self.send(Method::PATCH, &path, Some(&payload), None)
            .await?;
        Ok(())
    }
}
