//! Parser and pre-filter throughput: a 4 KB comment with and without a
//! command, and the pre-filter over 4 KB / 64 KB webhook bodies.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rerunbot::command::{might_contain_command, parse_comment, ParseLimits};

/// Review-comment prose with links and code, about `size` bytes.
fn prose(size: usize) -> String {
    let para = "The failure in test-linux64/opt-mochitest-browser-chrome-3 looks \
        intermittent, see https://treeherder.mozilla.org/jobs?repo=try&revision=abc \
        and `dom/base/test/browser_foo.js`. I'd rather not retrigger everything.\n\n";
    para.repeat(size / para.len() + 1)[..size].to_string()
}

fn webhook(text: &str, size: usize) -> Vec<u8> {
    let filler = "x".repeat(size.saturating_sub(text.len() + 512));
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "issue": {"url": "https://api.github.com/repos/o/r/issues/1", "body": filler},
        "comment": {"body": text, "url": "https://api.github.com/repos/o/r/issues/comments/9"},
    }))
    .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let limits = ParseLimits::default();
    let plain = prose(4096);
    let mut with_command = prose(4000);
    with_command.push_str("\n/retrigger 3 test-linux64/opt-mochitest-1 --force\n");

    let mut group = c.benchmark_group("parse_comment");
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function("4KB_no_command", |b| {
        b.iter(|| parse_comment(black_box(&plain), &limits))
    });
    group.throughput(Throughput::Bytes(with_command.len() as u64));
    group.bench_function("4KB_with_command", |b| {
        b.iter(|| parse_comment(black_box(&with_command), &limits))
    });
    group.finish();
    assert!(parse_comment(&plain, &limits).is_empty());
    assert_eq!(parse_comment(&with_command, &limits).commands.len(), 1);

    let mut group = c.benchmark_group("might_contain_command");
    for size in [4 * 1024, 64 * 1024] {
        let body = webhook(&plain, size);
        // Otherwise the bench would time an early exit.
        assert!(!might_contain_command(&body));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{}KB_no_command", size / 1024), |b| {
            b.iter(|| might_contain_command(black_box(&body)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
