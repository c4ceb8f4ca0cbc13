#!/usr/bin/env bash
# The floor under fix verification (docs/BENCHMARKS.md, "Fix verification", round 5): the
# generated crisis's fix commands alone, each run twice (an idempotency check cannot run a
# fix fewer times), two at a time (the machine's cores), on a database the chain was applied
# to by psql, with nothing else: no upgrade, no digest, no comparison. Any tool that verifies
# these fixes takes at least this long on this machine and server.
#   usage: benches/fixes/floor.sh [FIXES=20] [N=100] [ROUNDS=3]
#   GATE_TEST_PG_PORT / GATE_TEST_PG_DIR: the server (ci/test-postgres.sh), e.g. on tmpfs
set -euo pipefail
cd "$(dirname "$0")/../.."
FIXES="${1:-20}"
N="${2:-100}"
ROUNDS="${3:-3}"
eval "$(bash ci/test-postgres.sh)"
WORK="$(mktemp -d)"
ADMIN="$GATE_TEST_DATABASE_URL"
DB="gate_bench_floor_$$"
trap 'psql -X -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
python3 benches/fixes/gen_crisis.py "$WORK/repo" sql "$N" "$FIXES" >/dev/null
psql -X -q "$ADMIN" -c "CREATE DATABASE $DB"
export DATABASE_URL="${ADMIN%/*}/$DB"
cd "$WORK/repo"
for f in db/migrations/*.up.sql; do echo "\\i $f"; done > "$WORK/chain.sql"
TIMEFORMAT=%R
secs() { { time "$@" >/dev/null 2>&1; } 2>&1; }
echo "the chain by psql, one session: $(secs psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$WORK/chain.sql") s"
# Each fix twice: `python3 fixes/fix_NN.py` as the registry says, `sql` fixes by psql.
for f in fixes/*; do
  case "$f" in
    *.py) echo "python3 $f" ;;
    *.sql) echo "psql -X -q -v ON_ERROR_STOP=1 -d \"\$DATABASE_URL\" -f $f" ;;
  esac
done > "$WORK/once"
cat "$WORK/once" "$WORK/once" > "$WORK/twice"
echo "python3 is $(command -v python3) ($(python3 -c 'import sys; print(sys.executable)'))"
for r in $(seq "$ROUNDS"); do
  for which in all python; do
    if [ "$which" = python ]; then grep '^python3' "$WORK/twice" > "$WORK/run"; else cp "$WORK/twice" "$WORK/run"; fi
    echo "round $r: $FIXES fixes, $which commands twice, two at a time: $(secs xargs -P 2 -I{} sh -c {} < "$WORK/run") s"
  done
done
echo "load at the end: $(uptime)"
