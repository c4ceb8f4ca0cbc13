#!/usr/bin/env bash
# Installs everything the gates, the example and the test suite need on a fresh Debian 12
# machine, then builds the offline PostgreSQL image. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# Debian packages: PostgreSQL server binaries (local backend, test server), client tools
# (psql, pg_dump for --reference-dump), debootstrap (image recipe), hyperfine (benchmarks).
# jq and shellcheck: the GitHub Action's script (ci/action/run.sh) and its test (tests/action.rs).
# libxml2-utils (xmllint) and cmark-gfm: the consumers the JUnit and Markdown outputs are
# validated with (tests/schemas/README.md).
PACKAGES="postgresql-15 postgresql-client-15 debootstrap hyperfine git ca-certificates openssl jq shellcheck libxml2-utils cmark-gfm"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The Debian package starts a cluster on 5432 that nothing here uses.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q ' online '; then
  $SUDO pg_ctlcluster 15 main stop 2>/dev/null || true
fi

PYTHON="${GATE_PYTHON:-python3}"
if ! "$PYTHON" -c 'import alembic, sqlalchemy, psycopg2, psycopg, pre_commit, pydantic_settings, jsonschema' 2>/dev/null \
  || ! command -v actionlint >/dev/null; then
  say "installing Python packages (ci/requirements.txt) for $PYTHON"
  "$PYTHON" -m pip install -q -r ci/requirements.txt
fi

# cargo-machete: ci/test.sh fails on unused dependencies.
if ! cargo machete --version >/dev/null 2>&1; then
  say "installing cargo-machete"
  cargo install --locked cargo-machete
fi

# Docker is required: the docker backend is tested for real, never skipped.
if ! docker info >/dev/null 2>&1; then
  say "error: no Docker engine answers (docker info failed); start dockerd and run again"
  exit 2
fi
bash ci/postgres-image.sh
