//! The recovery crate's tests, compiled as one test binary (one module per area). Plans are
//! proven on real PostgreSQL (GATE_TEST_DATABASE_URL) and, rendered, through real Alembic.

mod common;

mod alembic;
mod generated;
mod handwritten;
