#!/usr/bin/env bash
# Data seeding A/B (docs/BENCHMARKS.md, "Data seeding"): two gate-replay binaries on the same
# generated N-revision chains (Alembic and SQL, as benches/data/run.sh), plain and
# `--data --rows ROWS`, alternated run by run (which binary goes first alternates by round), so
# that a shared, noisy machine slows both alike. One untimed plain run of each binary per chain
# first (WARMUP=0 to skip). Prints each side's medians and the share --data adds.
#   usage: [WARMUP=1] benches/data/ab.sh OLD_BIN NEW_BIN [N=200] [ROUNDS=3] [ROWS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD="$(realpath "$1")"
NEW="$(realpath "$2")"
N="${3:-200}"
ROUNDS="${4:-3}"
ROWS="${5:-3}"
if [ -z "${GATE_TEST_DATABASE_URL:-}" ]; then
  eval "$(bash ci/test-postgres.sh)"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N" >/dev/null
md5sum "$OLD" "$NEW"
python3 - "$OLD" "$NEW" "$ROUNDS" "$ROWS" "$WORK" "${WARMUP:-1}" <<'PY'
import os, statistics, subprocess, sys, time
old, new, rounds, rows, work, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
url = os.environ["GATE_TEST_DATABASE_URL"]
times = {}
def run(kind, side, binary, mode, record=True):
    args = [binary, "--backend", "url", "--database-url", url, "--format", "json", "-q"]
    if mode == "data":
        args += ["--data", "--rows", rows]
    started = time.monotonic()
    done = subprocess.run(args, cwd=os.path.join(work, kind), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{kind} {side} {mode} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    if record:
        times.setdefault((kind, side, mode), []).append(took)
    print(f"  {kind} {side} {mode}: {took:.3f} s{'' if record else ' (warmup, not counted)'}", flush=True)
sides = [("old", old), ("new", new)]
for kind in ("alembic", "sql"):
    for _ in range(warmup):
        for side, binary in sides:
            run(kind, side, binary, "plain", record=False)
    for r in range(rounds):
        print(f"{kind} round {r + 1}: load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for side, binary in (sides if r % 2 == 0 else sides[::-1]):
            for mode in ("plain", "data"):
                run(kind, side, binary, mode)
print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
for kind in ("alembic", "sql"):
    for side in ("old", "new"):
        p = statistics.median(times[(kind, side, "plain")])
        d = statistics.median(times[(kind, side, "data")])
        print(f"{kind} {side}: plain {p:.3f} s, --data {d:.3f} s (median of {rounds}; min {min(times[(kind, side, 'plain')]):.3f} / {min(times[(kind, side, 'data')]):.3f}), +{(d / p - 1) * 100:.0f}%")
PY
