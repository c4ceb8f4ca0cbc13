//! `gate-recovery`: the model of how production got where it is, for getting out of a crisis.
//!
//! Data in: the migration chain ([`ChainRevision`]), the registered fixes ([`RegisteredFix`])
//! and schema differences ([`gate_schema::Difference`]). Data out: the [`ProductionPath`]
//! (the ordered steps production lived), an [`Attribution`] of each difference between the
//! replayed path and a production dump to the fix that explains it, or to nothing (`F007`),
//! and the [`consolidate::Plan`] of guarded DDL that turns one schema into another.
//! Nothing here touches a database or prints: `gate-replay production` is the runner.

mod attribution;
pub mod consolidate;
mod path;

pub use attribution::{Attribution, Explained, attribute, captured_key, difference_key};
pub use path::{ChainRevision, PathError, ProductionPath, RegisteredFix, Step};
