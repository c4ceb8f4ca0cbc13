//! `gate-replay`: replays the migration chain into an empty PostgreSQL and checks heads, round
//! trips, schema drift and registered emergency fixes.

mod backend_smoke;
mod bounded;
mod capture;
mod chain_cmd;
pub mod child_env;
mod consolidate;
mod ctx;
mod drift;
mod error;
mod fixes;
mod locks;
mod models;
pub mod observe;
mod parts;
mod production;
mod progress;
mod roundtrip;
pub mod run;
pub mod runner;
mod runtime;
mod seed;
mod seeded;
pub mod shard;
mod snapshot_cmd;
mod stairway;
mod stepper;
mod workcopy;

/// The backends, where they lived before they became their own crate (`gate-backends`).
pub use gate_backends as backend;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use gate_cli::CommonArgs;
use gate_policy::Backend;

use crate::run::{Mode, ReplayError, Settings};
use gate_backends::BackendOptions;

/// Replay the migration chain from an empty PostgreSQL and check it.
#[derive(Debug, Parser)]
#[command(name = "gate-replay", version, after_help = gate_cli::EXIT_CODES_HELP)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    replay: ReplayArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Static chain report (heads, bases, merges, order); no database.
    Chain,
    /// Write migrations.lock from the current chain (atomically); with `--amend`, record an
    /// approved amendment of one released migration instead.
    Lock(chain_cmd::LockArgs),
    /// Replay to head and write the schema to `replay.snapshot` (canonical JSON).
    Snapshot,
    /// Replay the production path (every registered fix in production order, interleaved with
    /// the migrations) and report its schema; `--reference-dump` attributes each difference
    /// to a fix, or to none (F007).
    Production(production::ProductionArgs),
    /// Propose (dry run) or write (`--write`) the recovery: one consolidation migration at the
    /// head, guarded amendments of the migrations that conflict with fixes (F003), and the
    /// policy edits that mark the fixes converted; proven on scratch databases first.
    Consolidate(consolidate::ConsolidateArgs),
    /// Start a database backend, print what it started, hold, clean up (tests, benchmarks).
    #[command(hide = true)]
    BackendSmoke(backend_smoke::SmokeArgs),
    #[command(flatten)]
    Shared(gate_cli::SharedCommand),
}

/// Where the scratch PostgreSQL comes from (overrides `replay.backend`).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Docker,
    Local,
    Url,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Docker => Backend::Docker,
            BackendArg::Local => Backend::Local,
            BackendArg::Url => Backend::Url,
        }
    }
}

/// Flags of the replay and of `gate-replay snapshot`.
#[derive(Debug, Clone, clap::Args)]
struct ReplayArgs {
    /// Database backend: auto, docker, local, url [default: replay.backend]
    #[arg(long, global = true, value_enum, value_name = "KIND")]
    backend: Option<BackendArg>,
    /// Server for the url backend; replay creates and drops its own database there and never
    /// writes to the one named
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "GATE_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Docker image for the docker backend [default: replay.image]
    #[arg(long, global = true, value_name = "IMAGE")]
    image: Option<String>,
    /// Compare the replayed schema with this live database (read-only); from the environment
    /// (a CI secret) so the URL never appears on a command line
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "GATE_REFERENCE_URL",
        hide_env_values = true
    )]
    reference: Option<String>,
    /// Compare with a `pg_dump --schema-only` file, restored into a scratch database
    #[arg(long, global = true, value_name = "FILE")]
    reference_dump: Option<PathBuf>,
    /// Fail (R001) and clean up when the replay runs longer [default: replay.timeout-s]
    #[arg(long, global = true, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=gate_policy::MAX_TIMEOUT_S))]
    timeout: Option<u64>,
    /// Skip the downgrade/upgrade round trip
    #[arg(long, global = true)]
    no_roundtrip: bool,
    /// Step every revision: upgrade, downgrade one step, upgrade again (R007) [default: replay.stairway]
    #[arg(long, global = true)]
    stairway: bool,
    /// L0xx lock and rewrite findings are errors (exit 1) instead of warnings
    #[arg(long, global = true)]
    strict: bool,
    /// Compare env.py's models with the replayed head via `alembic check` (R008) [default: replay.models]
    #[arg(long, global = true)]
    models: bool,
    /// Replay the chain again with generated rows in every table before each migration; a
    /// migration that fails only with rows is R009, and what each statement does to tables
    /// with rows (locks, rewrites, index builds, validation) is L0xx [default: replay.data]
    #[arg(long, global = true)]
    data: bool,
    /// Rows generated per table for --data; 0: only the rows the chain itself writes
    /// [default: replay.rows, 3]
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=gate_policy::MAX_SEED_ROWS))]
    rows: Option<u64>,
    /// Skip the emergency-fix checks
    #[arg(long, global = true)]
    no_fixes: bool,
    /// Verify only the K-th of N slices of the registered fixes (a CI matrix); the
    /// chain-level checks run in shard 1 only
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
}

/// Entry point of the `gate-replay` binary.
pub fn main() -> ExitCode {
    // First of all: an interrupt at any moment ends as 130/143 with what was started removed,
    // never as the default death by signal or as a verdict.
    gate_backends::install_signal_cleanup();
    let cli = Cli::parse();
    if let Err(e) = gate_cli::init("gate-replay", &cli.common) {
        return gate_cli::fail(&e);
    }
    match cli.command {
        Some(Command::Shared(ref shared)) => {
            gate_cli::run_shared(shared, <Cli as clap::CommandFactory>::command())
        }
        Some(Command::Chain) => chain_cmd::chain(&cli.common),
        Some(Command::Lock(ref args)) => chain_cmd::lock(&cli.common, args),
        Some(Command::Snapshot) => run_replay(&cli, Mode::Snapshot),
        Some(Command::Production(ref args)) => match settings(&cli) {
            Ok(s) => production::run(&s, args, cli.common.format),
            Err(e) => gate_cli::fail(&e),
        },
        Some(Command::Consolidate(ref args)) => match settings(&cli) {
            Ok(s) => consolidate::run(&s, args, cli.common.format),
            Err(e) => gate_cli::fail(&e),
        },
        Some(Command::BackendSmoke(ref args)) => backend_smoke::run(
            args,
            cli.replay.backend.map(Backend::from),
            cli.replay.image.clone(),
            cli.replay.database_url.clone(),
        ),
        None => run_replay(&cli, Mode::Check),
    }
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let ws = gate_cli::open_workspace(cli.common.repo.as_deref())?;
    let policy = gate_cli::load_policy(&ws, cli.common.policy.as_deref())?;
    let a = &cli.replay;
    let backend = a.backend.map_or(policy.replay.backend, Backend::from);
    if backend == Backend::Url && a.database_url.is_none() {
        anyhow::bail!(
            "the url backend needs --database-url URL (or GATE_DATABASE_URL) naming a server to create scratch databases on"
        );
    }
    let timeout = a.timeout.unwrap_or(policy.replay.timeout_s);
    if timeout == 0 {
        anyhow::bail!("--timeout / replay.timeout-s must be at least 1 second");
    }
    // Secrets the gate was given: masked in every output from here on.
    for url in a.database_url.iter().chain(a.reference.iter()) {
        gate_report::redact::register_url_secrets(url);
    }
    if let Some(pw) = std::env::var_os("PGPASSWORD") {
        gate_report::redact::register_secret(&pw.to_string_lossy());
    }
    let env = crate::child_env::EnvTemplate::new(&policy)?;
    let shard = a
        .shard
        .as_deref()
        .map(str::parse::<shard::Shard>)
        .transpose()?;
    if shard.is_some() && cli.command.is_some() {
        anyhow::bail!(
            "--shard slices the fix verification of `gate-replay` itself; it does not apply to a subcommand"
        );
    }
    let backend_options = BackendOptions {
        image: a
            .image
            .clone()
            .unwrap_or_else(|| policy.replay.image.clone()),
        database_url: a.database_url.clone(),
        ready_timeout: Duration::from_secs(60),
    };
    Ok(Settings {
        root: ws.root.clone(),
        backend,
        backend_options,
        reference: a.reference.clone(),
        reference_dump: a.reference_dump.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                std::env::current_dir().map_or_else(|_| p.clone(), |d| d.join(p))
            }
        }),
        timeout: Duration::from_secs(timeout),
        roundtrip: policy.replay.roundtrip && !a.no_roundtrip,
        stairway: policy.replay.stairway || a.stairway,
        strict: a.strict,
        models: policy.replay.models || a.models,
        data: policy.replay.data || a.data,
        rows: a.rows.unwrap_or(policy.replay.rows),
        fixes: policy.replay.fixes && !a.no_fixes,
        env,
        shard,
        policy,
    })
}

// The replay command: its "wrote the snapshot" note is the CLI's output.
#[allow(clippy::disallowed_macros)]
fn run_replay(cli: &Cli, mode: Mode) -> ExitCode {
    let settings = match settings(cli) {
        Ok(s) => s,
        Err(e) => return gate_cli::fail(&e),
    };
    let outcome = match runtime::block_on_cleanly(run::replay(&settings, mode)) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return gate_cli::fail(&anyhow::Error::new(CouldNotReplay::from(e))),
        Err(code) => return code,
    };
    if mode == Mode::Snapshot
        && let Some(snap) = &outcome.snapshot
    {
        let path = settings.root.join(&settings.policy.replay.snapshot);
        if let Err(e) = snapshot_cmd::write_atomically(&path, snap) {
            return gate_cli::fail(&anyhow::anyhow!("cannot write {}: {e}", path.display()));
        }
        eprintln!("gate-replay: wrote {}", settings.policy.replay.snapshot);
    }
    gate_cli::emit(&outcome.report, cli.common.format)
}

/// A replay that could not check, as the user reads it: which kind of failure, then the
/// error; its sources follow as `caused by` lines. `gate_cli::fail` masks secrets in all of
/// them, the one place errors are redacted.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {error}")]
struct CouldNotReplay {
    kind: &'static str,
    #[source]
    error: ReplayError,
}

impl From<ReplayError> for CouldNotReplay {
    fn from(error: ReplayError) -> Self {
        let kind = if error.is_config() {
            "the replay is misconfigured"
        } else {
            "the replay could not run"
        };
        CouldNotReplay { kind, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_environment_errors_are_worded_apart() {
        let config = CouldNotReplay::from(ReplayError::Config("bad key".into()));
        assert_eq!(config.to_string(), "the replay is misconfigured: bad key");
        let env = CouldNotReplay::from(ReplayError::Environment("no psql".into()));
        assert_eq!(env.to_string(), "the replay could not run: no psql");
    }

    #[test]
    fn the_source_chain_is_kept_down_to_the_io_error() {
        let e = CouldNotReplay::from(ReplayError::Spawn {
            program: "psql",
            advice: "",
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
        let mut chain = Vec::new();
        let mut next: Option<&dyn std::error::Error> = Some(&e);
        while let Some(err) = next {
            chain.push(err.to_string());
            next = err.source();
        }
        assert_eq!(
            chain,
            [
                "the replay could not run: cannot run psql",
                "cannot run psql",
                "no such file"
            ]
        );
    }
}
