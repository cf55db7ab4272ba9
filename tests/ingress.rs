//! Ingress limits through the real router and listener (DESIGN.md §9): the
//! connection budget, the body-bytes budget (refused before reading),
//! header and body read deadlines, the size limit, and form-encoded
//! deliveries.

mod common;

use common::*;
use rerunbot::config::WebhookSecrets;
use rerunbot::server::IngressLimits;
use rerunbot::service::Service;
use rerunbot::store::{Claim, Store};
use rerunbot::webhook::signature::sign;
use rerunbot::worker::{JobFuture, JobHandler};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Does nothing with a job (these tests are about what gets queued).
struct Idle;

impl JobHandler for Idle {
    fn handle(&self, _store: Store, _claim: Claim) -> JobFuture {
        Box::pin(async { Ok(()) })
    }
}

async fn limited(limits: IngressLimits) -> (Service, TempSqlite) {
    let db = sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let service = Service::start_limited(
        listener,
        db.store.clone(),
        WebhookSecrets::parse(SECRET).expect("secret"),
        Arc::new(Idle),
        (fast_workers(1), limits),
    )
    .await
    .expect("service");
    (service, db)
}

/// The head of a signed `issue_comment` POST of `body`, declaring `length`.
fn head(guid: &str, body: &[u8], length: usize, content_type: &str) -> String {
    format!(
        "POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\n\
         x-github-event: issue_comment\r\nx-github-delivery: {guid}\r\n\
         x-hub-signature-256: {}\r\ncontent-length: {length}\r\n\r\n",
        sign(SECRET, body)
    )
}

/// Reads a whole answer (the server closes, or answers with a length).
async fn answer(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
            let seen = String::from_utf8_lossy(&text);
            if let Some((head, rest)) = seen.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if length.is_some_and(|n| rest.len() >= n) {
                    break;
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&text).into_owned()
}

#[tokio::test]
async fn a_body_over_the_budget_is_refused_before_it_is_read() {
    let body = comment_payload("created", "/rerun", "bob");
    let (service, db) = limited(IngressLimits {
        body_budget: body.len() + 100,
        ..IngressLimits::default()
    })
    .await;
    // A slow sender holds its declared length of the budget while it sends.
    let mut slow = TcpStream::connect(service.addr).await.expect("connect");
    slow.write_all(head("slow", &body, body.len(), "application/json").as_bytes())
        .await
        .expect("head");
    slow.write_all(&body[..10]).await.expect("part");
    // The server has reserved the slow body's bytes once it has read the
    // head; wait for that through the budget itself.
    let mut refused = String::new();
    for _ in 0..100 {
        let mut other = TcpStream::connect(service.addr).await.expect("connect");
        other
            .write_all(head("other", &body, body.len(), "application/json").as_bytes())
            .await
            .expect("head");
        // Not a byte of the body is sent: the answer comes without it.
        refused = answer(&mut other).await;
        if refused.starts_with("HTTP/1.1 503") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    // The slow one finishes and is queued; the budget is free again.
    slow.write_all(&body[10..]).await.expect("rest");
    let accepted = answer(&mut slow).await;
    assert!(accepted.starts_with("HTTP/1.1 202"), "{accepted}");
    assert!(db
        .store
        .job_by_delivery("other")
        .await
        .expect("read")
        .is_none());
    let (status, _) = post(
        &service.webhook_url(),
        Some("issue_comment"),
        Some("later"),
        Some(SECRET),
        &body,
    )
    .await;
    assert_eq!(status, 202);
    service.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_declared_length_over_25_mib_is_refused_at_once() {
    let (service, _db) = limited(IngressLimits::default()).await;
    let mut stream = TcpStream::connect(service.addr).await.expect("connect");
    let body = b"{}";
    stream
        .write_all(head("big", body, 25 * 1024 * 1024 + 1, "application/json").as_bytes())
        .await
        .expect("head");
    let text = answer(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    service.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn connections_over_the_budget_are_answered_503_at_once() {
    let (service, _db) = limited(IngressLimits {
        max_connections: 1,
        ..IngressLimits::default()
    })
    .await;
    let mut first = TcpStream::connect(service.addr).await.expect("connect");
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send");
    let ok = answer(&mut first).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // `first` stays open (keep-alive) and holds the only slot.
    let mut second = TcpStream::connect(service.addr).await.expect("connect");
    let busy = answer(&mut second).await;
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(busy.contains("retry-after: 1"), "{busy}");
    drop(first);
    let mut served = String::new();
    for _ in 0..100 {
        let mut third = TcpStream::connect(service.addr).await.expect("connect");
        let _ = third
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await;
        served = answer(&mut third).await;
        if served.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served.starts_with("HTTP/1.1 200"),
        "the slot is free again: {served}"
    );
    service.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let (service, _db) = limited(IngressLimits {
        max_connections: 1,
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..IngressLimits::default()
    })
    .await;
    // Headers that never end: the connection is closed, freeing its slot.
    let mut stalled = TcpStream::connect(service.addr).await.expect("connect");
    stalled
        .write_all(b"POST /webhook HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("part");
    let started = std::time::Instant::now();
    let text = answer(&mut stalled).await;
    assert!(
        started.elapsed() < Duration::from_secs(3) && !text.starts_with("HTTP/1.1 2"),
        "closed after the header deadline: {text:?}"
    );
    // A body that stops arriving: 408.
    let body = comment_payload("created", "/rerun", "bob");
    let mut slow = TcpStream::connect(service.addr).await.expect("connect");
    slow.write_all(head("slow", &body, body.len(), "application/json").as_bytes())
        .await
        .expect("head");
    slow.write_all(&body[..10]).await.expect("part");
    let text = answer(&mut slow).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    service.shutdown(Duration::from_secs(1)).await;
}

/// `payload=<json>`, form-encoded, as GitHub sends it.
fn form(json: &[u8]) -> Vec<u8> {
    let mut encoded = String::from("payload=");
    encoded.extend(form_urlencoded::byte_serialize(json));
    encoded.into_bytes()
}

#[tokio::test]
async fn form_encoded_deliveries_are_decoded_or_refused_with_a_reason() {
    let (service, db) = limited(IngressLimits::default()).await;
    let send = |guid: &'static str, body: Vec<u8>| {
        let url = service.webhook_url();
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-github-event", "issue_comment")
                .header("x-github-delivery", guid)
                .header("x-hub-signature-256", sign(SECRET, &body))
                .body(body)
                .send()
                .await
                .expect("request");
            (
                response.status().as_u16(),
                response.text().await.expect("text"),
            )
        }
    };
    let json = comment_payload("created", "please\n/rerun", "bob");
    let (status, _) = send("form", form(&json)).await;
    assert_eq!(status, 202);
    let job = db
        .store
        .job_by_delivery("form")
        .await
        .expect("read")
        .expect("queued");
    assert!(job.payload.contains("/rerun"), "{}", job.payload);
    // Without a command: acknowledged like its JSON twin.
    let (status, _) = send("quiet", form(&comment_payload("created", "thanks", "bob"))).await;
    assert_eq!(status, 200);
    // No payload field: never a silent 200.
    let (status, text) = send("empty", b"foo=bar".to_vec()).await;
    assert_eq!(status, 415);
    assert!(text.contains("application/json"), "{text}");
    service.shutdown(Duration::from_secs(1)).await;
}

/// The value of `rerunbot_queue_jobs{state}` in a scrape.
async fn queue_jobs(service: &Service, state: &str) -> i64 {
    let text = reqwest::get(format!("http://{}/metrics", service.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let prefix = format!("rerunbot_queue_jobs{{state=\"{state}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
}

#[tokio::test]
async fn a_scrape_counts_the_queue_not_the_history() {
    let (service, db) = limited(IngressLimits::default()).await;
    let mut events = service.subscribe();
    assert_eq!(queue_jobs(&service, "done").await, 0);
    let body = comment_payload("created", "/rerun", "bob");
    let (status, _) = post(
        &service.webhook_url(),
        Some("issue_comment"),
        Some("counted"),
        Some(SECRET),
        &body,
    )
    .await;
    assert_eq!(status, 202);
    wait_for(&mut events, 1, |k| {
        matches!(k, rerunbot::worker::JobEventKind::Done)
    })
    .await;
    assert_eq!(db.store.job_counts().await.expect("counts")[2], 1);
    // Done jobs are counted at most once per period; the queue every time.
    assert_eq!(queue_jobs(&service, "done").await, 0, "from the last count");
    assert_eq!(queue_jobs(&service, "queued").await, 0);
    service.shutdown(Duration::from_secs(1)).await;
}
