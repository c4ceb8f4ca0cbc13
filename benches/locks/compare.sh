#!/usr/bin/env bash
# Side by side: squawk (reads the SQL of `alembic upgrade --sql`) and gate-replay --data
# (observes the replay) on benches/locks/chain, with what PostgreSQL itself does per case
# (relfilenode of the case's table before and after plain `alembic upgrade`, row count).
# Prints the Markdown table of docs/SAFETY.md.
#
#   GATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:54329/postgres \
#     bash benches/locks/compare.sh > /tmp/safety-table.md
#
# Needs: psql, python3 with alembic + psycopg2, squawk (`pip install squawk-cli`), and a built
# gate-replay (GATE_REPLAY, default target/debug/gate-replay; `cargo build --all-features`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server=${GATE_TEST_DATABASE_URL:?set GATE_TEST_DATABASE_URL to a PostgreSQL server (postgres database)}
gate=${GATE_REPLAY:-${CARGO_TARGET_DIR:-$root/target}/debug/gate-replay}
command -v squawk >/dev/null || { echo "squawk not found: pip install squawk-cli" >&2; exit 2; }
[ -x "$gate" ] || { echo "$gate not built: cargo build --all-features" >&2; exit 2; }

work=$(mktemp -d)
db="gate_locks_compare_$$"
trap 'psql -X -q -d "$server" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$work"' EXIT
cp -r "$here/chain/." "$work/"
git -C "$work" init -q .
dburl="${server%/*}/$db"
psql -X -q -d "$server" -c "CREATE DATABASE $db" >/dev/null
alembic() { (cd "$work" && DATABASE_URL="${dburl/postgres:\/\//postgresql://}" python3 -m alembic -c alembic.ini "$@" 2>/dev/null); }
q() { psql -X -q -t -A -d "$dburl" -c "$1"; }

# gate-replay over the whole chain, twice: with the seeded pass's generated rows (3 per
# table, the default) and with only the rows the chain itself writes (--rows 0). L codes per
# migration file.
for rows in 3 0; do
  "$gate" --backend url --database-url "$server" --data --rows "$rows" --no-fixes --no-roundtrip \
    --format json --repo "$work" > "$work/gate-$rows.json" 2>/dev/null || true
  python3 - "$work/gate-$rows.json" > "$work/gate-$rows.tsv" <<'PY'
import json, sys, collections
d = json.load(open(sys.argv[1]))
codes = collections.defaultdict(list)
for f in d["findings"]:
    if f["code"].startswith("L"):
        codes[f["path"].rsplit("/", 1)[-1].split("_")[0]].append(f["code"])
for k, v in codes.items():
    print(k + "\t" + ", ".join(sorted(set(v))))
PY
done

echo "| case | PostgreSQL: relfilenode before/after (psql) | squawk $(squawk --version | cut -d' ' -f2) | gate-replay --data | gate-replay --data --rows 0 |"
echo "|---|---|---|---|---|"
prev=""
for f in $(cd "$work/alembic/versions" && ls c*_case.py | sort); do
  rev=${f%%_*}
  desc=$(head -1 "$work/alembic/versions/$f" | sed 's/^"""//; s/"""$//')
  table=$( (grep -oE '(ALTER TABLE|ON) [a-z_]+' "$work/alembic/versions/$f" || true) | head -1 | awk '{print $NF}')
  if [ -z "$prev" ]; then
    alembic upgrade "$rev"; prev=$rev; continue
  fi
  before=$(q "SELECT relfilenode FROM pg_class WHERE relname = '$table'")
  alembic upgrade "$prev:$rev" --sql > "$work/$rev.sql"
  alembic upgrade "$rev"
  after=$(q "SELECT relfilenode FROM pg_class WHERE relname = '$table'")
  rows=$(q "SELECT count(*) FROM $table")
  if [ "$before" != "$after" ]; then pg="rewrite of $table ($rows rows)"; else pg="no rewrite ($table: $rows rows)"; fi
  # require-lock-timeout / require-statement-timeout fire on every DDL statement: left out.
  sq=$( (squawk --pg-version 15 --reporter gcc "$work/$rev.sql" || true) \
        | grep -oE 'warning: [a-z-]+|error: [a-z-]+' | awk '{print $2}' \
        | { grep -vE '^require-(lock|statement)-timeout$' || true; } | sort -u | paste -sd, - | sed 's/,/, /g')
  lg=$(awk -F'\t' -v r="$rev" '$1 == r {print $2}' "$work/gate-3.tsv")
  l0=$(awk -F'\t' -v r="$rev" '$1 == r {print $2}' "$work/gate-0.tsv")
  echo "| $rev $desc | $pg | ${sq:--} | ${lg:--} | ${l0:--} |"
  prev=$rev
done
