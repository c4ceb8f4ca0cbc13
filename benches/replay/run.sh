#!/usr/bin/env bash
# Runner benchmarks of gate-replay (docs/BENCHMARKS.md, "Replay runners"), on the test server
# of ci/test-postgres.sh, with a generated chain of N migrations (default 200) for each runner.
#   usage: benches/replay/run.sh [N=200] [ROUNDS=10]
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"
ROUNDS="${2:-10}"
eval "$(bash ci/test-postgres.sh)"
cargo build --release -q -p migration-gate --features replay --bin gate-replay
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N"
python3 benches/replay/compare.py "$PWD/target/release/gate-replay" "$WORK" "$GATE_TEST_DATABASE_URL" "$ROUNDS"
