//! `gate-approve`: governance of emergency fixes (A001–A012, G005), the approval recorded in git,
//! `register` / `baseline` to fill the registry, and the report reviewers read.

pub mod check;
pub mod history;
mod register;
pub mod relax;
pub mod replay;
mod report;
pub mod triage;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gate_cli::{CommonArgs, TodayArg};
use gate_report::Report;

#[derive(Debug, Parser)]
#[command(
    name = "gate-approve",
    version,
    about = "Governance of emergency fixes: approval, four-eyes, deadlines, rollback; the reviewers' report",
    after_help = gate_cli::EXIT_CODES_HELP
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    today: TodayArg,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Check every registry entry against A001–A012 and the lockfile (G005) (the default)
    Check,
    /// Register an emergency script (or re-pin it with --update)
    Register(register::RegisterArgs),
    /// Register every unregistered emergency script as legacy, with a deadline and a triage
    Baseline {
        /// Deadline for the legacy scripts [default: today + governance.convert-within-days]
        #[arg(long, value_name = "YYYY-MM-DD")]
        convert_by: Option<String>,
        #[command(flatten)]
        replay: ReplayArg,
    },
    /// The registry, deadlines, the chain with each fix, and all findings
    Report {
        #[command(flatten)]
        replay: ReplayArg,
    },
    #[command(flatten)]
    Shared(gate_cli::SharedCommand),
}

/// `--replay FILE`, shared by `report`, `baseline` and `register`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReplayArg {
    /// The JSON of a `gate-replay` run (`--format json` / `--output json=FILE`) to join:
    /// its findings, timings and captured SQL per fix; repeat it for each shard
    #[arg(long = "replay", value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
}

impl ReplayArg {
    /// The joined replays, checked for missing shards and unverified fixes of `policy`.
    pub fn join(&self, policy: &gate_policy::Policy) -> anyhow::Result<Option<replay::Joined>> {
        let mut joined = replay::Joined::read(&self.files)?;
        if let Some(j) = &mut joined {
            j.add_completeness(policy);
        }
        Ok(joined)
    }
}

/// Entry point of the `gate-approve` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = gate_cli::init("gate-approve", &cli.common) {
        return gate_cli::fail(&e);
    }
    if let Some(Cmd::Shared(shared)) = &cli.cmd {
        return gate_cli::run_shared(shared, <Cli as clap::CommandFactory>::command());
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => gate_cli::fail(&e),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ws = gate_cli::open_workspace(cli.common.repo.as_deref())?;
    let today = cli.today.resolve()?;
    let policy_path = gate_cli::policy_path(&ws, cli.common.policy.as_deref());
    let policy = gate_cli::load_policy(&ws, cli.common.policy.as_deref())?;
    let policy_rel = relative_to(&ws.root, &policy_path);
    let ctx = check::Context {
        root: &ws.root,
        repo: &ws.repo,
        policy_rel,
        today,
    };
    match cli.cmd.unwrap_or(Cmd::Check) {
        Cmd::Check => {
            let findings = check::check(&policy, &ctx)?;
            let mut report = Report::new(
                "gate-approve",
                format!(
                    "{} registered emergency script{} in {}",
                    policy.emergency.scripts.len(),
                    if policy.emergency.scripts.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    ctx.policy_rel
                ),
            );
            report.findings = findings;
            report.checks = entry_checks(&policy);
            report.sort();
            Ok(gate_cli::emit(&report, cli.common.format))
        }
        Cmd::Report { replay } => {
            let joined = replay.join(&policy)?;
            let report = report::build(&policy, &ctx, joined.as_ref())?;
            Ok(gate_cli::emit(&report, cli.common.format))
        }
        Cmd::Register(args) => register::register(
            &ws,
            cli.common.repo.as_deref(),
            &policy,
            &policy_path,
            today,
            &args,
        ),
        Cmd::Baseline { convert_by, replay } => {
            let joined = replay.join(&policy)?;
            let convert_by = convert_by
                .map(|s| {
                    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").with_context(|| {
                        format!("--convert-by `{s}` is not a calendar date of the form YYYY-MM-DD")
                    })
                })
                .transpose()?;
            let report = register::baseline(
                &ws,
                &policy,
                &policy_path,
                &ctx.policy_rel,
                today,
                convert_by,
                joined.as_ref(),
            )?;
            Ok(gate_cli::emit(&report, cli.common.format))
        }
        // Answered in `main` before the repository is opened.
        Cmd::Shared(shared) => Ok(gate_cli::run_shared(
            &shared,
            <Cli as clap::CommandFactory>::command(),
        )),
    }
}

/// `path` relative to `root` with `/`, or as given when it lies elsewhere.
fn relative_to(root: &Path, path: &Path) -> String {
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    abs.strip_prefix(root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| path.display().to_string())
}

/// The per-entry rules `check::check` evaluates on every registry entry, as the checks run
/// on it (JUnit lists each, passing or not; findings name the entry the same way).
fn entry_checks(policy: &gate_policy::Policy) -> Vec<gate_report::CheckRun> {
    use gate_report::Code::*;
    const PER_ENTRY: [gate_report::Code; 11] = [
        A001, A002, A003, A004, A005, A006, A007, A008, A009, A010, A011,
    ];
    policy
        .emergency
        .scripts
        .iter()
        .flat_map(|s| {
            PER_ENTRY
                .iter()
                .map(|&code| gate_report::CheckRun::new(code, s.path.clone()))
        })
        .collect()
}
