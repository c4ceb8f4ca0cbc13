#!/usr/bin/env bash
# Benchmark: parse + check a 1,000-revision Alembic chain with `gate-replay chain` (release
# build) against `alembic heads` on the same folder. Needs hyperfine and python3 + alembic.
#   bash benches/chain/run.sh [N]
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
N="${1:-1000}"
cd "$SRC"
cargo build --release --features replay --bin gate-replay -q
WORK="$(mktemp -d -t chain-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/chain/gen_chain.py "$WORK" "$N"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(free -h | awk '/^Mem:/{print $2}') RAM"
# Sanity: both tools agree on the head before we time them.
"$SRC/target/release/gate-replay" chain --repo "$WORK" --format json \
  | python3 -c 'import json,sys; d=[s for s in json.load(sys.stdin)["sections"] if s["title"]=="Chain"][0]["data"]; print("gate-replay:", d["count"], "revisions, heads", d["heads"])'
(cd "$WORK" && python3 -m alembic heads)
cargo run --release -q -p gate-chain --example chain_bench -- "$WORK" 30
hyperfine --warmup 3 --min-runs 10 --export-markdown "$WORK/result.md" \
  -n "gate-replay chain" "$SRC/target/release/gate-replay chain --repo $WORK" \
  -n "alembic heads" "cd $WORK && python3 -m alembic heads"
cat "$WORK/result.md"
