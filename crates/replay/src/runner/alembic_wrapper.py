# Runs `alembic <args>` in this interpreter exactly as `python -m alembic` would, and adds
# machine-readable lines for gate-replay on stderr (prefix @@gate-replay@@):
#  - "Running upgrade A -> B" is re-emitted whatever the project's alembic.ini does with
#    logging (a silenced or reformatted alembic logger must not hide per-revision timings);
#  - on failure, the SQLSTATE, message and the migration file:line from the traceback, and
#    whether it happened while a revision ran ("migration") or before any did ("env":
#    env.py's imports, the application's settings, the driver, the connection), so an
#    environment problem is never blamed on a migration;
#  - the interpreter that really runs (sys.executable), which may not be the one named in
#    replay.python when a shim (pyenv, .python-version) picks another.
import json
import os
import re
import sys

MARK = "@@gate-replay@@ "


def emit(kind, payload):
    sys.stderr.write(MARK + kind + " " + json.dumps(payload) + "\n")
    sys.stderr.flush()


emit("python", {"executable": sys.executable, "version": sys.version.split()[0]})

try:
    import alembic  # noqa: F401
    from alembic.config import main
except ImportError as e:
    emit("no-alembic", {"python": sys.executable, "error": str(e)})
    sys.exit(3)

import logging
import logging.config


_state = {"started": False}


class _Relay(logging.Handler):
    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:
            return
        if msg.startswith("Running upgrade") or msg.startswith("Running downgrade"):
            _state["started"] = True
            emit("step", {"msg": msg})


_relay = _Relay(level=logging.INFO)


def _install():
    lg = logging.getLogger("alembic.runtime.migration")
    # env.py's fileConfig() disables existing loggers and may set WARN: undo both for this
    # logger only; the project's own handlers and format stay as they are.
    lg.disabled = False
    if lg.getEffectiveLevel() > logging.INFO:
        lg.setLevel(logging.INFO)
    if _relay not in lg.handlers:
        lg.addHandler(_relay)


_file_config = logging.config.fileConfig
_dict_config = logging.config.dictConfig


def _fc(*a, **k):
    _file_config(*a, **k)
    _install()


def _dc(*a, **k):
    _dict_config(*a, **k)
    _install()


logging.config.fileConfig = _fc
logging.config.dictConfig = _dc
_install()

versions = os.path.realpath(os.environ.get("GATE_REPLAY_VERSIONS", os.getcwd()))


def _report_error(e):
    orig = getattr(e, "orig", None) or e
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    msg = getattr(orig, "pgerror", None) or str(orig)
    # pydantic echoes the values it was given (often the whole environment): never pass them on.
    msg = re.sub(r"input_value=.*?(?=, input_type=|\]\n|\]$)", "input_value=<hidden>", msg, flags=re.S)
    where = None
    tb = e.__traceback__
    while tb is not None:
        f = os.path.realpath(tb.tb_frame.f_code.co_filename)
        if f.startswith(versions + os.sep):
            where = {"file": f, "line": tb.tb_lineno}
        tb = tb.tb_next
    phase = "migration" if (_state["started"] or where is not None) else "env"
    module = getattr(e, "name", None) if isinstance(e, ImportError) else None
    statement = getattr(e, "statement", None)
    emit("error", {"sqlstate": code, "message": msg.strip(), "type": type(orig).__name__,
                   "where": where, "phase": phase, "module": module,
                   "statement": statement if isinstance(statement, str) else None})


def _observe():
    # GATE_REPLAY_OBSERVE=1 (the L0xx checks): around every statement a migration file issues,
    # read the catalog on the migration's own connection (GATE_REPLAY_OBSERVE_SQL) and emit
    # what changed as "stmt", and "txend" when a transaction ends (how long locks were held).
    # The reads go through the DBAPI cursor, not SQLAlchemy, so they are not in the migration's
    # SQL log or its events; each runs inside a SAVEPOINT that is rolled back on any error, so
    # an observation failure cannot abort or commit the migration's transaction (outside a
    # transaction the SAVEPOINT itself fails and the reads are plain autocommit queries).
    import time

    from alembic.runtime.environment import EnvironmentContext
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    sql = os.environ["GATE_REPLAY_OBSERVE_SQL"]
    # After a statement inside a transaction only the tables it holds locks on can have
    # changed (it keeps its locks): read those, keep the rest from the last read.
    locked_sql = os.environ.get("GATE_REPLAY_OBSERVE_SQL_LOCKED", sql)
    # The locked read plus the catalog's fingerprint (a row of kind "f"): read before COMMIT,
    # the catalog then is carried to the next transaction, which reads it again and uses the
    # carried catalog instead of a full read when the fingerprint is the same.
    checked_sql = os.environ.get("GATE_REPLAY_OBSERVE_SQL_CHECKED")
    # Every read also says which transaction it ran in (backend, start time): what is known
    # holds for the transaction it was read in only, whichever way that one ended.
    texts = {k: v + "\nUNION ALL SELECT 'x', pg_backend_pid(), now()::text, 0, 0, '', ''\n"
             for k, v in (("full", sql), ("locked", locked_sql), ("checked", checked_sql))
             if v}
    cap = 1000000
    # "last": the catalog after the previous observed statement of the open transaction, the
    # "before" of the next one when nothing else ran in between (one read per statement).
    # "known": the catalog as of the last read in the open transaction, whatever ran since
    # (what ran changed only tables it locked: a locked read brings it up to date).
    # "carry": (fingerprint, catalog with no lock held) as of the last COMMIT. "tx": the
    # transaction of the last read, "known_tx" that of "known".
    state = {"busy": False, "start": None, "pending": None, "last": None, "known": None,
             "carry": None, "tx": None, "known_tx": None, "fingerprint": None}

    # Each migration in its own transaction, as production applies a new migration to tables
    # committed long before: locks taken on a table are then the migration's own.
    configure = EnvironmentContext.configure

    def _configure(self, *a, **k):
        k["transaction_per_migration"] = True
        return configure(self, *a, **k)

    EnvironmentContext.configure = _configure

    # realpath of each code file, once (a statement walks ~25 frames: realpath on each was
    # most of the observation's own cost)
    real = {}

    def where():
        f = sys._getframe(1)
        while f is not None:
            code = f.f_code.co_filename
            name = real.get(code)
            if name is None:
                name = real[code] = os.path.realpath(code)
            if name.startswith(versions + os.sep):
                return {"file": name, "line": f.f_lineno}
            f = f.f_back
        return None

    class OneTrip:
        # A cursor whose every statement runs inside the observation's savepoint in one round
        # trip ("SAVEPOINT; <sql>; RELEASE": psycopg 3 returns each statement's result), where
        # the savepoint, the read and the release took one each. A failed statement is rolled
        # back to the savepoint before the error goes on.
        fused = True

        def __init__(self, cur):
            self.cur = cur

        def execute(self, sql):
            try:
                self.cur.execute("SAVEPOINT gate_replay_observe; %s; "
                                 "RELEASE SAVEPOINT gate_replay_observe" % sql, prepare=False)
            except Exception:
                self.cur.execute("ROLLBACK TO SAVEPOINT gate_replay_observe; "
                                 "RELEASE SAVEPOINT gate_replay_observe", prepare=False)
                raise
            self.cur.nextset()

        def fetchall(self):
            return self.cur.fetchall()

        def fetchone(self):
            return self.cur.fetchone()

    def one_trip(dbapi_conn):
        # psycopg 3 inside a transaction (or about to open one: it does before any statement
        # when not in autocommit), not an aborted one
        if type(dbapi_conn).__module__.split(".")[0] != "psycopg" or dbapi_conn.autocommit:
            return False
        status = getattr(getattr(dbapi_conn, "info", None), "transaction_status", None)
        return status in (0, 2)  # IDLE, INTRANS

    def failed(e):
        if not state.get("failed"):
            state["failed"] = True
            emit("observe-failed", {"message": str(e).strip()[:300]})

    def guarded(dbapi_conn, read):
        if one_trip(dbapi_conn):
            cur = dbapi_conn.cursor()
            try:
                return read(OneTrip(cur), True), True
            except Exception as e:
                failed(e)
                return None, True
            finally:
                try:
                    cur.close()
                except Exception:
                    pass
        cur = dbapi_conn.cursor()
        try:
            try:
                cur.execute("SAVEPOINT gate_replay_observe")
                in_tx = True
            except Exception:
                in_tx = False
            try:
                value = read(cur, in_tx)
            except Exception as e:
                value = None
                failed(e)
                if in_tx:
                    cur.execute("ROLLBACK TO SAVEPOINT gate_replay_observe")
            if in_tx:
                cur.execute("RELEASE SAVEPOINT gate_replay_observe")
            return value, in_tx
        except Exception:
            return None, False
        finally:
            try:
                cur.close()
            except Exception:
                pass

    def execute(cur, in_tx, kind):
        # A prepared statement per connection: planning the catalog query costs more than
        # running it. A new session (DISCARD ALL) has none: prepare it then.
        try:
            cur.execute("EXECUTE gate_replay_observe_" + kind)
        except Exception as e:
            orig = getattr(e, "orig", None) or e
            if (getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)) != "26000":
                raise
            if in_tx and not getattr(cur, "fused", False):
                cur.execute("ROLLBACK TO SAVEPOINT gate_replay_observe")
            cur.execute("PREPARE gate_replay_observe_%s AS %s" % (kind, texts[kind]))
            cur.execute("EXECUTE gate_replay_observe_" + kind)

    # A catalog read is {table oid: {(kind, oid, name): row}}: every row of a table (its "r"
    # row, indexes, constraints, columns) under the table's oid, so that replacing the tables
    # a locked read covers is a copy of one small dict, not a pass over every row of the
    # catalog (three such passes per statement were most of the observation's own time on a
    # long chain). The inner dicts are shared between catalogs: never changed in place.
    def snapshot(cur, in_tx, kind="full"):
        execute(cur, in_tx, kind)
        tables = {}
        state["fingerprint"] = None
        for r in cur.fetchall():
            k = r[0]
            if k == "x":
                state["tx"] = (int(r[1]), r[2])
            elif k == "f":
                state["fingerprint"] = r[6]
            else:
                oid, table = int(r[1]), int(r[4])
                rows = tables.get(table)
                if rows is None:
                    rows = tables[table] = {}
                rows[(k, oid, r[2])] = [k, oid, r[2], int(r[3]), table, r[5], r[6]]
        return tables

    def merge(tables, locked):
        # tables, with the tables of a locked read as it read them
        out = dict(tables)
        out.update(locked)
        return out

    def unlocked(tables):
        # the "r" row of a table is keyed by its qualified name, which every row carries
        out = dict(tables)
        for table, rows in tables.items():
            key = ("r", table, next(iter(rows.values()))[5])
            r = rows.get(key)
            if r is not None and r[6]:
                rows = dict(rows)
                rows[key] = r[:6] + [""]
                out[table] = rows
        return out

    def catch_up(cur, in_tx):
        # The catalog before a statement with no "last": a full read, unless what is known in
        # this transaction (or carried from the last COMMIT, if the fingerprint says nothing
        # changed since) plus a read of the tables locked now is the same.
        if not in_tx:
            return snapshot(cur, in_tx)
        if state["known"] is not None:
            locked = snapshot(cur, in_tx, "locked")
            if state["tx"] == state["known_tx"]:
                return merge(state["known"], locked)
            # the transaction it was known in ended unseen: nothing known holds
            state["known"] = None
            state["start"] = None
            state["carry"] = None
            return snapshot(cur, in_tx)
        if state["carry"] is not None and checked_sql:
            fingerprint, carried = state["carry"]
            rows = snapshot(cur, in_tx, "checked")
            now = state["fingerprint"]
            if now is not None and now == fingerprint:
                return merge(carried, rows)
        state["carry"] = None
        return snapshot(cur, in_tx)

    def as_row(r):
        return None if r is None else dict(zip(
            ("kind", "oid", "name", "filenode", "table_oid", "table", "extra"), r))

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        if state["busy"]:
            return
        at = where()
        if at is None:
            state["last"] = None
            if getattr(cursor.connection, "autocommit", False):
                # committed outside the COMMIT this observation reads before
                state["carry"] = None
                state["known"] = None
            return
        before, in_tx = state["last"], True
        state["last"] = None
        if before is None:
            state["busy"] = True
            try:
                before, in_tx = guarded(cursor.connection, catch_up)
            finally:
                state["busy"] = False
        if before is None:
            return
        if state["start"] is None or not in_tx:
            state["start"] = set(before)
        state["pending"] = (before, at, time.monotonic(), in_tx)

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        pending, state["pending"] = state["pending"], None
        if pending is None or state["busy"]:
            return
        before, at, t0, was_in_tx = pending
        state_before = before
        ended = time.monotonic()
        state["busy"] = True
        try:
            restricted = False
            if was_in_tx:
                after, restricted = guarded(cursor.connection,
                                            lambda c, t: snapshot(c, t, "locked"))
                in_tx = restricted
            if not restricted:
                # outside a transaction now (autocommit, or the statement ended it): no locks
                # are left to scope the read by
                after, in_tx = guarded(cursor.connection, snapshot)
                state["known"] = None
                state["carry"] = None
            if after is None:
                state["known"] = None
                return
            if restricted:
                # compare only the tables read; the next "before" is the rest as it was
                before = {t: before[t] for t in after if t in before}
                merged = merge(state_before, after)
            start = state["start"] or set()
            changes = []
            empty = {}
            for t in set(before) | set(after):
                bt, at_ = before.get(t, empty), after.get(t, empty)
                if bt is at_ or bt == at_:
                    continue
                for k in set(bt) | set(at_):
                    b, a = bt.get(k), at_.get(k)
                    if a != b:
                        table_oid = (a or b)[4]
                        changes.append({"before": as_row(b), "after": as_row(a),
                                        "new_in_transaction": table_oid not in start})
            tables = sorted({c["after"]["table"] for c in changes
                             if c["after"] is not None and not c["new_in_transaction"]})

            def count(cur, _in_tx):
                out = {}
                for t in tables:
                    cur.execute("SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d) AS gate_rows"
                                % (t, cap))
                    out[t] = int(cur.fetchone()[0])
                return out

            rows = guarded(cursor.connection, count)[0] if tables else {}
            if restricted:
                state["last"] = merged
                state["known"] = merged
                state["known_tx"] = state["tx"]
        finally:
            state["busy"] = False
        emit("stmt", {"sql": statement, "file": at["file"], "line": at["line"],
                      "ms": (ended - t0) * 1000.0, "ended": ended, "in_transaction": in_tx,
                      "changes": changes, "rows": rows or {}})

    def _commit(conn):
        at = time.monotonic()
        # Still inside the transaction: every table it changed is locked, so what is known
        # plus a read of the locked tables is the catalog after COMMIT (what committed
        # without anything known is carried only if the fingerprint is the one carried).
        known, carry = state["known"], state["carry"]
        state["carry"] = None
        if checked_sql and (known is not None or carry is not None) and not state["busy"]:
            state["busy"] = True
            try:
                dbapi = getattr(conn.connection, "dbapi_connection", None) or conn.connection.connection
                rows, in_tx = guarded(dbapi, lambda c, t: snapshot(c, t, "checked"))
            except Exception:
                rows, in_tx = None, False
            finally:
                state["busy"] = False
            now = state["fingerprint"] if rows is not None and in_tx else None
            if known is not None and state["tx"] != state["known_tx"]:
                known, carry = None, None
            # without anything known, only if nothing changed since the carried COMMIT
            if now is not None and (known is not None or (carry is not None and now == carry[0])):
                state["carry"] = (now, unlocked(merge(known or carry[1], rows)))
        _end(at)

    def _rollback(conn):
        state["carry"] = None
        _end(time.monotonic())

    def _end(at):
        # a statement that failed never reached _after: its pending read is not the "before"
        # of whatever runs next
        state["pending"] = None
        state["start"] = None
        state["last"] = None
        state["known"] = None
        emit("txend", {"at": at})

    event.listen(Engine, "commit", _commit)
    event.listen(Engine, "rollback", _rollback)


if os.environ.get("GATE_REPLAY_OBSERVE") == "1" and os.environ.get("GATE_REPLAY_OBSERVE_SQL"):
    _observe()


def _config(cli, config_args):
    # The Config `alembic <config_args> ...` would build (CommandLine.main), for a command of
    # our own; Alembic 1.16 added pyproject.toml next to the ini file.
    from alembic.config import Config

    options = cli.parser.parse_args(["--raiseerr"] + config_args + ["current"])
    if hasattr(cli, "_inis_from_config"):
        toml, ini = cli._inis_from_config(options)
        return Config(file_=ini, toml_file=toml, ini_section=options.name, cmd_opts=options)
    return Config(file_=options.config, ini_section=options.name, cmd_opts=options)


class _WalkOver(Exception):
    pass


def _session_settings(connection):
    # The settings env.py gave its session (SET search_path, SET ROLE, lock_timeout...):
    # each step of a walk starts from these, as a new command would after env.py ran.
    cur = connection.connection.dbapi_connection.cursor()
    try:
        cur.execute("SELECT name, current_setting(name) FROM pg_settings WHERE source = 'session'")
        return [tuple(r) for r in cur.fetchall()]
    finally:
        cur.close()


def _new_session(context, settings):
    # What a new `alembic` command would start a step with: a new session (DISCARD ALL's
    # parts, less DEALLOCATE ALL: the driver keeps its own prepared statements, and less
    # DISCARD PLANS: a cached plan is checked against the catalog, search_path and role before
    # each use anyway, so dropping them changes no result, and re-planning the observation's
    # catalog reads after every step cost a third of their time) with env.py's settings, and
    # a new MigrationContext's memo (SQLAlchemy notes there which named types
    # it created: a second CREATE TABLE with the same enum would skip its CREATE TYPE).
    memo = getattr(context.impl, "memo", None)
    if isinstance(memo, dict):
        memo.clear()
    connection = context.connection
    if connection.in_transaction():
        connection.commit()
    dbapi = connection.connection.dbapi_connection
    before = dbapi.autocommit
    dbapi.autocommit = True
    cur = dbapi.cursor()
    try:
        # one round trip (a step is a few of them)
        cur.execute("CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; "
                    "SELECT pg_advisory_unlock_all(); DISCARD TEMP; "
                    "DISCARD SEQUENCES")
        if settings:
            cur.execute("SELECT " + ", ".join(["set_config(%s, %s, false)"] * len(settings)),
                        [v for pair in settings for v in pair])
    finally:
        cur.close()
        dbapi.autocommit = before


def _walk(cli, config_args, walk):
    # One env.py run for many steps (the stairway's up/down/up per revision, the seeded
    # pass's one revision at a time): env.py, its engine, its connection and
    # context.configure() are paid once, not per step. Alembic's upgrade and downgrade
    # commands hand run_migrations() the list of steps to apply; here it gets a generator
    # that reads the next request from stdin ({"up": target} / {"down": target} /
    # {"end": true}), yields the steps Alembic's own commands would (_upgrade_revs /
    # _downgrade_revs from the current heads), and answers "stepend" once they ran. Each
    # migration commits on its own (transaction_per_migration), so gate-replay reads the
    # catalog between steps from its own connection as after a separate command. An env.py
    # that holds a transaction of its own around the migrations cannot commit per step: the
    # walk then says "unsupported" before any step ran, and gate-replay runs one command
    # per step instead.
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = _config(cli, config_args)
    script = ScriptDirectory.from_config(config)
    def steps(heads, context):
        if getattr(context, "_in_external_transaction", False) or not context.impl.transactional_ddl:
            emit("stepend", {"ok": False, "unsupported":
                             "env.py runs the migrations inside a transaction of its own"})
            walk["pending"] = False
            return
        settings = _session_settings(context.connection)
        emit("stepend", {"ok": True})
        walk["pending"] = False
        first = True
        known = {"table": False}
        while True:
            line = sys.stdin.readline()
            if not line:
                raise _WalkOver()
            line = line.strip()
            if not line:
                continue
            request = json.loads(line)
            walk["pending"] = True
            _state["started"] = False
            if request.get("end"):
                # answered by _serve once env.py has committed and closed
                return
            if not first:
                _new_session(context, settings)
            first = False
            current = context.get_current_heads()
            if current and not known["table"]:
                # Alembic asks the catalog whether alembic_version exists before every read
                # of it; once it does, it stays (online downgrades only delete its rows).
                known["table"] = True
                context._has_version_table = lambda: True
            if "up" in request:
                todo = script._upgrade_revs(request["up"], current)
            else:
                todo = script._downgrade_revs(request["down"], current)
            for step in todo:
                yield step
            emit("done", {})
            emit("stepend", {"ok": True})
            walk["pending"] = False

    configure = EnvironmentContext.configure

    def per_migration(self, *a, **k):
        k["transaction_per_migration"] = True
        return configure(self, *a, **k)

    EnvironmentContext.configure = per_migration
    try:
        with EnvironmentContext(config, script, fn=steps, as_sql=False):
            script.run_env()
    finally:
        EnvironmentContext.configure = configure


def _serve(config_args):
    # One interpreter for many commands (the stairway, `check`): each stdin line is a JSON
    # list of alembic arguments; after each, "stepend" says whether it succeeded, and the
    # wrapper waits for the next line, so gate-replay can read the catalog in between.
    # One command line parser for all of them: `alembic.config.main` builds Alembic's whole
    # parser (every subcommand) per call, a fifth of a stairway step; it keeps no state.
    # A line {"walk": true} starts a walk (_walk): the lines after it are its steps, up to
    # {"end": true}; every line gets one "stepend".
    from alembic.config import CommandLine

    cli = CommandLine(prog="alembic")
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        args = json.loads(line)
        _state["started"] = False
        ok = False
        if isinstance(args, dict):
            if not args.get("walk"):
                # a step after its walk ended (a failed migration ends it)
                emit("error", {"sqlstate": None, "message": "no walk is running",
                               "type": "WalkOver", "where": None, "phase": "env",
                               "module": None})
                emit("stepend", {"ok": False})
                continue
            # "pending": the last request read is not answered yet (the walk line until env.py
            # reached run_migrations, a step until its migrations ran, {"end": true} until
            # env.py committed and returned).
            walk = {"pending": True}
            try:
                _walk(cli, config_args, walk)
                ok = True
            except _WalkOver:
                break
            except BaseException as e:
                if walk["pending"]:
                    _report_error(e)
            if walk["pending"]:
                if ok:
                    emit("done", {})
                emit("stepend", {"ok": ok})
            continue
        try:
            cli.main(argv=["--raiseerr"] + config_args + args)
            emit("done", {})
            ok = True
        except SystemExit as e:
            emit("error", {"sqlstate": None, "message": "alembic exited with %s" % (e.code,),
                           "type": "SystemExit", "where": None, "phase": "migration",
                           "module": None})
        except BaseException as e:
            diffs = getattr(e, "diffs", None)
            if diffs is not None:
                # Alembic's own text, less the memory addresses some reprs carry
                # (`<TextClause object at 0x7f..>`), so a finding reads the same in every run.
                texts = [re.sub(r" at 0x[0-9a-f]+>", ">", repr(d)) for d in diffs]
                emit("diffs", {"diffs": texts, "message": str(e)})
            else:
                _report_error(e)
        emit("stepend", {"ok": ok})


def _cache_scripts():
    # Every command would read the whole versions folder again (a stairway over N revisions
    # reads N files 3N times); the files do not change during the run, so read them once.
    from alembic.script import ScriptDirectory

    original = ScriptDirectory.from_config.__func__
    cache = {}

    def from_config(cls, config):
        key = (config.config_file_name, config.get_main_option("script_location"))
        if key not in cache:
            cache[key] = original(cls, config)
        return cache[key]

    ScriptDirectory.from_config = classmethod(from_config)


def _plain(value):
    # Values that compare by content: only engines made from such arguments are kept, so a
    # later command reuses an engine exactly when env.py asked for the same one.
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _reuse_engines():
    # env.py makes a new engine per command (Alembic's template: NullPool), so every command
    # pays a connect and SQLAlchemy's first-connect set-up (~half of a stairway step). In serve
    # mode a sync engine made from the same URL and arguments is made once and keeps one idle
    # connection (QueuePool of size 1; a second connection at the same time is opened and
    # closed as before). What a command sees stays as with a new connection: the pool rolls
    # back on return (a failed step leaves no aborted transaction), and every reuse starts
    # with DISCARD ALL (settings, temp tables, prepared statements, advisory locks of the
    # previous command are gone). Async engines are left alone: each command runs its own
    # event loop, and an asyncpg connection cannot move between loops.
    import sqlalchemy
    import sqlalchemy.engine
    import sqlalchemy.engine.create
    from sqlalchemy import event, exc, pool

    original = sqlalchemy.engine.create.create_engine
    engines = {}

    def reset_session(dbapi_connection, record, _proxy):
        if not record.info.get("gate_used"):
            record.info["gate_used"] = True
            return
        try:
            before = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            cursor.execute("DISCARD ALL")
            cursor.close()
            # psycopg 3 remembers what it prepared on this connection; DISCARD ALL dropped it.
            prepared = getattr(dbapi_connection, "_prepared", None)
            if prepared is not None and hasattr(prepared, "clear"):
                prepared.clear()
            dbapi_connection.autocommit = before
        except Exception as e:
            # The pool then opens a new connection, as NullPool would have.
            raise exc.DisconnectionError("cannot reset the reused connection: %s" % e)

    def create_engine(url, *args, **kwargs):
        pool_class = kwargs.get("poolclass")
        keyable = not args and not kwargs.get("_is_async") and all(
            _plain(v) for k, v in kwargs.items() if k != "poolclass"
        )
        if not keyable or pool_class not in (None, pool.NullPool, pool.QueuePool):
            return original(url, *args, **kwargs)
        if isinstance(url, str):
            name = url
        else:
            name = url.render_as_string(hide_password=False)
        key = (name, repr(sorted((k, v) for k, v in kwargs.items() if k != "poolclass")))
        engine = engines.get(key)
        if engine is None:
            options = dict(kwargs, poolclass=pool.QueuePool, pool_size=1, max_overflow=-1)
            engine = original(url, **options)
            event.listen(engine, "checkout", reset_session)
            engines[key] = engine
        return engine

    sqlalchemy.create_engine = create_engine
    sqlalchemy.engine.create_engine = create_engine
    sqlalchemy.engine.create.create_engine = create_engine
    return engines


if len(sys.argv) > 1 and sys.argv[1] == "--gate-serve":
    _cache_scripts()
    _engines = _reuse_engines()
    _serve(sys.argv[2:])
    for _engine in _engines.values():
        _engine.dispose()
    sys.exit(0)

try:
    main(argv=sys.argv[1:], prog="alembic")
    # The last revision ends here (its transaction is committed), not at interpreter exit.
    emit("done", {})
except SystemExit:
    raise
except BaseException as e:
    _report_error(e)
    raise
