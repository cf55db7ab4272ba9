//! Answers one request against the sandbox state, the way GitHub would for
//! the endpoints rerunbot uses: authentication first (App JWT on `/app/...`,
//! an unexpired installation token everywhere else), then the endpoint.
//! Synchronous: the whole answer is computed under the state lock.

use super::state::{Fault, IssuedToken, State, BOT_LOGIN};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// An answer: status, extra headers, JSON body (empty for 304).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Answer {
    fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }
    fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }
    fn error(status: StatusCode, message: &str) -> Self {
        Self::json(
            status,
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    }
    fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, "Not Found")
    }
    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub(crate) struct Incoming<'a> {
    pub method: &'a Method,
    /// `/api/v3` when the request came in GHES-style, else empty.
    pub prefix: &'a str,
    /// The path below the prefix.
    pub path: &'a str,
    pub query: HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: Option<&'a Value>,
}

pub(crate) fn answer(state: &mut State, req: &Incoming<'_>) -> Answer {
    if state
        .down_until
        .is_some_and(|until| tokio::time::Instant::now() < until)
    {
        return Answer::error(StatusCode::SERVICE_UNAVAILABLE, "injected outage");
    }
    let applies = state.faults.front().is_some_and(|(filter, _)| {
        filter.as_deref().is_none_or(|f| {
            let (method, part) = f.split_once(' ').unwrap_or((f, ""));
            method == req.method.as_str() && req.path.contains(part)
        })
    });
    if let Some((_, fault)) = applies.then(|| state.faults.pop_front()).flatten() {
        return match fault {
            Fault::AfterEffect(code) => {
                let _done = route(state, req);
                Answer::error(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
                    "injected fault after the request was carried out",
                )
            }
            Fault::Status(code) => Answer::error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "injected fault",
            ),
            Fault::SecondaryRateLimit { retry_after_secs } => Answer::error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .with_header("retry-after", retry_after_secs.to_string()),
            Fault::PrimaryRateLimit { reset_in_secs } => {
                let reset = Utc::now().timestamp() + i64::try_from(reset_in_secs).unwrap_or(0);
                Answer::error(StatusCode::FORBIDDEN, "API rate limit exceeded for installation.")
                    .with_header("x-ratelimit-limit", "5000".to_owned())
                    .with_header("x-ratelimit-remaining", "0".to_owned())
                    .with_header("x-ratelimit-reset", reset.to_string())
            }
        };
    }
    route(state, req)
}

/// Authenticates and answers one request.
fn route(state: &mut State, req: &Incoming<'_>) -> Answer {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    if segments.first() == Some(&"app") {
        if let Err(message) = verify_jwt(state, req.headers) {
            return Answer::error(StatusCode::UNAUTHORIZED, &message);
        }
        return match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["app", "installations", id, "access_tokens"]) => issue_token(state, id),
            ("GET", ["app"]) => Answer::json(
                StatusCode::OK,
                json!({ "id": state.app_id, "slug": BOT_LOGIN.trim_end_matches("[bot]") }),
            ),
            _ => Answer::not_found(),
        };
    }
    if let ["repos", o, r, "installation"] = segments.as_slice() {
        // As the App (JWT): the installation on a repository. The sandbox
        // has one installation, the world's.
        if let Err(message) = verify_jwt(state, req.headers) {
            return Answer::error(StatusCode::UNAUTHORIZED, &message);
        }
        return match state.repo(o, r) {
            Some(_) => Answer::ok(json!({ "id": 55, "app_id": state.app_id })),
            None => Answer::not_found(),
        };
    }
    if !token_is_valid(state, req.headers) {
        return Answer::error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["repos", o, r, "pulls", n]) => pull(state, o, r, n),
        ("GET", ["repos", o, r, "collaborators", user, "permission"]) => {
            permission(state, o, r, user)
        }
        ("GET", ["repos", o, r, "contents", rest @ ..]) => {
            contents(state, req, o, r, &rest.join("/"))
        }
        ("GET", ["repos", o, r, "commits", sha, "check-runs"]) => check_runs(state, req, o, r, sha),
        ("GET", ["repos", o, r, "commits", sha, "statuses"]) => statuses(state, req, o, r, sha),
        ("GET", ["repos", o, r, "commits", sha, "pulls"]) => commit_pulls(state, o, r, sha),
        ("POST", ["repos", o, r, "issues", "comments", id, "reactions"]) => {
            react(state, req, o, r, id)
        }
        ("POST", ["repos", o, r, "issues", n, "comments"]) => create_comment(state, req, o, r, n),
        ("GET", ["repos", o, r, "issues", n, "comments"]) => list_comments(state, req, o, r, n),
        ("PATCH", ["repos", o, r, "issues", "comments", id]) => edit_comment(state, req, o, r, id),
        _ => Answer::not_found(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .map(str::trim)
}

#[derive(serde::Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    /// GitHub takes the App id as a number or a string.
    iss: serde_json::Value,
}

fn verify_jwt(state: &State, headers: &HeaderMap) -> Result<(), String> {
    let jwt = bearer(headers).ok_or("A JSON web token could not be decoded")?;
    let key = DecodingKey::from_rsa_pem(state.public_key_pem.as_bytes())
        .map_err(|_| "sandbox public key unusable".to_owned())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat"]);
    let data = jsonwebtoken::decode::<Claims>(jwt, &key, &validation)
        .map_err(|e| format!("A JSON web token could not be decoded: {e}"))?;
    let issuer = match &data.claims.iss {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => String::new(),
    };
    if issuer != state.app_id.to_string() {
        return Err("A JSON web token could not be decoded: InvalidIssuer".to_owned());
    }
    // GitHub refuses JWTs valid for more than ten minutes or issued in the future.
    if data.claims.exp - data.claims.iat > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".to_owned());
    }
    if data.claims.iat > Utc::now().timestamp() + 30 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past"
                .to_owned(),
        );
    }
    Ok(())
}

fn token_is_valid(state: &State, headers: &HeaderMap) -> bool {
    bearer(headers)
        .and_then(|t| state.tokens.get(t))
        .is_some_and(|t| t.expires_at > Utc::now())
}

fn issue_token(state: &mut State, id: &str) -> Answer {
    let Ok(id) = id.parse::<u64>() else {
        return Answer::not_found();
    };
    let token = format!("ghs_sandbox{}", uuid::Uuid::new_v4().simple());
    let lifetime =
        chrono::Duration::from_std(state.token_lifetime).unwrap_or(chrono::Duration::hours(1));
    let expires_at = Utc::now() + lifetime;
    state.tokens.insert(
        token.clone(),
        IssuedToken {
            installation: crate::types::InstallationId(id),
            expires_at,
        },
    );
    Answer::json(
        StatusCode::CREATED,
        json!({ "token": token, "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "permissions": {} }),
    )
}

fn pull(state: &State, owner: &str, name: &str, number: &str) -> Answer {
    let Some(repo) = state.repo(owner, name) else {
        return Answer::not_found();
    };
    let Some(pr) = number.parse::<u64>().ok().and_then(|n| repo.pulls.get(&n)) else {
        return Answer::not_found();
    };
    Answer::ok(pull_json(repo, pr))
}

fn pull_json(repo: &super::state::Repo, pr: &super::SandboxPull) -> Value {
    json!({
        "number": pr.number.0,
        "state": if pr.open { "open" } else { "closed" },
        "merged": pr.merged,
        "merged_at": pr.merged.then_some("2026-01-01T00:00:00Z"),
        "head": { "sha": pr.head_sha.as_str(), "ref": format!("pr-{}", pr.number) },
        "merge_commit_sha": pr.merge_commit_sha.as_ref().map(|s| s.as_str()),
        "user": { "login": pr.author.as_str(), "type": "User" },
        "base": { "ref": repo.default_branch, "repo": { "full_name": repo.full_name, "default_branch": repo.default_branch } },
    })
}

/// `GET /repos/{o}/{r}/commits/{sha}/pulls`: the pull requests whose head
/// is `sha` (GitHub also lists those that contain it; the sandbox keeps to
/// heads).
fn commit_pulls(state: &State, owner: &str, name: &str, sha: &str) -> Answer {
    let Some(repo) = state.repo(owner, name) else {
        return Answer::not_found();
    };
    let pulls: Vec<Value> = repo
        .pulls
        .values()
        .filter(|p| p.head_sha.as_str() == sha)
        .map(|p| pull_json(repo, p))
        .collect();
    Answer::ok(Value::Array(pulls))
}

fn permission(state: &State, owner: &str, name: &str, user: &str) -> Answer {
    let Some(repo) = state.repo(owner, name) else {
        return Answer::not_found();
    };
    match repo.roles.get(&user.to_ascii_lowercase()) {
        Some((role_name, permission)) => Answer::ok(json!({
            "permission": permission,
            "role_name": role_name,
            "user": { "login": user },
        })),
        None => Answer::error(StatusCode::NOT_FOUND, &format!("{user} is not a user")),
    }
}

fn contents(state: &State, req: &Incoming<'_>, owner: &str, name: &str, path: &str) -> Answer {
    let Some(repo) = state.repo(owner, name) else {
        return Answer::not_found();
    };
    // Only the default branch has files in the sandbox.
    if req
        .query
        .get("ref")
        .is_some_and(|r| r != &repo.default_branch)
    {
        return Answer::not_found();
    }
    let Some(text) = repo.files.get(path) else {
        return Answer::not_found();
    };
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(text.as_bytes())));
    let matches = req
        .headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|candidate| candidate.trim() == etag));
    if matches {
        return Answer {
            status: StatusCode::NOT_MODIFIED,
            headers: vec![("etag", etag)],
            body: None,
        };
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    // GitHub wraps the base64 text at 60 columns.
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Answer::ok(json!({
        "type": "file",
        "encoding": "base64",
        "path": path,
        "name": path.rsplit('/').next().unwrap_or(path),
        "size": text.len(),
        "content": wrapped.join("\n") + "\n",
    }))
    .with_header("etag", etag)
}

/// One page of `items` plus the `Link` header GitHub would send.
fn paginate(base_url: &str, req: &Incoming<'_>, items: Vec<Value>) -> (Vec<Value>, Option<String>) {
    let per_page = req
        .query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = req
        .query
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link_to = |p: usize, rel: &str| {
        format!(
            "<{base_url}{}{}?per_page={per_page}&page={p}>; rel=\"{rel}\"",
            req.prefix, req.path
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
        links.push(link_to(page - 1, "prev"));
    }
    (slice, (!links.is_empty()).then(|| links.join(", ")))
}

fn with_link(answer: Answer, link: Option<String>) -> Answer {
    match link {
        Some(link) => answer.with_header("link", link),
        None => answer,
    }
}

fn check_runs(state: &State, req: &Incoming<'_>, owner: &str, name: &str, sha: &str) -> Answer {
    let repo_key = format!("{owner}/{name}").to_ascii_lowercase();
    let items: Vec<Value> = state
        .check_runs
        .iter()
        .filter(|c| c.repo == repo_key && c.sha == sha)
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.run.name,
                "head_sha": c.sha,
                "external_id": c.run.external_id,
                "details_url": c.run.details_url,
                "status": c.run.status,
                "conclusion": c.run.conclusion,
                "app": { "slug": c.run.app_slug },
            })
        })
        .collect();
    let total = items.len();
    let (page, link) = paginate(&state.base_url, req, items);
    with_link(
        Answer::ok(json!({ "total_count": total, "check_runs": page })),
        link,
    )
}

fn list_comments(
    state: &State,
    req: &Incoming<'_>,
    owner: &str,
    name: &str,
    number: &str,
) -> Answer {
    let repo_key = format!("{owner}/{name}").to_ascii_lowercase();
    let Ok(number) = number.parse::<u64>() else {
        return Answer::not_found();
    };
    let items: Vec<Value> = state
        .comments
        .values()
        .filter(|c| c.repo == repo_key && c.pr == number)
        .map(|c| {
            let login = c.comment.author.as_str();
            let kind = if login.ends_with("[bot]") { "Bot" } else { "User" };
            json!({ "id": c.comment.id.0, "body": c.comment.body, "user": { "login": login, "type": kind } })
        })
        .collect();
    let (page, link) = paginate(&state.base_url, req, items);
    with_link(Answer::ok(Value::Array(page)), link)
}

fn statuses(state: &State, req: &Incoming<'_>, owner: &str, name: &str, sha: &str) -> Answer {
    let repo_key = format!("{owner}/{name}").to_ascii_lowercase();
    // GitHub lists statuses newest first.
    let items: Vec<Value> = state
        .statuses
        .iter()
        .rev()
        .filter(|(repo, s, _)| *repo == repo_key && s == sha)
        .map(|(_, _, st)| json!({ "context": st.context, "state": st.state, "target_url": st.target_url, "creator": { "login": st.creator } }))
        .collect();
    let (page, link) = paginate(&state.base_url, req, items);
    with_link(Answer::ok(Value::Array(page)), link)
}

fn comment_in_repo(state: &State, owner: &str, name: &str, id: &str) -> Option<u64> {
    let id = id.parse::<u64>().ok()?;
    let repo_key = format!("{owner}/{name}").to_ascii_lowercase();
    state
        .comments
        .get(&id)
        .filter(|c| c.repo == repo_key)
        .map(|_| id)
}

fn body_text<'a>(req: &'a Incoming<'_>, field: &str) -> Option<&'a str> {
    req.body?.get(field)?.as_str()
}

fn react(state: &mut State, req: &Incoming<'_>, owner: &str, name: &str, id: &str) -> Answer {
    let Some(id) = comment_in_repo(state, owner, name, id) else {
        return Answer::not_found();
    };
    const ALLOWED: [&str; 8] = [
        "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
    ];
    let Some(content) = body_text(req, "content").filter(|c| ALLOWED.contains(c)) else {
        return Answer::error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    };
    let exists = state
        .reactions
        .iter()
        .any(|(c, r, u)| *c == id && r == content && u == BOT_LOGIN);
    let status = if exists {
        StatusCode::OK
    } else {
        state
            .reactions
            .push((id, content.to_owned(), BOT_LOGIN.to_owned()));
        StatusCode::CREATED
    };
    Answer::json(
        status,
        json!({ "content": content, "user": { "login": BOT_LOGIN } }),
    )
}

fn create_comment(
    state: &mut State,
    req: &Incoming<'_>,
    owner: &str,
    name: &str,
    number: &str,
) -> Answer {
    let Some(full_name) = state.repo(owner, name).map(|r| r.full_name.clone()) else {
        return Answer::not_found();
    };
    let Some(number) = number.parse::<u64>().ok().filter(|n| {
        state
            .repo(owner, name)
            .is_some_and(|r| r.pulls.contains_key(n))
    }) else {
        return Answer::not_found();
    };
    let Some(body) = body_text(req, "body").map(str::to_owned) else {
        return Answer::error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    };
    if body.chars().count() > 65_536 {
        return Answer::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body is too long (maximum is 65536 characters)",
        );
    }
    let Some(repo) = crate::types::RepoName::parse(&full_name) else {
        return Answer::not_found();
    };
    let id = state.add_comment(
        &repo,
        crate::types::PullRequestNumber(number),
        BOT_LOGIN,
        &body,
    );
    Answer::json(
        StatusCode::CREATED,
        json!({ "id": id.0, "body": body, "user": { "login": BOT_LOGIN, "type": "Bot" } }),
    )
}

fn edit_comment(
    state: &mut State,
    req: &Incoming<'_>,
    owner: &str,
    name: &str,
    id: &str,
) -> Answer {
    let Some(id) = comment_in_repo(state, owner, name, id) else {
        return Answer::not_found();
    };
    let Some(body) = body_text(req, "body").map(str::to_owned) else {
        return Answer::error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    };
    if body.chars().count() > 65_536 {
        return Answer::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body is too long (maximum is 65536 characters)",
        );
    }
    let Some(stored) = state.comments.get_mut(&id) else {
        return Answer::not_found();
    };
    stored.comment.body = body.clone();
    let author = stored.comment.author.as_str().to_owned();
    Answer::ok(json!({ "id": id, "body": body, "user": { "login": author } }))
}

/// Turns an answer into an HTTP response.
pub(crate) fn into_response(answer: Answer) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    match answer.body {
        Some(body) => (answer.status, headers, axum::Json(body)).into_response(),
        None => (answer.status, headers).into_response(),
    }
}
