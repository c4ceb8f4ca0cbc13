//! `gate-replay` (skeleton).

use std::process::ExitCode;

/// Entry point of the `gate-replay` binary.
pub fn main() -> ExitCode {
    eprintln!("gate-replay: not implemented yet");
    ExitCode::from(2)
}
