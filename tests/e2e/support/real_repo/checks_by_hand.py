"""What gate-replay's stairway, seeded pass and lock observation claim about the generated
repository's (linear) chain, checked by hand: plain Alembic through its Python API (one
command after another, each reading env.py afresh as the CLI does), pg_dump and the catalog.
Run in the repository with the application's variables set; prints one JSON list (one entry
per revision) on its last line of stdout.

  checks_by_hand.py stairway REV...
      per revision: upgrade to it, `downgrade -1`, upgrade again; pg_dump --schema-only says
      whether the downgrade restored the schema before the revision and the second upgrade
      built the same schema as the first.
  checks_by_hand.py seeded REV...
      per revision, on tables holding the rows written below (each table filled once it
      exists): whether the upgrade passes, the indexes it builds on tables with rows, the
      tables with rows it rewrites (relfilenode), the constraints and NOT NULLs it validates
      on them, and per statement the table locks its transaction holds right after it.
"""
import json
import os
import subprocess
import sys

import psycopg2
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

MODE, REVS = sys.argv[1], sys.argv[2:]
# DATABASE_URL as the application reads it (it may name a SQLAlchemy driver); libpq's form.
LIBPQ = "postgresql://" + os.environ["DATABASE_URL"].split("://", 1)[1]
CFG = Config("alembic.ini")


def dump():
    out = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--no-comments",
         "--exclude-table=alembic_version", "-d", LIBPQ],
        check=True, capture_output=True, text=True,
    ).stdout
    # pg_dump's per-run \restrict key, comments and session settings differ between dumps.
    skip = ("--", "\\restrict", "\\unrestrict", "SET ", "SELECT pg_catalog.set_config(")
    return "\n".join(l for l in out.splitlines() if l and not l.startswith(skip))


def stairway():
    steps = []
    before = dump()
    for rev in REVS:
        step = {"revision": rev}
        steps.append(step)
        try:
            command.upgrade(CFG, rev)
            up = dump()
            command.downgrade(CFG, "-1")
            step["down_restores"] = dump() == before
            command.upgrade(CFG, rev)
            step["again_equal"] = dump() == up
        except Exception as e:  # what Alembic raised, for the assertion message
            step["error"] = f"{type(e).__name__}: {e}"
            break
        before = up
    return steps


# Three rows per table, written the way production data looks: repeated values in non-unique
# columns, NULLs where a column allows them, references to existing rows.
ROWS = {
    "organisations": "INSERT INTO organisations (name) VALUES ('Acme'), ('Globex'), ('Initech')",
    "users": "INSERT INTO users (email, role, organisation_id) VALUES "
    "('ann@example.com', 'user', (SELECT min(id) FROM organisations)), "
    "('bob@example.com', 'admin', (SELECT min(id) FROM organisations)), "
    "('cy@example.com', 'user', NULL)",
    "feature_flags": "INSERT INTO feature_flags (name, enabled) VALUES "
    "('beta', true), ('beta', false), ('dark_mode', false)",
    "audit_log": "INSERT INTO audit_log (user_id, action) VALUES "
    "((SELECT min(id) FROM users), 'login'), ((SELECT min(id) FROM users), 'login'), "
    "(NULL, 'cron')",
    "api_keys": "INSERT INTO api_keys (organisation_id, key_hash) VALUES "
    "((SELECT min(id) FROM organisations), 'h1'), ((SELECT min(id) FROM organisations), 'h2'), "
    "(NULL, 'h3')",
}

PUBLIC_TABLE = "c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
CATALOG = {
    "tables": f"SELECT c.relname, c.relfilenode FROM pg_class c "
    f"WHERE {PUBLIC_TABLE} AND c.relname <> 'alembic_version'",
    "indexes": "SELECT i.indexrelid::regclass::text, c.relname FROM pg_index i "
    f"JOIN pg_class c ON c.oid = i.indrelid WHERE {PUBLIC_TABLE}",
    "constraints": "SELECT con.conname, c.relname FROM pg_constraint con "
    f"JOIN pg_class c ON c.oid = con.conrelid WHERE {PUBLIC_TABLE} "
    "AND con.convalidated AND con.contype IN ('c', 'f')",
    "columns": "SELECT c.relname, a.attname, a.attnotnull FROM pg_attribute a "
    f"JOIN pg_class c ON c.oid = a.attrelid WHERE {PUBLIC_TABLE} "
    "AND a.attnum > 0 AND NOT a.attisdropped",
}


def catalog(cur):
    state = {}
    for key, query in CATALOG.items():
        cur.execute(query)
        state[key] = sorted(tuple(r) for r in cur.fetchall())
    state["rows"] = {}
    for name, _ in state["tables"]:
        cur.execute(f'SELECT count(*) FROM "{name}"')
        state["rows"][name] = cur.fetchone()[0]
    return state


STATEMENTS = []


def held(conn, cursor, statement, parameters, context, executemany):
    """After each statement: the table locks its transaction holds (pg_locks, its own pid)."""
    if "alembic_version" in statement:
        return
    # A cursor of its own: the statement's cursor still holds the result Alembic reads.
    mine = cursor.connection.cursor()
    mine.execute(
        "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        f"WHERE l.pid = pg_backend_pid() AND l.granted AND {PUBLIC_TABLE}"
    )
    STATEMENTS.append({"sql": statement.strip(), "locks": sorted(list(r) for r in mine.fetchall())})
    mine.close()


def seeded():
    event.listen(Engine, "after_cursor_execute", held)
    conn = psycopg2.connect(LIBPQ)
    conn.autocommit = True
    cur = conn.cursor()
    steps = []
    for rev in REVS:
        step = {"revision": rev}
        steps.append(step)
        for name, count in catalog(cur)["rows"].items():
            if name not in ROWS:
                step["error"] = f"checks_by_hand.py writes no rows for table {name}"
                return steps
            if count == 0:
                cur.execute(ROWS[name])
        before = catalog(cur)
        step["rows"] = before["rows"]
        STATEMENTS.clear()
        try:
            command.upgrade(CFG, rev)
        except Exception as e:
            step["error"] = f"{type(e).__name__}: {e}"
            break
        after = catalog(cur)
        full = {t for t, n in before["rows"].items() if n > 0}
        step["indexes_on_rows"] = [
            list(i) for i in after["indexes"] if i not in before["indexes"] and i[1] in full
        ]
        node = dict(before["tables"])
        step["rewritten"] = [t for t, n in after["tables"] if t in full and node[t] != n]
        step["validated_on_rows"] = [
            list(c) for c in after["constraints"]
            if c not in before["constraints"] and c[1] in full
        ]
        was_nullable = {(t, a) for t, a, notnull in before["columns"] if not notnull}
        step["set_not_null_on_rows"] = [
            [t, a] for t, a, notnull in after["columns"]
            if notnull and (t, a) in was_nullable and t in full
        ]
        step["statements"] = list(STATEMENTS)
    return steps


print(json.dumps(stairway() if MODE == "stairway" else seeded()))
