#!/usr/bin/env bash
# Firefox-sized graph: the release `rerunbot serve` against a sandbox group
# of 20,000 tasks with realistic definitions (~3 KB each), served in pages of
# 1,000 (examples/big_group.rs starts the sandboxes and the binary). Each run
# times one listing of the group, then three comments one after the other
# (a bare /rerun, a glob selector, a /retrigger) from delivery to reply, and
# reads the process's peak RSS (VmHWM). Prints each run, then the median and
# range of each figure; README's figures come from here.
#   scripts/big_group.sh [RUNS=5] [TASKS=20000]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tasks=${2:-20000}
cargo build --release --quiet --bin rerunbot --example big_group
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$runs"); do
  target/release/examples/big_group target/release/rerunbot "$tasks" | tee -a "$out"
done
# median and range of every key=value figure
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = v[kv[1]] " " kv[2] } }
     END { for (k in v) print k, v[k] }' "$out" | sort | while read -r key values; do
  sorted=$(tr ' ' '\n' <<<"$values" | sort -n | grep -v '^$')
  n=$(wc -l <<<"$sorted")
  median=$(sed -n "$(( (n + 1) / 2 ))p" <<<"$sorted")
  printf '%-18s median %-8s range %s-%s\n' "$key" "$median" "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")"
done
# the ratio the issue asks about: each command against one listing
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
       worst = 0; for (c = 1; c <= 3; c++) { r = f["cmd" c "_ms"] / f["listing_ms"]; if (r > worst) worst = r }
       printf "run %d: slowest command / listing = %.2f, peak RSS %.1f MB\n", NR, worst, f["peak_rss_kb"] / 1024 }' "$out"
