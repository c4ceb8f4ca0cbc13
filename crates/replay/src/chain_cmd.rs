//! `gate-replay chain` and `gate-replay lock`: static chain report and lockfile writing, no
//! database. (Skeleton: the migration-chain issue fills this in.)

use std::process::ExitCode;

use gate_cli::CommonArgs;

/// `gate-replay chain`
pub fn chain(common: &CommonArgs) -> ExitCode {
    let _ = common;
    eprintln!("gate-replay chain: not implemented yet");
    ExitCode::from(2)
}

/// `gate-replay lock`
pub fn lock(common: &CommonArgs) -> ExitCode {
    let _ = common;
    eprintln!("gate-replay lock: not implemented yet");
    ExitCode::from(2)
}
