//! Load generator for a running `rerunbot serve`: posts signed
//! `issue_comment` deliveries (each with a new delivery GUID) and prints
//! deliveries/s with p50 / p99 latency. Bounded in count and time; loopback only.
//!
//! ```sh
//! cargo run --release --example load -- URL SECRET COUNT CONCURRENCY [RATE_PER_S] [command|chatter]
//! ```

use std::time::{Duration, Instant};

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
    let text = match args.get(6).map(String::as_str) {
        Some("chatter") => "LGTM, thanks for fixing this!",
        _ => "/retrigger 3 test-linux1804-64-qr/opt-mochitest-plain-3",
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "issue": {"number": 7, "user": {"login": "alice", "type": "User"},
                   "pull_request": {"url": "https://api.github.com/repos/mozilla/gecko-dev/pulls/7"}},
        "comment": {"id": 1001, "body": text, "user": {"login": "bob", "type": "User"}},
        "repository": {"full_name": "mozilla/gecko-dev"},
        "installation": {"id": 55},
        "sender": {"login": "bob", "type": "User"}
    }))?;
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
                let status = response.map(|r| r.status().as_u16()).unwrap_or(0);
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
        "{} deliveries in {:.2}s: {:.0}/s  p50 {:.2} ms  p99 {:.2} ms  statuses {:?}",
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        statuses
    );
    Ok(())
}
