#!/usr/bin/env python3
"""Backend ready-time benchmark (docs/BENCHMARKS.md, section "backends").

local: `gate-replay --backend local backend-smoke --databases 0` (template copy, start,
first connection, password set, immediate stop, folder removed) against the floor of doing
it by hand with the same flags: `initdb` + `pg_ctl start -w` + `pg_ctl stop -m immediate` +
`rm -rf`. Runs alternate (floor, ours, floor, ours, ...) so that load on a shared machine
hits both alike. Also reports the in-process ready time that gate-replay prints.

docker: `gate-replay --backend docker backend-smoke --databases 0` with the image present;
reports the in-process ready time (container start to first successful connection).

    python3 benches/backend/ready.py [--runs 15] [--docker-runs 5] [--bin target/release/gate-replay]
"""
import argparse
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time


def pg_bindir():
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        d = out.stdout.strip()
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    except (OSError, subprocess.CalledProcessError):
        pass
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return dirs[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor_once(bindir, parent):
    """initdb + pg_ctl start -w + stop + rm in `parent`, as the unprivileged user when root."""
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = tempfile.mkdtemp(prefix="gate-bench-floor-", dir=parent)
    t0 = time.perf_counter()
    if run_as:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    subprocess.run(run_as + [f"{bindir}/initdb", "-D", data, "-U", "postgres",
                             "--auth-local=trust", "--auth-host=scram-sha-256",
                             "-E", "UTF8", "--locale=C", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
    opts = (f"-p {free_port()} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off")
    subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", data, "-l", f"{root}/log", "-w",
                             "-o", opts, "start"],
                   check=True, stdout=subprocess.DEVNULL, cwd=root)
    ready = time.perf_counter() - t0
    subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                   check=True, stdout=subprocess.DEVNULL, cwd=root)
    shutil.rmtree(root)
    return time.perf_counter() - t0, ready


def ours_once(binary, backend, extra=()):
    t0 = time.perf_counter()
    out = subprocess.run([binary, "--backend", backend, *extra, "backend-smoke", "--databases", "0"],
                         check=True, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "GATE_DATABASE_URL"})
    total = time.perf_counter() - t0
    return total, json.loads(out.stdout)["ready_ms"] / 1000.0


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--docker-runs", type=int, default=5)
    ap.add_argument("--bin", default="target/release/gate-replay")
    ap.add_argument("--image", default="migration-gate/postgres:15")
    args = ap.parse_args()
    bindir = pg_bindir()

    ours_once(args.bin, "local")  # warm the template cache (first run ever does initdb)
    # gate-replay puts scratch clusters on /dev/shm when it has room: the floor is measured
    # both in the temp folder (what one does by hand) and on /dev/shm (same storage as ours).
    parents = [tempfile.gettempdir()] + (["/dev/shm"] if os.path.isdir("/dev/shm") else [])
    floors = {p: ([], []) for p in parents}
    our_total, our_ready = [], []
    for _ in range(args.runs):
        for p in parents:
            t, r = floor_once(bindir, p)
            floors[p][0].append(t)
            floors[p][1].append(r)
        t, r = ours_once(args.bin, "local")
        our_total.append(t)
        our_ready.append(r)
    print(f"local, {args.runs} alternating runs, medians (s):")
    for p, (tot, rdy) in floors.items():
        print(f"  floor in {p:<9} initdb + pg_ctl start -w   ready {med(rdy):.3f}   with stop+rm {med(tot):.3f}")
    print(f"  gate-replay backend-smoke (local)          ready {med(our_ready):.3f}   whole process {med(our_total):.3f}")
    for p, (tot, rdy) in floors.items():
        print(f"  vs floor in {p:<9} ratio ready {med(our_ready) / med(rdy):.2f}x   whole {med(our_total) / med(tot):.2f}x  (target <= 1.2x)")

    if args.docker_runs:
        d_total, d_ready = [], []
        for _ in range(args.docker_runs):
            t, r = ours_once(args.bin, "docker", ("--image", args.image))
            d_total.append(t)
            d_ready.append(r)
        print(f"docker ({args.image}), {args.docker_runs} runs, medians (s):")
        print(f"  ready {med(d_ready):.3f}   whole process incl. removal {med(d_total):.3f}  (target ready <= 5 s)")


if __name__ == "__main__":
    main()
