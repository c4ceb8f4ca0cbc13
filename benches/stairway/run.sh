#!/usr/bin/env bash
# Stairway benchmark (docs/BENCHMARKS.md, "Stairway"): gate-replay --stairway over a generated
# N-revision Alembic chain (default 200) against one plain replay of the same chain, on the
# test server of ci/test-postgres.sh, median of ROUNDS runs (default 3), the two commands
# alternated run by run (benches/alternate.py), one untimed run of each first (WARMUP=0 to skip).
#   usage: [WARMUP=1] benches/stairway/run.sh [N=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
N="${1:-200}"
ROUNDS="${2:-3}"
if [ -z "${GATE_TEST_DATABASE_URL:-}" ]; then
  eval "$(bash ci/test-postgres.sh)"
fi
cargo build --release -q -p migration-gate --features replay --bin gate-replay
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/gate-replay"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N" >/dev/null
cd "$WORK/alembic"
# Both sides: the whole gate-replay process (server connection, upgrade from empty, head
# check, snapshot); the round trip and the fixes are off in the generated policy.
BASE="$BIN --backend url --database-url $GATE_TEST_DATABASE_URL --format json"
python3 "$ROOT/benches/alternate.py" "$ROUNDS" "${WARMUP:-1}" \
  "plain=$BASE -q" "stairway=$BASE -q --stairway" | tee "$WORK/times.txt"
python3 - "$WORK/times.txt" <<'PY'
import sys
m = {l.split()[1]: float(l.split()[2]) for l in open(sys.argv[1]) if l.startswith("median ")}
print(f"plain {m['plain']:.3f} s, stairway {m['stairway']:.3f} s (medians), ratio {m['stairway'] / m['plain']:.2f}x")
PY
