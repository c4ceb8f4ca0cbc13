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
    emit("error", {"sqlstate": code, "message": msg.strip(), "type": type(orig).__name__,
                   "where": where, "phase": phase, "module": module})


def _serve(config_args):
    # One interpreter for many commands (the stairway, `check`): each stdin line is a JSON
    # list of alembic arguments; after each, "stepend" says whether it succeeded, and the
    # wrapper waits for the next line, so gate-replay can read the catalog in between.
    # One command line parser for all of them: `alembic.config.main` builds Alembic's whole
    # parser (every subcommand) per call, a fifth of a stairway step; it keeps no state.
    from alembic.config import CommandLine

    cli = CommandLine(prog="alembic")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        args = json.loads(line)
        _state["started"] = False
        ok = False
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
