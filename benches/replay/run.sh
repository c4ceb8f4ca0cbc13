#!/usr/bin/env bash
# Runner benchmarks of gate-replay (docs/BENCHMARKS.md, "replay runners"), on the test server
# of ci/test-postgres.sh:
#  1. sql runner, 200 golang-migrate migrations: gate-replay's upgrade phase vs
#     `psql -1 -f` per file on a fresh database of the same server;
#  2. alembic runner, 200 revisions: gate-replay's upgrade phase (one alembic process through
#     the timing wrapper) vs a bare `python3 -m alembic upgrade head`.
# The upgrade phase is the "total_ms" gate-replay reports in its timing section: from before
# the runner starts until the last revision is committed (database creation and snapshot
# excluded on both sides). hyperfine also times the whole gate-replay run for context.
#   usage: benches/replay/run.sh [N=200] [RUNS=10]
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"
RUNS="${2:-10}"
eval "$(bash ci/test-postgres.sh)"
URL="$GATE_TEST_DATABASE_URL"
BASE="${URL%/*}"
cargo build --release -q -p migration-gate --bin gate-replay
BIN="$PWD/target/release/gate-replay"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; psql -X -q -d "$URL" -c "DROP DATABASE IF EXISTS gate_bench" >/dev/null 2>&1 || true' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N"

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

gate_upgrade_ms() { # repo -> median total_ms of the upgrade phase over RUNS runs
  for _ in $(seq "$RUNS"); do
    (cd "$1" && "$BIN" --backend url --database-url "$URL" --format json 2>/dev/null) |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["sections"][0]["data"]["total_ms"])'
  done | median
}

fresh() { psql -X -q -d "$URL" -c "DROP DATABASE IF EXISTS gate_bench" -c "CREATE DATABASE gate_bench" >/dev/null; }

echo "== sql runner, $N migrations"
echo "gate-replay upgrade phase, median of $RUNS: $(gate_upgrade_ms "$WORK/sql") ms"
cat > "$WORK/psql_each.sh" <<SH
for f in "$WORK"/sql/db/migrations/*.up.sql; do psql -X -q -1 -v ON_ERROR_STOP=1 -d "$BASE/gate_bench" -f "\$f" >/dev/null; done
SH
hyperfine -N --runs "$RUNS" --prepare "bash -c '$(declare -f fresh); URL=$URL fresh'" \
  "bash $WORK/psql_each.sh" --export-json "$WORK/psql.json" >/dev/null
echo "psql -1 -f per file, median of $RUNS: $(python3 -c "import json; print(round(json.load(open('$WORK/psql.json'))['results'][0]['median']*1000))") ms"

echo "== alembic runner, $N revisions"
echo "gate-replay upgrade phase, median of $RUNS: $(gate_upgrade_ms "$WORK/alembic") ms"
hyperfine -N --runs "$RUNS" --prepare "bash -c '$(declare -f fresh); URL=$URL fresh'" \
  "bash -c 'cd $WORK/alembic && DATABASE_URL=$BASE/gate_bench python3 -m alembic upgrade head 2>/dev/null'" \
  --export-json "$WORK/alembic.json" >/dev/null
echo "bare alembic upgrade head, median of $RUNS: $(python3 -c "import json; print(round(json.load(open('$WORK/alembic.json'))['results'][0]['median']*1000))") ms"

echo "== whole gate-replay runs (create database, upgrade, snapshot, drop), for context"
hyperfine -N --runs "$RUNS" \
  "bash -c 'cd $WORK/sql && $BIN --backend url --database-url $URL --format json >/dev/null 2>&1'" \
  "bash -c 'cd $WORK/alembic && $BIN --backend url --database-url $URL --format json >/dev/null 2>&1'" \
  --export-json "$WORK/whole.json" >/dev/null
python3 -c "
import json
for r in json.load(open('$WORK/whole.json'))['results']:
    print(('sql    ' if '/sql ' in r['command'] else 'alembic'), 'whole run median', round(r['median']*1000), 'ms')"
