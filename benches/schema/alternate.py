#!/usr/bin/env python3
"""Alternate snapshot and pg_dump runs so that load changes on a shared machine hit both alike.

    python3 benches/schema/alternate.py URL [RUNS]

Prints the median wall time of each command and their ratio. hyperfine (benches/schema/run.sh)
runs all of one command, then all of the other; on a busy machine that skews the ratio.
"""
import statistics
import subprocess
import sys
import time

url = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
commands = {
    "snapshot": ["target/release/examples/snapshot", url],
    "snapshot --one-connection": ["target/release/examples/snapshot", "--one-connection", url],
    "pg_dump --schema-only": ["pg_dump", "--schema-only", url],
}
times = {name: [] for name in commands}
for name, cmd in commands.items():  # warm-up: page cache, binaries
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
for _ in range(runs):
    for name, cmd in commands.items():
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times[name].append(time.perf_counter() - start)
med = {name: statistics.median(t) for name, t in times.items()}
dump = med["pg_dump --schema-only"]
for name, m in med.items():
    print(f"{name:28} median {m * 1000:7.1f} ms  ratio to pg_dump {m / dump:.3f}  ({runs} runs, alternating)")
