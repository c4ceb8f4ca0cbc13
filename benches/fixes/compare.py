#!/usr/bin/env python3
"""Time gate-replay's fix verification against one clean replay of the same chain
(docs/BENCHMARKS.md, "Fix verification and the production path").

Usage: compare.py ROUNDS DATABASE_URL NAME=BINARY... -- CASE...
  CASE is REPO:WHAT with WHAT one of clean (--no-fixes --no-roundtrip), verify (--no-roundtrip)
  or production. Each round runs every case with every binary, one after the other
  (alternating, so load on a shared machine hits all alike); prints each run as it ends and
  a table of medians with the ratio to the clean replay of the same chain and binary
  (repositories named KIND-FIXES share a chain: alembic-20 and alembic-66).
"""
import json
import os
import statistics
import subprocess
import sys
import time

ARGS = {
    "clean": ["--no-fixes", "--no-roundtrip"],
    "verify": ["--no-roundtrip"],
    "production": ["production"],
}

rounds, url = int(sys.argv[1]), sys.argv[2]
split = sys.argv.index("--")
binaries = dict(a.split("=", 1) for a in sys.argv[3:split])
cases = [c.rsplit(":", 1) for c in sys.argv[split + 1:]]
times = {}
for r in range(rounds):
    for repo, what in cases:
        for name, binary in binaries.items():
            cmd = [binary, *ARGS[what], "--backend", "url", "--database-url", url,
                   "--format", "json", "--quiet"]
            start = time.monotonic()
            done = subprocess.run(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            took = time.monotonic() - start
            if done.returncode not in (0, 1):
                sys.exit(f"{name} {what} in {repo} exited {done.returncode}: {done.stderr.decode()[-800:]}")
            times.setdefault((repo, what, name), []).append(took)
            print(f"round {r + 1} {name:8} {what:10} {repo}: {took:8.2f} s (exit {done.returncode})", flush=True)

rows = []
for (repo, what, name), ts in times.items():
    # The clean replay of the same chain: the repositories KIND-FIXES share it.
    kind = repo.rstrip("/").rsplit("/", 1)[-1].split("-")[0]
    clean = next((t for (rp, w, n), t in times.items()
                  if w == "clean" and n == name and rp.rstrip("/").rsplit("/", 1)[-1].split("-")[0] == kind), None)
    med = statistics.median(ts)
    ratio = med / statistics.median(clean) if clean else None
    rows.append({"repo": repo, "what": what, "binary": name, "runs": ts, "median": med, "ratio": ratio})
    print(f"{name:8} {what:10} {repo}: median {med:8.2f} s of {len(ts)}"
          + (f", {ratio:5.1f}x the clean replay" if ratio else ""))
if os.environ.get("GATE_BENCH_RESULTS"):
    with open(os.environ["GATE_BENCH_RESULTS"], "w") as f:
        json.dump(rows, f, indent=1)
