#!/usr/bin/env bash
# The test command (README.md, .ci/run): sets up the machine, starts the throw-away test
# PostgreSQL server, checks formatting, lints and unused dependencies, and runs every test.
# Fails (never skips) when Docker, PostgreSQL or Alembic is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
eval "$(bash ci/test-postgres.sh)"
export GATE_TEST_DATABASE_URL
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The hook and gate-approve alone (the pre-commit framework's install): no database stack.
cargo clippy --locked --bins -- -D warnings
# Unused dependencies fail the build (a dependency no code uses is still compiled and audited).
cargo machete
cargo test --workspace --all-features --locked --no-fail-fast
# The gates on this repository itself, under the reference policy.toml at the root.
cargo run -q --locked --bin gate-precommit -- --all
cargo run -q --locked --bin gate-approve -- check
