#!/usr/bin/env bash
# Ingress load test: starts the release `rerunbot serve` on a temporary
# SQLite file on loopback (one worker, whose GitHub is unreachable, so it
# keeps claiming and rescheduling jobs: the writes deliveries compete with),
# then posts signed 15 KB `issue_comment` deliveries (GitHub's example with
# a long comment, examples/load.rs):
#   1. stored path (a command: a job is written) and no-command path (the
#      same size, acknowledged without a job), 16 connections each, in the
#      same run, ROUNDS times alternating: p50 / p99 / throughput of each;
#   2. stored deliveries/s at 64 connections;
#   3. latency of the stored path at a fixed 1,000 deliveries/s.
# Prints one line per run and `uptime` (the machine is shared); README's
# figures come from here.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin rerunbot --example load
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
openssl genrsa -out "$tmp/key.pem" 2048 2>/dev/null
port=${PORT:-38111}
rounds=${ROUNDS:-3}
RERUNBOT_LISTEN=127.0.0.1:$port RERUNBOT_DATABASE_URL="sqlite://$tmp/load.db" \
RERUNBOT_WEBHOOK_SECRET=load-secret RERUNBOT_GITHUB_APP_ID=1 RERUNBOT_GITHUB_PRIVATE_KEY="$tmp/key.pem" \
TASKCLUSTER_ROOT_URL=http://127.0.0.1:9 RERUNBOT_GITHUB_API_URL=http://127.0.0.1:9 RERUNBOT_WORKERS=1 RUST_LOG=error \
  target/release/rerunbot serve & echo $! > "$tmp/pid"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/webhook"
load=target/release/examples/load
uptime
echo "16 connections, stored path vs no-command path, $rounds rounds:"
for _ in $(seq 1 "$rounds"); do
  $load "$url" load-secret 10000 16 0 command
  $load "$url" load-secret 10000 16 0 chatter
done
echo "stored, 64 connections:"; $load "$url" load-secret 20000 64 0 command
echo "stored at a fixed 1000/s:"; $load "$url" load-secret 5000 32 1000 command
uptime
