//! `gate-replay`: replays the migration chain into an empty PostgreSQL and checks heads, round
//! trips, schema drift and registered emergency fixes.

pub mod backend;
mod chain_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gate_cli::CommonArgs;

/// Replay the migration chain from an empty PostgreSQL and check it.
#[derive(Debug, Parser)]
#[command(name = "gate-replay", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Static chain report (heads, bases, merges, order); no database.
    Chain,
    /// Write migrations.lock from the current chain (atomically).
    Lock,
}

/// Entry point of the `gate-replay` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Chain) => chain_cmd::chain(&cli.common),
        Some(Command::Lock) => chain_cmd::lock(&cli.common),
        None => {
            eprintln!("gate-replay: replay not implemented yet");
            ExitCode::from(2)
        }
    }
}
