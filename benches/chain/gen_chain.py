#!/usr/bin/env python3
"""Generate an Alembic project with a long revision chain (with merges) in a git repository.

    python3 benches/chain/gen_chain.py OUT_DIR [N=1000] [MERGE_EVERY=25]

Every MERGE_EVERY revisions the chain forks into two short branches that a merge revision
joins again, so the graph has branch points and merge points like long-lived real chains.
Files are written the way Alembic's default script.py.mako writes them.
"""
import os
import random
import subprocess
import sys

TEMPLATE = '''"""{msg}

Revision ID: {rev}
Revises: {revises}
Create Date: 2024-01-01 00:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = {rev!r}
down_revision: Union[str, Sequence[str], None] = {down}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("t{n}", sa.Column("c{n}", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("t{n}", "c{n}")
'''


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    merge_every = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    rng = random.Random(1000)
    versions = os.path.join(out, "alembic", "versions")
    os.makedirs(versions, exist_ok=True)
    with open(os.path.join(out, "alembic.ini"), "w") as f:
        f.write("[alembic]\nscript_location = alembic\n")
    with open(os.path.join(out, "policy.toml"), "w") as f:
        f.write('version = 1\n\n[migrations]\nkind = "alembic"\npath = "alembic/versions"\nmax-heads = 1\n')

    count = 0
    used = set()

    def new_id():
        while True:
            r = "%012x" % rng.getrandbits(48)
            if r not in used:
                used.add(r)
                return r

    def write(parents, msg):
        nonlocal count
        rev = new_id()
        down = "None" if not parents else (repr(parents[0]) if len(parents) == 1 else repr(tuple(parents)))
        text = TEMPLATE.format(msg=msg, rev=rev, revises=", ".join(parents), down=down, n=count)
        with open(os.path.join(versions, "%s_%s.py" % (rev, msg.replace(" ", "_"))), "w") as f:
            f.write(text)
        count += 1
        return rev

    head = write([], "base")
    merges = 0
    while count < n:
        if count % merge_every == 0 and count + 5 <= n:
            a = write([head], "branch a")
            b = write([head], "branch b")
            a = write([a], "branch a more")
            head = write([a, b], "merge heads")
            merges += 1
        else:
            head = write([head], "step")
    subprocess.run(["git", "init", "-q", out], check=True)
    print("%d revisions, %d merges, head %s in %s" % (count, merges, head, out))


if __name__ == "__main__":
    main()
