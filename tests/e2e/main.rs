//! The end-to-end tests: the three gate binaries on real git repositories, a real PostgreSQL
//! (`GATE_TEST_DATABASE_URL`, see ci/test-postgres.sh), real Alembic and docker. One test
//! binary (one link, one run) with one module per area; helpers live in `support`.
//! See tests/README.md.

// The end-to-end tests drive all three gates; gate-replay is built only with the `replay`
// feature. Fail loudly rather than skip: the README's test command passes --all-features.
#[cfg(not(feature = "replay"))]
compile_error!(
    "the end-to-end tests need gate-replay: run `cargo test --all-features` (see README.md)"
);

mod support;

mod action;
mod approve_attacks;
mod approve_check;
mod approve_merge_method;
mod approve_register;
mod approve_replay_join;
mod backend_docker;
mod backend_local;
mod backend_timeout;
mod backend_url;
mod chain_cli;
mod chain_example;
mod cli_consumers;
mod cli_flags;
mod cli_output;
mod cli_schema;
mod consolidate;
mod lock_amend;
mod numeric_extremes_proptest;
mod precommit_all;
mod precommit_errors;
mod precommit_hooks;
mod precommit_lock;
mod precommit_lockfile_walkaround;
mod precommit_staged;
mod real_repo;
mod replay_alembic;
mod replay_command;
mod replay_data;
mod replay_error_chain;
mod replay_example_backends;
mod replay_fix_tails;
mod replay_fixes;
mod replay_locks;
mod replay_models;
mod replay_nested;
mod replay_production;
mod replay_sql;
mod replay_stairway;
mod replay_url;
mod signals_startup;
