#!/usr/bin/env bash
# Stairway A/B (docs/BENCHMARKS.md, "Stairway"): two gate-replay binaries on the same generated
# N-revision Alembic chain, alternated run by run (plain and stairway of one binary, then of the
# other; which binary goes first alternates by round), so that a shared, noisy machine slows
# both alike. One untimed plain run of each binary first (WARMUP=0 to skip): the first run
# after the chain is generated reads it and the server's catalogs cold. Prints each side's
# medians and ratio, and the load average per round.
#   usage: [WARMUP=1] benches/stairway/ab.sh OLD_BIN NEW_BIN [N=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD="$(realpath "$1")"
NEW="$(realpath "$2")"
N="${3:-200}"
ROUNDS="${4:-3}"
if [ -z "${GATE_TEST_DATABASE_URL:-}" ]; then
  eval "$(bash ci/test-postgres.sh)"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 benches/replay/gen_chains.py "$WORK" "$N" >/dev/null
cd "$WORK/alembic"
md5sum "$OLD" "$NEW"
python3 - "$OLD" "$NEW" "$ROUNDS" "${WARMUP:-1}" <<'PY'
import os, statistics, subprocess, sys, time
old, new, rounds, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
url = os.environ["GATE_TEST_DATABASE_URL"]
times = {}
def run(side, binary, mode, record=True):
    args = [binary, "--backend", "url", "--database-url", url, "--format", "json", "-q"]
    if mode == "stairway":
        args.append("--stairway")
    started = time.monotonic()
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{side} {mode} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    if record:
        times.setdefault((side, mode), []).append(took)
    print(f"  {side} {mode}: {took:.3f} s{'' if record else ' (warmup, not counted)'}", flush=True)
sides = [("old", old), ("new", new)]
for _ in range(warmup):
    for side, binary in sides:
        run(side, binary, "plain", record=False)
for r in range(rounds):
    print(f"round {r + 1}: load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for side, binary in (sides if r % 2 == 0 else sides[::-1]):
        for mode in ("plain", "stairway"):
            run(side, binary, mode)
print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
for side in ("old", "new"):
    p = statistics.median(times[(side, "plain")])
    s = statistics.median(times[(side, "stairway")])
    print(f"{side}: plain {p:.3f} s, stairway {s:.3f} s (median of {rounds}; min {min(times[(side, 'plain')]):.3f} / {min(times[(side, 'stairway')]):.3f}), ratio {s / p:.2f}x")
PY
