#!/usr/bin/env python3
"""Generate the benchmark chains: N golang-migrate SQL migrations and N Alembic revisions,
each creating one table with an index, as git repositories with a policy.toml.

Usage: gen_chains.py OUT_DIR [N]   (default N = 200)
"""
import os
import shutil
import subprocess
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
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


def git_init(path):
    subprocess.run(["git", "init", "-q", path], check=True)


# SQL (golang-migrate)
sql = os.path.join(out, "sql")
shutil.rmtree(sql, ignore_errors=True)
os.makedirs(os.path.join(sql, "db/migrations"))
with open(os.path.join(sql, "policy.toml"), "w") as f:
    f.write('version = 1\n\n[migrations]\nkind = "sql"\npath = "db/migrations"\nnaming = "golang-migrate"\n\n'
            '[replay]\nbackend = "url"\nroundtrip = false\nfixes = false\n')
for i in range(1, n + 1):
    with open(os.path.join(sql, f"db/migrations/{i:06d}_t{i:04d}.up.sql"), "w") as f:
        f.write(TABLE.format(i=i))
    with open(os.path.join(sql, f"db/migrations/{i:06d}_t{i:04d}.down.sql"), "w") as f:
        f.write(f"DROP TABLE t{i:04d};\n")
git_init(sql)

# Alembic
al = os.path.join(out, "alembic")
shutil.rmtree(al, ignore_errors=True)
os.makedirs(os.path.join(al, "alembic/versions"))
shutil.copy(os.path.join(crisis, "alembic.ini"), al)
shutil.copy(os.path.join(crisis, "alembic/env.py"), os.path.join(al, "alembic"))
shutil.copy(os.path.join(crisis, "alembic/script.py.mako"), os.path.join(al, "alembic"))
with open(os.path.join(al, "policy.toml"), "w") as f:
    f.write('version = 1\n\n[migrations]\nkind = "alembic"\npath = "alembic/versions"\nconfig = "alembic.ini"\n\n'
            '[replay]\nbackend = "url"\nroundtrip = false\nfixes = false\n')
prev = None
for i in range(1, n + 1):
    rev = f"{i:012x}"
    down = "None" if prev is None else f"'{prev}'"
    body = TABLE.format(i=i).replace('"', '\\"')
    with open(os.path.join(al, f"alembic/versions/{rev}_t{i:04d}.py"), "w") as f:
        f.write(f'"""t{i:04d}"""\nfrom alembic import op\n\nrevision = \'{rev}\'\ndown_revision = {down}\n'
                f'branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n'
                f'    op.execute("""{body}""")\n\n\ndef downgrade() -> None:\n    op.execute("DROP TABLE t{i:04d}")\n')
    prev = rev
git_init(al)
print(f"generated {n} migrations in {sql} and {al}")
