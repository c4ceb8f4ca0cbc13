#!/bin/sh
# Entrypoint of migration-gate/postgres:15 (built by ci/postgres-image.sh). Behaves like the
# official image for what Migration Gate and most users rely on: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD, PGDATA; arguments are passed to
# postgres (`docker run IMAGE -c fsync=off` works as with the official image).
set -eu

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-}" = "postgres" ]; then shift; fi
# Anything that is not a postgres option is a command to run (`docker run IMAGE psql ...`).
case "${1:-}" in
  ""|-*) ;;
  *) exec "$@" ;;
esac

if [ "$(id -u)" = 0 ]; then
  # postgres refuses to run as root: prepare the folders, then re-run this script as postgres.
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != "trust" ]; then
    echo "docker-entrypoint: POSTGRES_PASSWORD is not set; set it (docker run -e POSTGRES_PASSWORD=...) or set POSTGRES_HOST_AUTH_METHOD=trust" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  pwopt="--pwfile=$pwfile"
  [ -n "${POSTGRES_PASSWORD:-}" ] || pwopt=""
  # shellcheck disable=SC2086 # $pwopt is one word or none
  initdb -D "$PGDATA" -U "$user" $pwopt -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth" >/dev/null
  rm -f "$pwfile"
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  if [ "$db" != "postgres" ]; then
    # Single-user mode creates the database without ever accepting connections, so a client
    # that polls the port never sees a half-initialised server.
    quoted=$(printf '%s' "$db" | sed 's/"/""/g')
    printf 'CREATE DATABASE "%s";\n' "$quoted" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "docker-entrypoint: initialised $PGDATA (user $user, database $db)"
fi

exec postgres -D "$PGDATA" "$@"
