#!/usr/bin/env bash
# Stairway A/B (docs/BENCHMARKS.md, "Stairway"): two gate-replay binaries on the same generated
# N-revision Alembic chain, alternated run by run (plain A, stairway A, plain B, stairway B, then
# again), so that a shared, noisy machine slows both alike. Prints each side's medians and ratio.
#   usage: benches/stairway/ab.sh OLD_BIN NEW_BIN [N=200] [ROUNDS=3]
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
python3 - "$OLD" "$NEW" "$ROUNDS" <<'PY'
import os, statistics, subprocess, sys, time
old, new, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = os.environ["GATE_TEST_DATABASE_URL"]
times = {}
for r in range(rounds):
    print(f"round {r + 1}: {os.getloadavg()[0]:.2f} load", flush=True)
    for side, binary in (("old", old), ("new", new)):
        for mode in ("plain", "stairway"):
            args = [binary, "--backend", "url", "--database-url", url, "--format", "json", "-q"]
            if mode == "stairway":
                args.append("--stairway")
            started = time.monotonic()
            run = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            took = time.monotonic() - started
            if run.returncode != 0:
                sys.exit(f"{side} {mode} exited {run.returncode}: {run.stderr.decode()[-2000:]}")
            times.setdefault((side, mode), []).append(took)
            print(f"  {side} {mode}: {took:.3f} s", flush=True)
for side in ("old", "new"):
    p = statistics.median(times[(side, "plain")])
    s = statistics.median(times[(side, "stairway")])
    print(f"{side}: plain {p:.3f} s, stairway {s:.3f} s (median of {rounds}), ratio {s / p:.2f}x")
PY
