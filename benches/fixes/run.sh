#!/usr/bin/env bash
# Fix verification and the production path against one clean replay (docs/BENCHMARKS.md,
# "Fix verification and the production path"): generated N-revision chains (Alembic and SQL)
# with 20 and 66 registered fixes, on the test server of ci/test-postgres.sh.
#   usage: benches/fixes/run.sh [ROUNDS=3] [N=100]
#   GATE_BENCH_BIN=path       the gate-replay to time (default: a release build of this tree)
#   GATE_BENCH_BASE=path      also time this one (e.g. the binary before a change), alternating
#   GATE_BENCH_CASES="..."    which cases (default: all), e.g. "sql-20:clean sql-20:verify"
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${1:-3}"
N="${2:-100}"
eval "$(bash ci/test-postgres.sh)"
BIN="${GATE_BENCH_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release -q -p migration-gate --features replay --bin gate-replay
  BIN="$PWD/target/release/gate-replay"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for kind in alembic sql; do
  for fixes in 20 66; do
    python3 benches/fixes/gen_crisis.py "$WORK/$kind-$fixes" "$kind" "$N" "$fixes"
  done
done
CASES="${GATE_BENCH_CASES:-alembic-20:clean alembic-20:verify alembic-66:verify alembic-20:production sql-20:clean sql-20:verify sql-66:verify sql-20:production}"
BINS=("after=$BIN")
if [ -n "${GATE_BENCH_BASE:-}" ]; then BINS=("before=$GATE_BENCH_BASE" "${BINS[@]}"); fi
echo "machine: $(nproc) cores, $(uname -sr); load: $(uptime)"
cd "$WORK"
python3 "$OLDPWD/benches/fixes/compare.py" "$ROUNDS" "$GATE_TEST_DATABASE_URL" "${BINS[@]}" -- \
  $(for c in $CASES; do echo "$WORK/$c"; done)
echo "load at the end: $(uptime)"
