//! The report crate's tests, compiled as one test binary (one module per area).

mod common;

mod color;
mod consumers;
mod golden;
mod rules;
mod wellformed;
