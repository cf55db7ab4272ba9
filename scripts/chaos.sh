#!/usr/bin/env bash
# Crash-and-fault run of the release binary against the sandboxes
# (examples/chaos.rs): RUNS runs of COMMANDS commands each, during which
# `rerunbot serve` is killed with SIGKILL KILLS times at random moments and
# started again on the same SQLite file, while the sandbox GitHub and
# Taskcluster answer random calls with 5xx (some after carrying them out).
# Each run ends by checking that every command got exactly one reply and
# its reaction, every retrigger copy was created once and every rerun sent
# once; the last line gives the totals (losses and doubles must be 0).
#   RUNS=3 COMMANDS=40 KILLS=25 SEED=... scripts/chaos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin rerunbot --example chaos
uptime
args=(target/release/rerunbot "${RUNS:-3}" "${COMMANDS:-40}" "${KILLS:-25}")
if [ -n "${SEED:-}" ]; then args+=("$SEED"); fi
target/release/examples/chaos "${args[@]}"
