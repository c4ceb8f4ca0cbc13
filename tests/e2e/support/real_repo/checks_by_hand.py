"""What gate-replay's stairway, seeded pass and lock observation claim about a generated
repository's linear chain (the application of `support::real_repo`), checked by hand on the
database DATABASE_URL names: the migrations run by plain Alembic through its Python API (one
command after another, each reading env.py afresh as the CLI does) or, for a SQL chain, each
file's statements sent by psycopg2 the way golang-migrate sends them (one transaction per
file, none for a file with CONCURRENTLY); pg_dump and the catalog judge. Run in the
repository with the application's variables set; prints one JSON list (one entry per
migration) on the last line of stdout.

  checks_by_hand.py stairway alembic REV...  |  stairway sql UP:DOWN...
      per migration: apply it, step it down (`downgrade -1`, or the down file), apply it
      again; pg_dump --schema-only says whether the step down restored the schema before the
      migration and the second application built the same schema as the first.
  checks_by_hand.py seeded alembic REV...  |  seeded sql UP:DOWN...
      per migration, on tables holding the rows written below (each table filled once it
      exists): whether it passes, the indexes it builds on tables with rows, the tables with
      rows it rewrites (relfilenode), the constraints and NOT NULLs it validates on them, and
      per statement the table locks its transaction holds right after it.
"""
import json
import os
import re
import subprocess
import sys

import psycopg2
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

MODE, KIND, REVS = sys.argv[1], sys.argv[2], sys.argv[3:]
# DATABASE_URL as the application reads it (it may name a SQLAlchemy driver); libpq's form.
LIBPQ = "postgresql://" + os.environ["DATABASE_URL"].split("://", 1)[1]
CFG = Config("alembic.ini")
OBSERVE = False


def run_file(path):
    """A SQL file as golang-migrate runs it: its statements in one transaction, or each on
    its own when the file builds an index CONCURRENTLY (which refuses a transaction)."""
    text = open(path).read()
    code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
    statements = [s.strip() for s in re.split(r";\s*(?:\n|$)", code) if s.strip()]
    conn = psycopg2.connect(LIBPQ)
    conn.autocommit = "CONCURRENTLY" in code.upper()
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
            if OBSERVE:
                STATEMENTS.append({"sql": sql, "locks": locks_held(cur)})
        conn.commit()
    finally:
        conn.close()


def up(step):
    if KIND == "alembic":
        command.upgrade(CFG, step)
    else:
        run_file(step.split(":")[0])


def down(step):
    if KIND == "alembic":
        command.downgrade(CFG, "-1")
    else:
        run_file(step.split(":")[1])


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
            up(rev)
            applied = dump()
            down(rev)
            step["down_restores"] = dump() == before
            up(rev)
            step["again_equal"] = dump() == applied
        except Exception as e:  # what Alembic or the server raised, for the assertion message
            step["error"] = f"{type(e).__name__}: {e}"
            break
        before = applied
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


def locks_held(cur):
    """The table locks the cursor's transaction holds (pg_locks rows of its own backend)."""
    cur.execute(
        "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        f"WHERE l.pid = pg_backend_pid() AND l.granted AND {PUBLIC_TABLE}"
    )
    return sorted(list(r) for r in cur.fetchall())


def held(conn, cursor, statement, parameters, context, executemany):
    """After each statement Alembic sends, the locks its transaction holds."""
    if "alembic_version" in statement:
        return
    # A cursor of its own: the statement's cursor still holds the result Alembic reads.
    mine = cursor.connection.cursor()
    STATEMENTS.append({"sql": statement.strip(), "locks": locks_held(mine)})
    mine.close()


def seeded():
    global OBSERVE
    OBSERVE = True
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
            up(rev)
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
