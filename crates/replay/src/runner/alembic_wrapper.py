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


def _serve(config_args):
    # One interpreter for many commands (the stairway, `check`): each stdin line is a JSON
    # list of alembic arguments; after each, "stepend" says whether it succeeded, and the
    # wrapper waits for the next line, so gate-replay can read the catalog in between.
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        args = json.loads(line)
        _state["started"] = False
        ok = False
        try:
            main(argv=["--raiseerr"] + config_args + args, prog="alembic")
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


if len(sys.argv) > 1 and sys.argv[1] == "--gate-serve":
    _cache_scripts()
    _serve(sys.argv[2:])
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
