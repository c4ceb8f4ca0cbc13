//! `gate-precommit` (skeleton).

use std::process::ExitCode;

/// Entry point of the `gate-precommit` binary.
pub fn main() -> ExitCode {
    eprintln!("gate-precommit: not implemented yet");
    ExitCode::from(2)
}
