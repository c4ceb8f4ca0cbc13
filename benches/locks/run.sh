#!/usr/bin/env bash
# Observation cost (docs/BENCHMARKS.md, "Lock observation"): gate-replay --data against one
# plain replay of the same generated N-revision chain (default 200; Alembic and SQL), on the
# test server of ci/test-postgres.sh, with hyperfine (median of ROUNDS runs, default 3).
#   usage: benches/locks/run.sh [N=200] [ROUNDS=3]
#   BIN=path/to/gate-replay to skip the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"
ROUNDS="${2:-3}"
if [ -z "${GATE_TEST_DATABASE_URL:-}" ]; then
  eval "$(bash ci/test-postgres.sh)"
fi
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p migration-gate --features replay --bin gate-replay
  BIN="$PWD/target/release/gate-replay"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N" >/dev/null
for kind in alembic sql; do
  cd "$WORK/$kind"
  BASE="$BIN --backend url --database-url $GATE_TEST_DATABASE_URL --format json -q"
  hyperfine --runs "$ROUNDS" --export-json "$WORK/$kind.json" -i \
    -n plain "$BASE" -n data "$BASE --data" >/dev/null
  python3 - "$WORK/$kind.json" "$kind" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, d = statistics.median(r["plain"]["times"]), statistics.median(r["data"]["times"])
print(f"{sys.argv[2]}: plain {p:.3f} s, --data {d:.3f} s (median of {len(r['plain']['times'])}), +{(d / p - 1) * 100:.0f}%")
PY
done
uptime
