#!/usr/bin/env python3
"""Generate the gate-approve benchmark repository with `git fast-import`.

1,000 registry entries and 10,000 commits that change policy.toml:
- commits 1..2000: for each entry, the developer adds the script and an unapproved entry,
  then the lead commits the approval (sha256 + approved-by) with an `Approved-by:` trailer;
- commits 2001..10000: the lead rewords the reason of some entry (not a pin change; a change
  of an entry all the same, so committed with the trailer, or it would be A012).
Every approval stays valid, so `gate-approve check` has to find the approving commit of the
oldest entry near the root: the walk covers the whole history of policy.toml.

Usage: gen.py DIR   (DIR must not exist)
"""
import hashlib
import os
import subprocess
import sys

ENTRIES = 1000
COMMITS = 10000
DEV = "Dana Developer <dev@example.com>"
LEAD = "Lee Lead <lead@example.com>"

HEADER = """# Benchmark policy: 1,000 registered emergency scripts.
version = 1

[migrations]
kind = "alembic"
path = "alembic/versions"

[emergency]
scope = ["."]

[governance]
approvers = ["lead@example.com"]
ticket = '^(INC|OPS)-[0-9]+$'
convert-within-days = 14
four-eyes = true
"""


def script(i):
    return f"# emergency fix {i}\nprint('ALTER TABLE t{i} ADD COLUMN IF NOT EXISTS c int')\n".encode()


def entry(i, approved, reason_rev):
    sha = hashlib.sha256(script(i)).hexdigest()
    lines = [
        "",
        "[[emergency.script]]",
        f'path = "emergency_fix_{i:04}.py"',
        f'sha256 = "{sha}"',
        f'reason = "incident {i}: production needed column c on t{i} (rev {reason_rev})"',
        f'ticket = "INC-{1000 + i}"',
        'author = "dev@example.com"',
    ]
    if approved:
        lines += ['approved-by = "lead@example.com"', "approved-on = 2026-01-01"]
    lines += [
        "convert-by = 2026-01-15",
        'status = "active"',
        f'rollback = "python3 emergency_fix_{i:04}.py --rollback"',
    ]
    return "\n".join(lines) + "\n"


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir)
    subprocess.run(["git", "init", "-q", "-b", "main", out_dir], check=True)
    fi = subprocess.Popen(
        ["git", "fast-import", "--quiet"], cwd=out_dir, stdin=subprocess.PIPE
    )
    w = fi.stdin.write
    state = []  # per entry: (approved, reason_rev) or None when not yet added
    t = 1_700_000_000
    mark = 0

    def commit(who, msg, files):
        nonlocal t, mark
        t += 60
        mark += 1
        w(b"commit refs/heads/main\n")
        w(f"mark :{mark}\n".encode())
        w(f"author {who} {t} +0000\ncommitter {who} {t} +0000\n".encode())
        m = msg.encode()
        w(f"data {len(m)}\n".encode() + m + b"\n")
        for path, data in files:
            w(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    def policy():
        body = HEADER + "".join(
            entry(i, s[0], s[1]) for i, s in enumerate(state) if s is not None
        )
        return body.encode()

    n = 0
    for i in range(ENTRIES):
        state.append((False, 0))
        commit(DEV, f"Register emergency_fix_{i:04}.py", [
            (f"emergency_fix_{i:04}.py", script(i)), ("policy.toml", policy())])
        state[i] = (True, 0)
        commit(LEAD, f"Approve emergency_fix_{i:04}.py\n\nReviewed.\n\nApproved-by: {LEAD}\n",
               [("policy.toml", policy())])
        n += 2
    k = 0
    while n < COMMITS:
        i = (k * 7919) % ENTRIES
        k += 1
        state[i] = (True, state[i][1] + 1)
        commit(LEAD, f"Reword the reason of emergency_fix_{i:04}.py\n\nApproved-by: {LEAD}\n",
               [("policy.toml", policy())])
        n += 1
    fi.stdin.close()
    if fi.wait() != 0:
        sys.exit("git fast-import failed")
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=out_dir, check=True)


if __name__ == "__main__":
    main()
