//! Load generator for a running `rerunbot serve`: posts signed
//! `issue_comment` deliveries (each with a new delivery GUID) and prints
//! deliveries/s with p50 / p99 latency. Bounded in count and time; loopback only.
//!
//! Every delivery is GitHub's published `issue_comment` example
//! (`fixtures/github/webhooks/`) with a long comment, padded to
//! [`PAYLOAD_BYTES`] like a real review comment quoting a log: `command`
//! starts it with a `/retrigger` line (a job is stored), `chatter` holds no
//! command (acknowledged without a job). Both kinds have the same size, so
//! the two paths are compared on equal bodies.
//!
//! ```sh
//! cargo run --release --example load -- URL SECRET COUNT CONCURRENCY [RATE_PER_S] [command|chatter]
//! ```

use rerunbot::sandbox::github::payloads::{issue_comment, CommentDelivery};
use std::time::{Duration, Instant};

/// The size of every delivery's body.
const PAYLOAD_BYTES: usize = 15 * 1024;

/// Prose and a quoted log, as people paste into a comment on a failure.
const PARAGRAPH: &str = "The failure looks intermittent to me: the same test passed on the \
previous push and on the other platforms, and the log shows the harness timing out while \
waiting for the browser to start rather than an assertion in our code.\n\n```\n\
[task 2026-11-24T00:12:03.418Z] TEST-UNEXPECTED-TIMEOUT | dom/tests/mochitest/test_focus.html \
| application timed out after 370 seconds with no output\n\
[task 2026-11-24T00:12:03.419Z] Traceback (most recent call last):\n\
[task 2026-11-24T00:12:03.420Z]   File \"runtests.py\", line 3342, in runTests\n```\n\n";

/// A comment of about `PAYLOAD_BYTES` (with the rest of the delivery).
fn delivery(first_line: &str) -> Vec<u8> {
    let build = |body: &str| {
        issue_comment(&CommentDelivery {
            action: "created",
            repo: "mozilla/gecko-dev",
            installation: 55,
            pr: 7,
            pr_author: "alice",
            comment_id: 1001,
            login: "bob",
            body,
            before: None,
        })
    };
    let mut body = format!("{first_line}\n\n");
    while build(&body).len() + PARAGRAPH.len() <= PAYLOAD_BYTES {
        body.push_str(PARAGRAPH);
    }
    let short = PAYLOAD_BYTES.saturating_sub(build(&body).len());
    body.push_str(&"x".repeat(short));
    build(&body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        anyhow::bail!("usage: load URL SECRET COUNT CONCURRENCY [RATE_PER_S|0] [command|chatter]");
    }
    let url = args[1].clone();
    anyhow::ensure!(
        url.starts_with("http://127.") || url.starts_with("http://localhost"),
        "loopback URLs only"
    );
    let secret = args[2].clone();
    let count: usize = args[3].parse()?;
    let concurrency: usize = args[4].parse()?;
    let rate: f64 = args.get(5).map(|r| r.parse()).transpose()?.unwrap_or(0.0);
    let (kind, first_line) = match args.get(6).map(String::as_str) {
        Some("chatter") => ("chatter", "LGTM, thanks for fixing this!"),
        _ => (
            "command",
            "/retrigger 3 test-linux1804-64-qr/opt-mochitest-plain-3",
        ),
    };
    let body = delivery(first_line);
    let signature = rerunbot::webhook::signature::sign(&secret, &body);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body, signature, run_id, next) = (
            client.clone(),
            url.clone(),
            body.clone(),
            signature.clone(),
            run_id.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count || started.elapsed() > Duration::from_secs(120) {
                    break;
                }
                if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-github-event", "issue_comment")
                    .header("x-github-delivery", format!("{run_id}-{n}"))
                    .header("x-hub-signature-256", &signature)
                    .body(body.clone())
                    .send()
                    .await;
                let status = match response {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        // The answer is read whole before the clock stops.
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                latencies.push(sent.elapsed());
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses)
        }));
    }
    let mut latencies = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for worker in workers {
        let (l, s) = worker.await?;
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{kind} ({} B): {} deliveries in {:.2}s: {:.0}/s  p50 {:.2} ms  p99 {:.2} ms  statuses {:?}",
        body.len(),
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        statuses
    );
    Ok(())
}
