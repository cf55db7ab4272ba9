//! The in-tree actions calls of the Taskcluster client against a scripted
//! HTTP server: the latest-artifact redirect followed without carrying
//! the Hawk `Authorization` to another host, `triggerHook` sent once (never
//! replayed after a 5xx) with the hook id as one path segment, and auth
//! `expandScopes`.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rerunbot::config::{Secret, TaskclusterCredentials};
use rerunbot::taskcluster::{QueueClient, QueueError, RetryPolicy};
use rerunbot::types::TaskId;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the server saw: method, path and query, and whether it
/// carried an `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// What the server answers, by path: (status, `Location`, body).
type Script = Arc<dyn Fn(&str) -> (u16, Option<String>, String) + Send + Sync>;

async fn serve(script: Script) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = (seen.clone(), script);
    let app = axum::Router::new()
        .fallback(
            |State((seen, script)): State<(Seen, Script)>, request: Request| async move {
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                let authorized = request.headers().contains_key(header::AUTHORIZATION);
                if let Ok(mut seen) = seen.lock() {
                    seen.push((request.method().to_string(), path.clone(), authorized));
                }
                let (status, location, body) = script(&path);
                let mut response: Response =
                    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
                if let Some(location) = location.and_then(|l| l.parse().ok()) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                response
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

fn client(root: &str) -> QueueClient {
    QueueClient::new(
        root,
        Some(TaskclusterCredentials {
            client_id: "rerunbot".into(),
            access_token: Secret::new("token"),
            certificate: None,
        }),
    )
    .with_retry(RetryPolicy {
        retries: 3,
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
    })
}

fn seen(seen: &Seen) -> Vec<(String, String, bool)> {
    seen.lock().map(|s| s.clone()).unwrap_or_default()
}

#[tokio::test]
async fn the_artifact_redirect_is_followed_without_our_authorization_elsewhere() {
    // The object store: another origin.
    let (store, store_seen) = serve(Arc::new(|_: &str| {
        (200, None, json!({"version": 1, "actions": []}).to_string())
    }))
    .await;
    let target = format!("{store}/bucket/actions.json?signature=abc");
    let (root, queue_seen) = serve(Arc::new(move |path: &str| {
        if path.contains("/artifacts/public/actions.json") {
            (303, Some(target.clone()), String::new())
        } else {
            (
                404,
                None,
                json!({"code": "ResourceNotFound", "message": "no"}).to_string(),
            )
        }
    }))
    .await;
    let value = client(&root)
        .latest_artifact(&TaskId::new("DECISION"), "public/actions.json")
        .await
        .expect("follows the redirect");
    assert_eq!(value["version"], 1);
    assert_eq!(
        seen(&queue_seen),
        vec![(
            "GET".to_owned(),
            "/api/queue/v1/task/DECISION/artifacts/public/actions.json".to_owned(),
            true
        )]
    );
    assert_eq!(
        seen(&store_seen),
        vec![(
            "GET".to_owned(),
            "/bucket/actions.json?signature=abc".to_owned(),
            false
        )],
        "no Hawk header to another host"
    );

    let missing = client(&root)
        .latest_artifact(&TaskId::new("OTHER"), "public/nothing.json")
        .await;
    assert_eq!(missing, Err(QueueError::NotFound));
}

#[tokio::test]
async fn a_redirect_on_the_same_host_is_signed_for_its_own_url_and_loops_stop() {
    let (root, seen_calls) = serve(Arc::new(|path: &str| {
        if path.starts_with("/api/queue/v1/task/D/artifacts/") {
            (
                303,
                Some("/content/D/actions.json".to_owned()),
                String::new(),
            )
        } else if path.starts_with("/content/") {
            (200, None, "{\"ok\": true}".to_owned())
        } else {
            (302, Some("/loop".to_owned()), String::new())
        }
    }))
    .await;
    let value = client(&root)
        .latest_artifact(&TaskId::new("D"), "public/actions.json")
        .await
        .expect("follows");
    assert_eq!(value, json!({"ok": true}));
    let calls = seen(&seen_calls);
    assert_eq!(calls.len(), 2);
    assert!(
        calls.iter().all(|(_, _, authorized)| *authorized),
        "{calls:?}"
    );

    let looped = client(&root)
        .latest_artifact(&TaskId::new("L"), "x.json")
        .await;
    assert!(
        matches!(looped, Err(QueueError::Unavailable { .. })),
        "{looped:?}"
    );
}

#[tokio::test]
async fn a_trigger_is_sent_once_even_when_its_answer_is_lost() {
    let (root, seen_calls) = serve(Arc::new(|path: &str| {
        if path.starts_with("/api/hooks/v1/hooks/project-gecko/lost") {
            (
                500,
                None,
                json!({"code": "InternalServerError", "message": "boom"}).to_string(),
            )
        } else if path.starts_with("/api/hooks/v1/hooks/project-gecko/old") {
            (
                200,
                None,
                json!({"status": {"taskId": "OLDSTYLE"}}).to_string(),
            )
        } else {
            (
                200,
                None,
                json!({"taskId": "ACTION", "status": {"taskId": "ACTION"}}).to_string(),
            )
        }
    }))
    .await;
    let c = client(&root);
    let payload = json!({"decision": {}, "user": {}});
    let made = c
        .trigger_hook("project-gecko", "in-tree-action-1-generic/abc", &payload)
        .await;
    assert_eq!(made, Ok(TaskId::new("ACTION")));
    let old = c.trigger_hook("project-gecko", "old", &payload).await;
    assert_eq!(old, Ok(TaskId::new("OLDSTYLE")));
    let lost = c.trigger_hook("project-gecko", "lost", &payload).await;
    assert!(
        matches!(lost, Err(QueueError::Unavailable { .. })),
        "{lost:?}"
    );
    let calls = seen(&seen_calls);
    assert_eq!(
        calls.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        vec![
            "/api/hooks/v1/hooks/project-gecko/in-tree-action-1-generic%2Fabc/trigger",
            "/api/hooks/v1/hooks/project-gecko/old/trigger",
            "/api/hooks/v1/hooks/project-gecko/lost/trigger",
        ],
        "the lost trigger is not replayed"
    );
}

#[tokio::test]
async fn scopes_are_expanded_by_the_auth_service() {
    let (root, seen_calls) = serve(Arc::new(|_: &str| {
        (
            200,
            None,
            json!({"scopes": ["a", "in-tree:hook-action:g/*"]}).to_string(),
        )
    }))
    .await;
    let expanded = client(&root)
        .expand_scopes(&["assume:repo:github.com/o/r:pull-request".to_owned()])
        .await
        .expect("expands");
    assert_eq!(expanded, vec!["a", "in-tree:hook-action:g/*"]);
    assert_eq!(seen(&seen_calls)[0].1, "/api/auth/v1/scopes/expand");
}
