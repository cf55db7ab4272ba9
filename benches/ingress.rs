//! Webhook ingress CPU cost: signature verification plus payload parsing for
//! a realistic 8 KB and 64 KB `issue_comment` delivery.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rerunbot::config::WebhookSecrets;
use rerunbot::webhook::{event, signature};

/// An `issue_comment` payload shaped like GitHub's, padded to about `size` bytes
/// with a realistic comment body (text and a log excerpt) ending in a command.
fn payload(size: usize) -> Vec<u8> {
    let mut body = String::from("Thanks for the review! The failure looks intermittent:\n\n```\n");
    while body.len() < size.saturating_sub(3000) {
        body.push_str("[task 2026-11-22T10:00:00.000Z] TEST-UNEXPECTED-FAIL | dom/tests/test_foo.html | timed out\n");
    }
    body.push_str("```\n\n/retrigger 3 test-linux1804-64-qr/opt-mochitest-plain-3\n");
    let user = serde_json::json!({"login": "alice", "id": 1, "node_id": "MDQ6VXNlcjE=", "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4", "html_url": "https://github.com/alice", "type": "User", "site_admin": false});
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "issue": {"number": 7, "title": "Bug 1900000 - Fix the frobnicator", "user": user, "state": "open",
                   "labels": [], "comments": 3, "author_association": "MEMBER",
                   "pull_request": {"url": "https://api.github.com/repos/mozilla/gecko-dev/pulls/7", "html_url": "https://github.com/mozilla/gecko-dev/pull/7"}},
        "comment": {"id": 1001, "body": body, "user": user, "created_at": "2026-11-22T10:00:00Z", "author_association": "MEMBER",
                     "html_url": "https://github.com/mozilla/gecko-dev/pull/7#issuecomment-1001"},
        "repository": {"id": 2, "full_name": "mozilla/gecko-dev", "name": "gecko-dev", "private": false, "owner": user, "default_branch": "main"},
        "installation": {"id": 55, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNTU="},
        "sender": user
    }))
    .unwrap_or_default()
}

fn ingress(c: &mut Criterion) {
    let secrets = WebhookSecrets::parse("bench-secret").expect("secret");
    let mut group = c.benchmark_group("verify_and_parse");
    for size in [8 * 1024, 64 * 1024] {
        let body = payload(size);
        let header = signature::sign("bench-secret", &body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{}KB", size / 1024)),
            &body,
            |b, body| {
                b.iter(|| {
                    assert!(signature::verify(&secrets, Some(header.as_bytes()), body));
                    event::comment_job(body, rerunbot::command::might_contain_command)
                        .ok()
                        .and_then(Result::ok)
                        .expect("a command job")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, ingress);
criterion_main!(benches);
