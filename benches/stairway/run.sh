#!/usr/bin/env bash
# Stairway benchmark (docs/BENCHMARKS.md, "Stairway"): gate-replay --stairway over a generated
# N-revision Alembic chain (default 200) against one plain replay of the same chain, on the
# test server of ci/test-postgres.sh, with hyperfine (median of ROUNDS runs, default 3).
# One untimed run of each command first (hyperfine --warmup; WARMUP=0 to skip): the first run
# after the chain is generated reads it and the server's catalogs cold.
#   usage: [WARMUP=1] benches/stairway/run.sh [N=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"
ROUNDS="${2:-3}"
if [ -z "${GATE_TEST_DATABASE_URL:-}" ]; then
  eval "$(bash ci/test-postgres.sh)"
fi
cargo build --release -q -p migration-gate --features replay --bin gate-replay
BIN="$PWD/target/release/gate-replay"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N" >/dev/null
cd "$WORK/alembic"
# Both sides: the whole gate-replay process (server connection, upgrade from empty, head
# check, snapshot); the round trip and the fixes are off in the generated policy.
BASE="$BIN --backend url --database-url $GATE_TEST_DATABASE_URL --format json"
hyperfine --warmup "${WARMUP:-1}" --runs "$ROUNDS" --export-json "$WORK/stairway.json" \
  -i -n plain "$BASE -q" \
  -n stairway "$BASE -q --stairway"
python3 - "$WORK/stairway.json" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, s = statistics.median(r["plain"]["times"]), statistics.median(r["stairway"]["times"])
print(f"plain {p:.3f} s, stairway {s:.3f} s (median of {len(r['plain']['times'])}), ratio {s / p:.2f}x")
PY
