//! Fuzzes the whole `POST /webhook` handler: headers and raw body from the
//! input, through the body limits, the signature check, the event filter,
//! form decoding, the payload parser and the durable insert (SQLite in a
//! temporary directory). Checks what the README promises: only the listed
//! statuses, nothing stored without a valid signature, and a 202 stores
//! exactly one job that a redelivery does not repeat.
//!
//! Input: one flag byte (bit 0: sign with the right secret, bit 1: send a
//! signature at all), then header lines `name: value` up to an empty line,
//! then the body. Seeds in `seeds/webhook/` are GitHub's examples.
#![no_main]

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use rerunbot::config::WebhookSecrets;
use rerunbot::server::{AppState, IngressLimits};
use rerunbot::store::Store;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const SECRET: &str = "fuzz-secret";

struct Harness {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let store = runtime.block_on(Store::connect(&url)).expect("store");
        let state = AppState {
            store,
            secrets: WebhookSecrets::parse(SECRET).expect("secret"),
            metrics: rerunbot::metrics::Metrics::new(),
            job_ready: Arc::new(tokio::sync::Notify::new()),
            body_budget: Arc::new(tokio::sync::Semaphore::new(
                IngressLimits::default().body_budget,
            )),
            body_read_timeout: Duration::from_secs(10),
            taskcluster_app: Arc::from(rerunbot::config::DEFAULT_TASKCLUSTER_APP),
            history_counts: Arc::new(std::sync::Mutex::new(None)),
        };
        Harness {
            runtime,
            state,
            _dir: dir,
        }
    })
}

/// Splits the input into flags, header lines and body.
fn split(data: &[u8]) -> Option<(u8, Vec<(String, String)>, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let end = rest.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match end {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (&[][..], rest),
    };
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some((flags, headers, body))
}

fn request(flags: u8, headers: &[(String, String)], body: &[u8]) -> Option<Request<Body>> {
    let mut builder = Request::post("/webhook");
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("x-hub-signature-256")
            || name.eq_ignore_ascii_case("content-length")
        {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    if flags & 2 != 0 {
        let secret = if flags & 1 != 0 { SECRET } else { "wrong" };
        builder = builder.header(
            "x-hub-signature-256",
            rerunbot::webhook::signature::sign(secret, body),
        );
    }
    builder = builder.header("content-length", body.len().to_string());
    builder.body(Body::from(body.to_vec())).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, headers, body)) = split(data) else {
        return;
    };
    // A header the HTTP layer would refuse never reaches the handler.
    let Some(first) = request(flags, &headers, body) else {
        return;
    };
    let h = harness();
    let guid = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-github-delivery"))
        .map(|(_, v)| v.clone());
    let before = match &guid {
        Some(g) => h
            .runtime
            .block_on(h.state.store.job_by_delivery(g))
            .expect("read")
            .is_some(),
        None => false,
    };
    let status = h
        .runtime
        .block_on(rerunbot::webhook::handle(State(h.state.clone()), first))
        .status()
        .as_u16();
    assert!(
        [200, 202, 400, 401, 408, 413, 415, 503].contains(&status),
        "answered {status}"
    );
    let signed = flags & 3 == 3;
    if !signed {
        assert_eq!(status, 401);
    }
    let after = match &guid {
        Some(g) => h
            .runtime
            .block_on(h.state.store.job_by_delivery(g))
            .expect("read")
            .is_some(),
        None => false,
    };
    if status != 202 {
        assert_eq!(before, after, "stored without a 202");
        return;
    }
    assert!(!before && after, "a 202 stores exactly one new job");
    let again = request(flags, &headers, body).expect("built once already");
    let status = h
        .runtime
        .block_on(rerunbot::webhook::handle(State(h.state.clone()), again))
        .status()
        .as_u16();
    assert_eq!(status, 200, "a redelivery is answered 200");
});
