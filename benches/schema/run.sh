#!/bin/sh
# Snapshot of a 1,000-table schema vs `pg_dump --schema-only` on the same database.
#   benches/schema/run.sh            # uses ci/test-postgres.sh's server
# Target (issue 4): snapshot median <= 0.5x pg_dump's median. Results: docs/BENCHMARKS.md.
set -eu
cd "$(dirname "$0")/../.."
eval "$(ci/test-postgres.sh)"
ADMIN="$GATE_TEST_DATABASE_URL"
DB=gate_bench_schema
URL="${ADMIN%/*}/$DB"
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
trap 'psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1' EXIT
psql -q -v ON_ERROR_STOP=1 "$URL" -f benches/schema/schema.sql
psql -q "$URL" -c "ANALYZE"
psql -tA "$URL" -c "SELECT 'tables: ' || count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
cargo build -q --release -p gate-schema --example snapshot
SNAP=target/release/examples/snapshot
"$SNAP" "$URL" > /tmp/gate-bench-snapshot.json
"$SNAP" --one-connection "$URL" | cmp -s - /tmp/gate-bench-snapshot.json \
  || { echo "parallel and one-connection snapshots differ" >&2; exit 1; }
pg_dump --schema-only "$URL" > /tmp/gate-bench-dump.sql
echo "snapshot: $(wc -c < /tmp/gate-bench-snapshot.json) bytes; pg_dump: $(wc -c < /tmp/gate-bench-dump.sql) bytes"
hyperfine --warmup 3 --runs "${RUNS:-20}" --export-json /tmp/gate-bench-schema.json \
  -n snapshot "$SNAP '$URL' > /dev/null" \
  -n "snapshot --one-connection" "$SNAP --one-connection '$URL' > /dev/null" \
  -n "pg_dump --schema-only" "pg_dump --schema-only '$URL' > /dev/null"
python3 - <<'PY'
import json
r = {x["command"]: x for x in json.load(open("/tmp/gate-bench-schema.json"))["results"]}
s, p = r["snapshot"]["median"], r["pg_dump --schema-only"]["median"]
o = r["snapshot --one-connection"]["median"]
print(f"median snapshot {s*1000:.1f} ms, pg_dump {p*1000:.1f} ms, ratio {s/p:.3f} (target <= 0.5)")
print(f"median snapshot --one-connection {o*1000:.1f} ms, ratio {o/p:.3f}")
PY
python3 benches/schema/alternate.py "$URL" "${RUNS:-20}"
