#!/usr/bin/env bash
# Data seeding benchmark (docs/BENCHMARKS.md, "Data seeding"): gate-replay --data (the seeded
# pass, R009) against one plain replay of the same generated N-revision chain (default 200,
# each revision one table with a primary key, NOT NULL columns, defaults and an index), Alembic
# and SQL, on the test server of ci/test-postgres.sh, median of ROUNDS runs (default 3), the
# two commands alternated run by run (benches/alternate.py), one untimed run of each first
# (WARMUP=0 to skip).
#   usage: [PROFILE=release|debug] [WARMUP=1] benches/data/run.sh [N=200] [ROUNDS=3] [ROWS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
N="${1:-200}"
ROUNDS="${2:-3}"
ROWS="${3:-3}"
if [ -z "${GATE_TEST_DATABASE_URL:-}" ]; then
  eval "$(bash ci/test-postgres.sh)"
fi
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --release -q -p migration-gate --features replay --bin gate-replay
else
  cargo build -q -p migration-gate --features replay --bin gate-replay
fi
BIN="$TARGET/$PROFILE/gate-replay"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N" >/dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in alembic sql; do
  cd "$WORK/$kind"
  # Both sides: the whole gate-replay process (server connection, upgrade from empty, head
  # check, snapshot); round trip and fixes are off in the generated policy. --data adds the
  # seeded pass: a second replay, one revision at a time, tables topped up before each.
  BASE="$BIN --backend url --database-url $GATE_TEST_DATABASE_URL --format json -q"
  python3 "$ROOT/benches/alternate.py" "$ROUNDS" "${WARMUP:-1}" \
    "plain=$BASE" "data=$BASE --data --rows $ROWS" | tee "$WORK/$kind.txt"
  python3 - "$WORK/$kind.txt" "$kind" <<'PY'
import sys
m = {l.split()[1]: float(l.split()[2]) for l in open(sys.argv[1]) if l.startswith("median ")}
print(f"{sys.argv[2]}: plain {m['plain']:.3f} s, --data {m['data']:.3f} s (medians), +{(m['data'] / m['plain'] - 1) * 100:.0f}%")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
