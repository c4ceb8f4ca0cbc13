//! The schema crate's tests, compiled as one test binary (one module per area).

mod data;
mod diff;
mod fingerprint;
mod snapshot;
mod tls;
