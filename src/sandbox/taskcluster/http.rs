//! The sandbox's HTTP side: one handler that records the call, applies
//! injected latency and failures, verifies Hawk, and routes to the queue
//! rules in `state`, the hooks service (`hooks`), the auth service
//! (`auth`) and the artifacts (`artifacts`; their content is served
//! without authentication, as object storage does).

use super::artifacts::{ArtifactAnswer, CONTENT_PREFIX};
use super::certificate;
use super::roles::expand;
use super::scopes::satisfies;
use super::state::{error_reply, Caller, Reply};
use super::{RecordedCall, Shared};
use crate::taskcluster::hawk::{Presented, Received};
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;

const API_PREFIX: &str = "/api/queue/v1/";
const HOOKS_PREFIX: &str = "/api/hooks/v1/";
const AUTH_PREFIX: &str = "/api/auth/v1/";

/// What a request answers.
enum Answer {
    Json(Reply),
    /// 303 to this path on the same root.
    Redirect(String),
    Content(String, Vec<u8>),
}

impl Answer {
    fn status(&self) -> u16 {
        match self {
            Answer::Json(r) => r.status,
            Answer::Redirect(_) => 303,
            Answer::Content(..) => 200,
        }
    }
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Json(reply)
    }
}
const BODY_LIMIT: usize = 10 * 1024 * 1024;

pub async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let at = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let resource = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let (parts, body) = request.into_parts();
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header_text(header::AUTHORIZATION);
    let host = header_text(header::HOST).unwrap_or_default();
    let content_type = header_text(header::CONTENT_TYPE).unwrap_or_default();
    let body = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();

    let latency = shared.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let now = Utc::now();
    // The lock is held in this block only, never across an await.
    let (reply, stall) = {
        let mut guard = shared.lock();
        let mut call = RecordedCall {
            method: method.clone(),
            path: resource.clone(),
            client_id: None,
            certificate: None,
            authorized_scopes: None,
            body: json_body.clone(),
            status: 0,
            injected: false,
            at,
        };

        let content = path
            .strip_prefix(CONTENT_PREFIX)
            .filter(|_| method == "GET")
            .map(str::to_owned);
        let reply: Answer = if let Some(status) = guard.take_injected_failure(method.as_str()) {
            call.injected = true;
            error_reply(
                status,
                "InternalServerError",
                "sandbox",
                "injected failure",
                now,
            )
            .into()
        } else if let Some(rest) = content {
            match guard.data.artifact_content(&rest) {
                Some((content_type, bytes)) => Answer::Content(content_type, bytes),
                None => {
                    error_reply(404, "ResourceNotFound", "sandbox", "no such artifact", now).into()
                }
            }
        } else {
            match authenticate(
                &guard,
                authorization.as_deref(),
                &method,
                &host,
                &resource,
                &content_type,
                &body,
                now.timestamp_millis(),
            ) {
                Err(message) => {
                    error_reply(401, "AuthenticationFailed", "sandbox", &message, now).into()
                }
                Ok((caller, presented)) => {
                    call.client_id =
                        (caller.client_id != "anonymous").then(|| caller.client_id.clone());
                    call.certificate = presented.certificate;
                    call.authorized_scopes = presented.authorized_scopes;
                    route(
                        &mut guard,
                        &method,
                        &path,
                        query.as_deref(),
                        json_body.as_ref(),
                        &caller,
                        now,
                    )
                }
            }
        };
        call.status = reply.status();
        // Only a request that was carried out can lose its answer; an injected
        // failure before it leaves the lost answer for the next one.
        let lost = if !call.injected && reply.status() < 300 {
            guard.take_lost_answer(&method)
        } else {
            None
        };
        let reply = match lost {
            Some(status) => error_reply(
                status,
                "InternalServerError",
                "sandbox",
                "injected failure after the request was carried out",
                now,
            )
            .into(),
            None => reply,
        };
        guard.calls.push(call);
        (reply, guard.hooks.stall.take())
    };
    if let Some(length) = stall {
        tokio::time::sleep(length).await;
    }

    match reply {
        Answer::Json(reply) => {
            let status =
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(reply.body)).into_response()
        }
        Answer::Redirect(to) => {
            let location = format!("http://{host}{to}");
            let body = serde_json::json!({ "url": location });
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location)],
                axum::Json(body),
            )
                .into_response()
        }
        Answer::Content(content_type, bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type)],
            bytes,
        )
            .into_response(),
    }
}

/// The caller: anonymous without an Authorization header, else the Hawk
/// client whose MAC verifies (path + query, host, port, payload hash).
#[allow(clippy::too_many_arguments)]
fn authenticate(
    state: &super::Inner,
    authorization: Option<&str>,
    method: &str,
    host_header: &str,
    resource: &str,
    content_type: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<(Caller, ExtRecord), String> {
    let Some(authorization) = authorization else {
        return Ok((
            Caller {
                client_id: "anonymous".to_owned(),
                scopes: state.config.anonymous_scopes.clone(),
            },
            ExtRecord::default(),
        ));
    };
    let fail = |why: &str| format!("Authentication Error: {why}");
    let header = Presented::parse(authorization).map_err(|e| fail(&e.to_string()))?;
    let ext = header.ext().ok_or_else(|| fail("ext is not base64 JSON"))?;
    let certificate = ext.certificate.clone();
    // Named temporary credentials name their issuer; unnamed ones are
    // presented under the issuer's own clientId.
    let issuer_id = certificate
        .as_ref()
        .and_then(|c| c.get("issuer"))
        .and_then(Value::as_str)
        .unwrap_or(header.id());
    let client = state
        .config
        .clients
        .iter()
        .find(|c| c.client_id == issuer_id)
        .ok_or_else(|| fail("Client ID not found"))?;
    let (key, scopes) = match &certificate {
        None => (client.access_token.clone(), client.scopes.clone()),
        Some(cert) => {
            let (token, cert_scopes) =
                certificate::verify(cert, header.id(), &client.access_token, now_ms)
                    .map_err(|e| fail(&e))?;
            // Temporary credentials hold at most their issuer's scopes.
            let scopes = cert_scopes
                .into_iter()
                .filter(|s| satisfies(&client.scopes, s))
                .collect();
            (token, scopes)
        }
    };
    let (host, port) = match host_header.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| fail("bad Host header"))?),
        None => (host_header, 80),
    };
    let received = Received {
        method,
        host,
        port,
        resource,
        body: (!body.is_empty()).then_some((content_type, body)),
    };
    header
        .verify(&key, &received)
        .map_err(|e| fail(&e.to_string()))?;
    // authorizedScopes restrict the call to those scopes, which the client
    // must hold (Taskcluster refuses a request that oversteps them).
    // Both expand through the role table (`assume:` scopes).
    let roles = &state.config.roles;
    let scopes = expand(&scopes, roles);
    let scopes = match &ext.authorized_scopes {
        None => scopes,
        Some(authorized) => {
            if let Some(missing) = authorized.iter().find(|s| !satisfies(&scopes, s)) {
                return Err(fail(&format!(
                    "ext.authorizedScopes oversteps your scopes: {missing}"
                )));
            }
            expand(authorized, roles)
        }
    };
    Ok((
        Caller {
            client_id: header.id().to_owned(),
            scopes,
        },
        ExtRecord {
            certificate,
            authorized_scopes: ext.authorized_scopes.map(|a| serde_json::json!(a)),
        },
    ))
}

/// What the caller's Hawk `ext` carried, for the call record.
#[derive(Default)]
struct ExtRecord {
    certificate: Option<Value>,
    authorized_scopes: Option<Value>,
}

fn route(
    state: &mut super::Inner,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
    caller: &Caller,
    now: chrono::DateTime<Utc>,
) -> Answer {
    if let Some(rest) = path.strip_prefix(HOOKS_PREFIX) {
        return super::hooks::route(state, method, rest, body, caller, now).into();
    }
    if let Some(rest) = path.strip_prefix(AUTH_PREFIX) {
        return super::auth::route(method, rest, body, &state.config.roles, now).into();
    }
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return error_reply(
            404,
            "ResourceNotFound",
            "sandbox",
            &format!("no such endpoint: {path}"),
            now,
        )
        .into();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let artifact = match (method, segments.as_slice()) {
        ("GET", ["task", id, "artifacts", name @ ..]) if !name.is_empty() => Some(
            state
                .data
                .artifact_redirect(id, None, &name.join("/"), caller, now),
        ),
        ("GET", ["task", id, "runs", run, "artifacts", name @ ..]) if !name.is_empty() => Some(
            state
                .data
                .artifact_redirect(id, Some(run), &name.join("/"), caller, now),
        ),
        _ => None,
    };
    match artifact {
        Some(ArtifactAnswer::Redirect(to)) => Answer::Redirect(to),
        Some(ArtifactAnswer::Error(reply)) => reply.into(),
        None => queue_route(state, method, rest, query, body, caller, now).into(),
    }
}

fn queue_route(
    state: &mut super::Inner,
    method: &str,
    rest: &str,
    query: Option<&str>,
    body: Option<&Value>,
    caller: &Caller,
    now: chrono::DateTime<Utc>,
) -> Reply {
    let path = rest;
    let segments: Vec<&str> = rest.split('/').collect();
    let data = &mut state.data;
    let param = |name: &str| {
        query.and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
    };
    match (method, segments.as_slice()) {
        ("GET", ["task", id]) => data.get_task(id, now),
        ("GET", ["task", id, "status"]) => data.get_status(id, now),
        ("GET", ["task", id, "dependents"]) => data.list_dependents(
            id,
            param("continuationToken").as_deref(),
            state.config.page_size,
            now,
        ),
        ("GET", ["task-group", id, "list"]) => {
            let limit = param("limit").and_then(|l| l.parse().ok());
            data.list_group(
                id,
                param("continuationToken").as_deref(),
                limit,
                state.config.page_size,
                now,
            )
        }
        ("POST", ["task", id, "rerun"]) => data.rerun(id, caller, now),
        ("POST", ["task", id, "cancel"]) => data.cancel(id, caller, now),
        ("PUT", ["task", id]) => match body {
            Some(def) => data.create(id, def, caller, now),
            None => error_reply(
                400,
                "MalformedPayload",
                "createTask",
                "the body is not JSON",
                now,
            ),
        },
        _ => error_reply(
            404,
            "ResourceNotFound",
            "sandbox",
            &format!("no such endpoint: {method} {path}"),
            now,
        ),
    }
}
