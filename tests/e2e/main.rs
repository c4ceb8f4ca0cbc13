//! The end-to-end tests: the three gate binaries on real git repositories, a real PostgreSQL
//! (`GATE_TEST_DATABASE_URL`, see ci/test-postgres.sh), real Alembic and docker. One test
//! binary (one link, one run) with one module per area; helpers live in `support`.
//! See tests/README.md.

mod support;

mod approve_check;
mod approve_register;
mod backend_docker;
mod backend_local;
mod backend_timeout;
mod backend_url;
mod chain_cli;
mod chain_example;
mod precommit_all;
mod precommit_errors;
mod precommit_hooks;
mod precommit_lock;
mod precommit_staged;
mod real_repo;
mod replay_alembic;
mod replay_command;
mod replay_example_backends;
mod replay_fixes;
mod replay_nested;
mod replay_sql;
mod replay_url;
