#!/usr/bin/env python3
"""Times shell commands alternated run by run (a, b, a, b, ...), not one block per command as
hyperfine does: on a shared machine a load that comes or goes between two blocks moves the
ratio of the two commands (docs/BENCHMARKS.md, "Stairway" round 5). Untimed warmup runs of each
first. Prints each run with the load average, then per command the median and minimum.

    usage: alternate.py ROUNDS WARMUP NAME=COMMAND [NAME=COMMAND ...]
    output (last lines): "median NAME SECONDS min SECONDS"
"""
import os
import statistics
import subprocess
import sys
import time


def main():
    rounds, warmup = int(sys.argv[1]), int(sys.argv[2])
    commands = [arg.split("=", 1) for arg in sys.argv[3:]]
    times = {name: [] for name, _ in commands}

    def run(name, command, record):
        started = time.monotonic()
        done = subprocess.run(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        took = time.monotonic() - started
        if done.returncode not in (0, 1):
            sys.exit(f"{name} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        if record:
            times[name].append(took)
        note = "" if record else " (warmup, not counted)"
        print(f"  {name}: {took:.3f} s{note}", flush=True)

    for _ in range(warmup):
        for name, command in commands:
            run(name, command, False)
    for r in range(rounds):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"round {r + 1}: load {load}", flush=True)
        # Which command goes first alternates by round as well.
        for name, command in commands if r % 2 == 0 else commands[::-1]:
            run(name, command, True)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, _ in commands:
        print(f"median {name} {statistics.median(times[name]):.3f} min {min(times[name]):.3f}")


if __name__ == "__main__":
    main()
