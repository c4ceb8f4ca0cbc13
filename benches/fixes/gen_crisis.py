#!/usr/bin/env python3
"""Generate a crisis for the fix-verification benchmark (docs/BENCHMARKS.md, "Fix
verification"): an N-revision chain (Alembic or golang-migrate SQL) and F registered
emergency fixes spread evenly over `applied-after` revisions, as a git repository with a
policy.toml.

Every migration creates one table with an index. Every fix is idempotent and creates a small
table of its own plus one row (guarded: IF NOT EXISTS, ON CONFLICT DO NOTHING); even fixes are
`sql = "fixes/fix_NN.sql"`, odd ones `run = "python3 fixes/fix_NN.py"` (psycopg2 on
DATABASE_URL, exit 1 on error). The fixes are never consolidated, so each one is F004
(drift) on the production path: the checks all run, none stops early.

Usage: gen_crisis.py OUT_DIR KIND N FIXES     (KIND: alembic | sql)
"""
import os
import shutil
import subprocess
import sys

out, kind, n, nfix = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
here = os.path.dirname(os.path.abspath(__file__))
crisis = os.path.join(here, "..", "..", "examples", "crisis")

TABLE = """CREATE TABLE t{i:04d} (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  amount numeric(12,2) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX t{i:04d}_name_idx ON t{i:04d} (name);
"""

FIX_SQL = """CREATE TABLE IF NOT EXISTS fix_{j:03d} (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO fix_{j:03d} VALUES (1, 'patched') ON CONFLICT (id) DO NOTHING;
"""

FIX_PY = '''import os
import sys

import psycopg2

conn = psycopg2.connect(os.environ["DATABASE_URL"])
try:
    with conn, conn.cursor() as cur:
        cur.execute("""{sql}""")
except psycopg2.Error as e:
    print(f"ERROR: {{e}}", file=sys.stderr)
    sys.exit(1)
'''

POLICY_HEAD = {
    "alembic": '[migrations]\nkind = "alembic"\npath = "alembic/versions"\nconfig = "alembic.ini"\n',
    "sql": '[migrations]\nkind = "sql"\npath = "db/migrations"\nnaming = "golang-migrate"\n',
}


def revision_id(i):
    return f"{i:012x}" if kind == "alembic" else str(i)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def sql_chain():
    for i in range(1, n + 1):
        d = os.path.join(out, "db/migrations")
        write(os.path.join(d, f"{i:06d}_t{i:04d}.up.sql"), TABLE.format(i=i))
        write(os.path.join(d, f"{i:06d}_t{i:04d}.down.sql"), f"DROP TABLE t{i:04d};\n")


def alembic_chain():
    os.makedirs(os.path.join(out, "alembic/versions"))
    shutil.copy(os.path.join(crisis, "alembic.ini"), out)
    for f in ("env.py", "script.py.mako"):
        shutil.copy(os.path.join(crisis, "alembic", f), os.path.join(out, "alembic"))
    prev = None
    for i in range(1, n + 1):
        rev = revision_id(i)
        down = "None" if prev is None else f"'{prev}'"
        write(os.path.join(out, f"alembic/versions/{rev}_t{i:04d}.py"),
              f'"""t{i:04d}"""\nfrom alembic import op\n\nrevision = \'{rev}\'\n'
              f'down_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n'
              f'def upgrade() -> None:\n    op.execute("""{TABLE.format(i=i)}""")\n\n\n'
              f'def downgrade() -> None:\n    op.execute("DROP TABLE t{i:04d}")\n')
        prev = rev


def fixes():
    entries = []
    for j in range(nfix):
        # Spread evenly over revisions 1..n-1 (a fix after the head has no production tail).
        after = revision_id(1 + (j * (n - 1)) // max(nfix, 1))
        sql = FIX_SQL.format(j=j)
        if j % 2 == 0:
            write(os.path.join(out, f"fixes/fix_{j:03d}.sql"), sql)
            how = f'sql = "fixes/fix_{j:03d}.sql"'
        else:
            write(os.path.join(out, f"fixes/fix_{j:03d}.py"), FIX_PY.format(sql=sql))
            how = f'run = "python3 fixes/fix_{j:03d}.py"'
        entries.append(f'\n[[emergency.script]]\npath = "fixes/fix_{j:03d}"\n{how}\n'
                       f'applied-after = "{after}"\napplied-on = 2026-01-{1 + j % 28:02d}\n')
    return "".join(entries)


shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
(alembic_chain if kind == "alembic" else sql_chain)()
policy = ("version = 1\n\n" + POLICY_HEAD[kind] +
          '\n[replay]\nbackend = "url"\nroundtrip = false\nfixes = true\ntimeout-s = 3600\n' + fixes())
write(os.path.join(out, "policy.toml"), policy)
subprocess.run(["git", "init", "-q", out], check=True)
subprocess.run(["git", "-C", out, "add", "-A"], check=True)
subprocess.run(["git", "-C", out, "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                "commit", "-q", "-m", "generated crisis"], check=True)
print(f"generated {kind}: {n} revisions, {nfix} fixes in {out}")
