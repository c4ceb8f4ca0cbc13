#!/usr/bin/env python3
"""Interleaved runner benchmarks (the machine is shared, so each round runs every contender
back to back and ratios are taken per round; medians over rounds are reported).

  sql:     gate-replay's upgrade phase (sql runner, in-process)  vs  `psql -1 -f FILE` per file
  alembic: gate-replay's upgrade phase (one alembic process)     vs  `python3 -m alembic upgrade head`

gate-replay's upgrade phase is `total_ms` of its timing section: from the runner's start until
the last revision is committed; the contenders likewise start on an empty, existing database.

Usage: compare.py BIN WORK_DIR SERVER_URL ROUNDS
"""
import glob
import json
import os
import statistics
import subprocess
import sys
import time

bin_, work, url, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = url.rsplit("/", 1)[0]
bench = base + "/gate_bench"


def psql(sql):
    subprocess.run(["psql", "-X", "-q", "-d", url, "-c", sql], check=True, capture_output=True)


def fresh():
    psql("DROP DATABASE IF EXISTS gate_bench")
    psql("CREATE DATABASE gate_bench")


def gate(repo):
    out = subprocess.run(
        [bin_, "--backend", "url", "--database-url", url, "--format", "json"],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["sections"][0]["data"]["total_ms"] / 1000.0


def psql_each(repo):
    fresh()
    files = sorted(glob.glob(os.path.join(repo, "db/migrations/*.up.sql")))
    t = time.perf_counter()
    for f in files:
        subprocess.run(["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", bench, "-f", f],
                       check=True, capture_output=True)
    return time.perf_counter() - t


def bare_alembic(repo):
    fresh()
    env = dict(os.environ, DATABASE_URL=bench)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=repo, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - t


res = {k: [] for k in ("gate_sql", "psql", "gate_alembic", "alembic")}
for i in range(rounds):
    res["gate_sql"].append(gate(os.path.join(work, "sql")))
    res["psql"].append(psql_each(os.path.join(work, "sql")))
    res["gate_alembic"].append(gate(os.path.join(work, "alembic")))
    res["alembic"].append(bare_alembic(os.path.join(work, "alembic")))
    print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]*1000:.0f} ms" for k, v in res.items()), flush=True)
psql("DROP DATABASE IF EXISTS gate_bench")

med = {k: statistics.median(v) * 1000 for k, v in res.items()}
sql_ratio = statistics.median(a / b for a, b in zip(res["gate_sql"], res["psql"]))
al_ratio = statistics.median(a / b for a, b in zip(res["gate_alembic"], res["alembic"]))
print(f"sql runner     median {med['gate_sql']:.0f} ms | psql -1 -f per file median {med['psql']:.0f} ms | median ratio {sql_ratio:.2f}x")
print(f"alembic runner median {med['gate_alembic']:.0f} ms | bare alembic upgrade head median {med['alembic']:.0f} ms | median ratio {al_ratio:.2f}x")
