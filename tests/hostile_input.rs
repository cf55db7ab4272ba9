//! The bounded, always-on counterpart of the fuzz targets (`fuzz/`): the
//! whole webhook handler on arbitrary bytes and headers, and the
//! repository-configuration parser on arbitrary text. Neither may panic or
//! take long; the handler answers only with the statuses the README lists,
//! stores nothing for a bad signature and at most one job per delivery GUID.

mod common;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use common::*;
use proptest::prelude::*;
use rerunbot::config::WebhookSecrets;
use rerunbot::sandbox::github::payloads;
use rerunbot::server::AppState;
use rerunbot::webhook::signature::sign;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cases per property: enough to reach every branch, a few seconds in all.
const CASES: u32 = 192;
/// What one call may take, even on a loaded 2-core machine.
const SLOW: Duration = Duration::from_secs(2);

/// How the delivery is signed.
#[derive(Clone, Debug)]
enum Signature {
    Valid,
    /// Signed with another secret.
    Wrong,
    Missing,
    /// Not a signature at all.
    Garbage(String),
}

/// One delivery as it reaches the handler.
#[derive(Clone, Debug)]
struct Delivery {
    event: String,
    guid: String,
    content_type: String,
    signature: Signature,
    body: Vec<u8>,
}

fn event() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("issue_comment".to_owned()),
        1 => Just("ping".to_owned()),
        1 => Just("check_suite".to_owned()),
        1 => Just(String::new()),
        1 => "[ -~]{0,20}",
    ]
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("application/json".to_owned()),
        2 => Just("application/x-www-form-urlencoded".to_owned()),
        1 => Just("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
        1 => Just(String::new()),
        1 => "[ -~]{0,30}",
    ]
}

fn signature() -> impl Strategy<Value = Signature> {
    prop_oneof![
        6 => Just(Signature::Valid),
        1 => Just(Signature::Wrong),
        1 => Just(Signature::Missing),
        1 => "[ -~]{0,80}".prop_map(Signature::Garbage),
    ]
}

/// Comment bodies: commands, near-commands, noise.
fn comment_body() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/rerun".to_owned()),
        Just("/retrigger 3 test-*".to_owned()),
        Just("/rerunbot help".to_owned()),
        "(/re(run|trigger)[ -~]{0,40}\n){0,4}",
        "\\PC{0,200}",
    ]
}

/// GitHub's real `issue_comment` example, with a chosen body, then
/// perhaps cut short or with a byte changed.
fn real_payload() -> impl Strategy<Value = Vec<u8>> {
    (
        comment_body(),
        prop_oneof![Just("created"), Just("edited"), Just("deleted")],
        any::<bool>(),
        prop::option::of(any::<prop::sample::Index>()),
        prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(|(body, action, bot, cut, flip)| {
            let mut payload = payloads::issue_comment(&payloads::CommentDelivery {
                action,
                repo: "mozilla/gecko-dev",
                installation: 55,
                pr: 7,
                pr_author: "alice",
                comment_id: 1001,
                login: if bot { "dependabot[bot]" } else { "bob" },
                body: &body,
                before: (action == "edited").then_some("before"),
            });
            if let Some(at) = cut {
                payload.truncate(at.index(payload.len() + 1));
            }
            if let Some((at, byte)) = flip {
                if !payload.is_empty() {
                    let i = at.index(payload.len());
                    payload[i] = byte;
                }
            }
            payload
        })
}

/// A form-encoded delivery around a real payload (or around noise).
fn form_payload() -> impl Strategy<Value = Vec<u8>> {
    (real_payload(), "[a-z]{0,8}").prop_map(|(json, field)| {
        let field = if field.is_empty() {
            "payload"
        } else {
            field.as_str()
        };
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair(field, &String::from_utf8_lossy(&json));
        form.finish().into_bytes()
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => real_payload(),
        2 => form_payload(),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => "\\PC{0,300}".prop_map(String::into_bytes),
        1 => Just(payloads::ping()),
    ]
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        event(),
        prop_oneof![4 => "[0-9a-f-]{36}", 1 => Just(String::new()), 1 => "[ -~]{1,60}"],
        content_type(),
        signature(),
        body(),
    )
        .prop_map(|(event, guid, content_type, signature, body)| Delivery {
            event,
            guid,
            content_type,
            signature,
            body,
        })
}

fn request(d: &Delivery) -> Request<Body> {
    let mut builder = Request::post("/webhook");
    for (name, value) in [
        ("x-github-event", d.event.as_str()),
        ("x-github-delivery", d.guid.as_str()),
        ("content-type", d.content_type.as_str()),
    ] {
        if !value.is_empty() {
            builder = builder.header(name, value);
        }
    }
    let signature = match &d.signature {
        Signature::Valid => Some(sign(SECRET, &d.body)),
        Signature::Wrong => Some(sign("another-secret", &d.body)),
        Signature::Missing => None,
        Signature::Garbage(text) => Some(text.clone()),
    };
    if let Some(signature) = signature {
        builder = builder.header("x-hub-signature-256", signature);
    }
    builder = builder.header("content-length", d.body.len().to_string());
    builder
        .body(Body::from(d.body.clone()))
        .unwrap_or_else(|_| Request::new(Body::empty()))
}

fn state(db: &TempSqlite) -> AppState {
    AppState {
        store: db.store.clone(),
        secrets: WebhookSecrets::parse(SECRET).expect("secret"),
        metrics: rerunbot::metrics::Metrics::new(),
        job_ready: Arc::new(tokio::sync::Notify::new()),
        body_budget: Arc::new(tokio::sync::Semaphore::new(
            rerunbot::server::IngressLimits::default().body_budget,
        )),
        body_read_timeout: Duration::from_secs(10),
        taskcluster_app: Arc::from(rerunbot::config::DEFAULT_TASKCLUSTER_APP),
        history_counts: Arc::new(std::sync::Mutex::new(None)),
    }
}

async fn jobs_with_guid(db: &TempSqlite, guid: &str) -> usize {
    db.store
        .job_by_delivery(guid)
        .await
        .expect("read job")
        .into_iter()
        .count()
}

#[test]
fn the_webhook_handler_answers_any_delivery_quickly_and_stores_only_signed_ones() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(sqlite());
    let state = state(&db);
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(d in delivery())| {
        let started = Instant::now();
        let response = runtime.block_on(rerunbot::webhook::handle(State(state.clone()), request(&d)));
        let status = response.status().as_u16();
        prop_assert!(started.elapsed() < SLOW, "took {:?}", started.elapsed());
        prop_assert!(
            [200, 202, 400, 401, 415].contains(&status),
            "answered {status} to {d:?}"
        );
        let stored = runtime.block_on(jobs_with_guid(&db, &d.guid));
        match d.signature {
            Signature::Valid => {}
            _ => {
                prop_assert_eq!(status, 401);
                prop_assert_eq!(stored, 0, "stored without a valid signature");
            }
        }
        prop_assert!(stored <= 1);
        if status == 202 {
            prop_assert_eq!(stored, 1);
            // A redelivery stores nothing new.
            let again = runtime.block_on(rerunbot::webhook::handle(State(state.clone()), request(&d)));
            prop_assert_eq!(again.status().as_u16(), 200);
            prop_assert_eq!(runtime.block_on(jobs_with_guid(&db, &d.guid)), 1);
        }
    });
}

/// Keys, values and YAML syntax of `.github/rerunbot.yml`, to assemble.
fn yaml_fragment() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "permissions:",
        "limits:",
        "classify:",
        "release:",
        "test:",
        "rerun:",
        "retrigger:",
        "force:",
        "pr_author_rerun:",
        "max_retrigger:",
        "max_new_tasks:",
        "max_reruns_per_command:",
        "max_reruns_per_task:",
        "max_retriggers_per_sha:",
        "max_failure_percent:",
        "task_queues:",
        "kinds:",
        "tags:",
        "treeherder_job_kinds:",
        " write",
        " admin",
        " maintain",
        " read",
        " triage",
        " none",
        " true",
        " false",
        " 0",
        " -1",
        " 100",
        " 99999999999999999999",
        " 1e400",
        " .nan",
        " ~",
        " null",
        " \"*signing*\"",
        " [\"scriptworker-k8s/*\"]",
        " [\"[\"]",
        " {retrigger: \"true\"}",
        " !!binary aGk=",
        " &a [1]",
        " *a",
        " <<: *a",
        " |",
        " >",
        " \"\\u0000\"",
        "\n",
        "\n  ",
        "\n    ",
        "\n- ",
        "\t",
        "#",
        "---\n",
        "...\n",
        "? ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        "\"",
        "é",
        "\u{feff}",
    ];
    prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

#[test]
fn the_repo_config_parser_takes_any_text_quickly() {
    let config = ProptestConfig {
        cases: CASES * 4,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let error_in_text = |text: &str, e: &rerunbot::repo_config::ConfigError| {
        let lines = text.lines().count().max(1) + 1;
        e.line.is_none_or(|l| l >= 1 && l <= lines)
    };
    proptest!(config, |(parts in prop::collection::vec(yaml_fragment(), 0..40), noise in "\\PC{0,200}", raw in any::<bool>())| {
        let text = if raw { noise } else { parts.concat() };
        let started = Instant::now();
        let parsed = rerunbot::repo_config::parse(&text);
        prop_assert!(started.elapsed() < SLOW, "took {:?} on {text:?}", started.elapsed());
        if let Err(e) = &parsed {
            prop_assert!(error_in_text(&text, e), "error {e:?} points outside {text:?}");
            prop_assert!(!e.message.is_empty());
        }
    });
}

#[test]
fn yaml_aliases_cannot_blow_up_the_repo_config_parser() {
    // A billion laughs: each level refers to the one before ten times.
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (level, prev) in ('b'..='i').zip('a'..) {
        let refs = vec![format!("*{prev}"); 10].join(",");
        text.push_str(&format!("{level}: &{level} [{refs}]\n"));
    }
    let started = Instant::now();
    assert!(rerunbot::repo_config::parse(&text).is_err());
    assert!(started.elapsed() < SLOW, "took {:?}", started.elapsed());
}
