//! The policy crate's tests, compiled as one test binary (one module per area).

mod diagnostics;
mod edit;
mod load;
mod robustness;
