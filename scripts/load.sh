#!/usr/bin/env bash
# Ingress load test: starts `rerunbot serve` on a temporary SQLite file on
# loopback, then posts signed deliveries with examples/load.rs:
#   1. stored deliveries/s (commands, 64 connections),
#   2. latency at a fixed 1,000 deliveries/s,
#   3. comments without a command (acknowledged without a job).
# Prints one line per run; README's figures come from here.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin rerunbot --example load
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
openssl genrsa -out "$tmp/key.pem" 2048 2>/dev/null
port=${PORT:-38111}
RERUNBOT_LISTEN=127.0.0.1:$port RERUNBOT_DATABASE_URL="sqlite://$tmp/load.db" \
RERUNBOT_WEBHOOK_SECRET=load-secret RERUNBOT_GITHUB_APP_ID=1 RERUNBOT_GITHUB_PRIVATE_KEY="$tmp/key.pem" \
TASKCLUSTER_ROOT_URL=http://127.0.0.1:9 RERUNBOT_GITHUB_API_URL=http://127.0.0.1:9 RERUNBOT_WORKERS=1 RUST_LOG=error \
  target/release/rerunbot serve & echo $! > "$tmp/pid"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/webhook"
load=target/release/examples/load
echo "stored (commands), 64 connections:"; $load "$url" load-secret 20000 64
echo "fixed rate 1000/s:";                 $load "$url" load-secret 5000 32 1000
echo "no command (chatter), 64 conns:";    $load "$url" load-secret 40000 64 0 chatter
