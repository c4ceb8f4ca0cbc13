//! The chain crate's tests, compiled as one test binary (one module per area).

mod common;

mod alembic_crosscheck;
mod amend;
mod checks_and_lock;
mod proptest_broken_graphs;
mod proptest_roundtrip;
