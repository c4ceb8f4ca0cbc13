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

# TLS with a self-signed certificate (server.crt/server.key in the data folder, PostgreSQL's
# defaults), as the servers gate-replay starts offer it: emergency fixes that insist on
# sslmode=require must connect to the test server too (tests/e2e/real_repo.rs).
make_certificate() {
  [ -f "$DIR/server.key" ] && return 0
  command -v openssl >/dev/null || { echo "ci/test-postgres.sh: openssl is missing (apt-get install openssl)" >&2; exit 2; }
  openssl req -new -x509 -days 3650 -nodes -subj "/CN=localhost" \
    -keyout "$DIR/server.key" -out "$DIR/server.crt" >/dev/null 2>&1
  chmod 600 "$DIR/server.key"
  if [ -n "$RUN" ]; then chown postgres "$DIR/server.key" "$DIR/server.crt"; fi
}

if ! $RUN "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  rm -rf "$DIR"; mkdir -p "$DIR"
  [ -n "$RUN" ] && chown postgres "$DIR"
  $RUN "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  make_certificate
  $RUN "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c ssl=on" start >/dev/null
else
  # A server started by an earlier version of this script: turn TLS on without a restart
  # (ssl is reloadable), so tests running against it are not interrupted.
  SQL="psql -X -q -t -A -h 127.0.0.1 -p $PORT -U postgres -d postgres"
  if [ "$($SQL -c 'SHOW ssl' 2>/dev/null)" != "on" ]; then
    make_certificate
    $SQL -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [ "$($SQL -c 'SHOW ssl' 2>/dev/null)" = "on" ] && break
      sleep 0.2
    done
  fi
fi
echo "export GATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
