#!/bin/sh
# Start a throw-away PostgreSQL server for the test suite (the `url` backend and the schema
# tests use it) and print its URL. Idempotent: reuses a running one.
#   eval "$(ci/test-postgres.sh)"   # exports GATE_TEST_DATABASE_URL
set -eu
PORT="${GATE_TEST_PG_PORT:-54329}"
DIR="${GATE_TEST_PG_DIR:-/tmp/gate-test-pg}"
BIN="${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}"
[ -x "$BIN/initdb" ] || BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "ci/test-postgres.sh: no PostgreSQL server binaries (apt-get install postgresql-15)" >&2; exit 2; }
RUN=""
if [ "$(id -u)" = 0 ]; then RUN="runuser -u postgres --"; fi
if ! $RUN "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  rm -rf "$DIR"; mkdir -p "$DIR"
  [ -n "$RUN" ] && chown postgres "$DIR"
  $RUN "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  $RUN "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
fi
echo "export GATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
