//! `gate-approve` (skeleton).

use std::process::ExitCode;

/// Entry point of the `gate-approve` binary.
pub fn main() -> ExitCode {
    eprintln!("gate-approve: not implemented yet");
    ExitCode::from(2)
}
