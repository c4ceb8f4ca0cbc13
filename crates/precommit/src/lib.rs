//! `gate-precommit`: rejects unregistered emergency scripts (G001), edits to approved ones
//! (G002) and edits to released migrations (G003/G004), in the staged changes (the git hook)
//! or in the whole working tree (`--all`, for CI).

pub mod install;
mod judge;
mod staged;
mod worktree;

/// The index reader `scan_staged` takes; it lives with the rest of the detection.
pub use gate_scripts::StagedIndex;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gate_cli::CommonArgs;
use gate_policy::Policy;
use gate_report::{CheckRun, Finding, Report};

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Listing or reading the candidates (index, working tree) failed.
    #[error(transparent)]
    Scripts(#[from] gate_scripts::Error),
    /// `error` is deliberately not a `#[source]`: its message is already in the text, and
    /// libgit2's class/code suffix would only repeat it as a "caused by" line.
    #[error("{what}: {}", error.message())]
    Git { what: String, error: git2::Error },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Chain(#[from] gate_chain::ChainError),
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// How many files were judged.
    pub checked: usize,
    /// Which check ran on which file or registry entry (JUnit lists each, passing or not).
    pub checks: Vec<CheckRun>,
}

/// Staged mode: judge the index of `repo` against HEAD. `index` is the index git is about to
/// commit (normally `.git/index`, but `GIT_INDEX_FILE` during `git commit -a`/`git commit
/// PATH`), read with [`StagedIndex::open`].
pub fn scan_staged(
    repo: &git2::Repository,
    index: &StagedIndex,
    policy: &Policy,
) -> Result<Outcome, ScanError> {
    staged::scan(repo, index, policy)
}

/// `--all`: judge the working tree under `root`.
pub fn scan_worktree(root: &Path, policy: &Policy) -> Result<Outcome, ScanError> {
    worktree::scan(root, policy)
}

#[derive(Debug, Parser)]
#[command(
    name = "gate-precommit",
    version,
    about = "Rejects unregistered emergency scripts and edits to released migrations in the staged changes (git hook) or the working tree (--all)",
    after_help = gate_cli::EXIT_CODES_HELP,
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Check every file in the working tree instead of the staged changes (for CI: catches
    /// commits made with --no-verify)
    #[arg(long)]
    all: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install the git pre-commit hook (honours core.hooksPath)
    Install {
        /// Replace a pre-commit hook that gate-precommit did not write
        #[arg(long)]
        force: bool,
    },
    #[command(flatten)]
    Shared(gate_cli::SharedCommand),
}

/// Entry point of the `gate-precommit` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = gate_cli::init("gate-precommit", &cli.common) {
        return gate_cli::fail(&e);
    }
    let result = match &cli.command {
        Some(Command::Install { .. }) if cli.all => Err(anyhow::anyhow!(
            "--all checks the working tree; it cannot be combined with `install`"
        )),
        Some(Command::Install { force }) => install_cmd(&cli.common, *force),
        Some(Command::Shared(shared)) => {
            return gate_cli::run_shared(shared, <Cli as clap::CommandFactory>::command());
        }
        None => check(&cli),
    };
    result.unwrap_or_else(|e| gate_cli::fail(&e))
}

// A command: its one-line confirmation is the CLI's output.
#[allow(clippy::disallowed_macros)]
fn install_cmd(common: &CommonArgs, force: bool) -> anyhow::Result<ExitCode> {
    let ws = gate_cli::open_workspace(common.repo.as_deref())?;
    let done = install::install(&ws.repo, &ws.root, force)?;
    let msg = match done {
        install::Installed::Created(p) => format!("installed {}", p.display()),
        install::Installed::Updated(p) => format!("updated {}", p.display()),
        install::Installed::Unchanged(p) => format!("already installed: {}", p.display()),
        install::Installed::Replaced(p) => {
            format!("replaced the existing hook {} (--force)", p.display())
        }
    };
    println!("gate-precommit: {msg}");
    Ok(ExitCode::SUCCESS)
}

/// G003 (released migration edited) and G004 (migration before release) ran on every
/// migration of the chain the lockfile is compared with.
fn lock_checks(
    policy: &Policy,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    checks: &mut Vec<CheckRun>,
) {
    for (path, content) in files {
        let chain = gate_chain::is_chain_file(policy, path, || Ok::<_, ()>(content.clone()))
            .unwrap_or(false);
        if chain {
            checks.push(CheckRun::new(gate_report::Code::G003, path.clone()));
            checks.push(CheckRun::new(gate_report::Code::G004, path.clone()));
        }
    }
}

/// The index git is committing: `GIT_INDEX_FILE` when git set it for the hook (a temporary
/// index during `git commit -a` or `git commit PATH`), else the repository's index.
fn open_index(repo: &git2::Repository) -> anyhow::Result<StagedIndex> {
    let path = match std::env::var_os("GIT_INDEX_FILE").filter(|v| !v.is_empty()) {
        Some(p) => {
            let path = PathBuf::from(p);
            if path.is_relative() {
                std::env::current_dir()?.join(path)
            } else {
                path
            }
        }
        // A linked worktree keeps its own index in its private git dir, which is repo.path().
        None => repo.path().join("index"),
    };
    Ok(StagedIndex::open(&path)?)
}

/// The policy the commit will carry: policy.toml as staged, else as in HEAD, else the working
/// copy (a repository without commits). Judging staged files against the working copy would
/// let an unstaged edit (`scope = ["nowhere"]`) wave a staged script through. A staged change
/// of the policy itself is judged here as it will be committed; relaxing a gate that way is
/// for CI's `gate-approve` (A012) to refuse, not the hook.
fn committed_policy(ws: &gate_cli::Workspace, index: &StagedIndex) -> anyhow::Result<Policy> {
    const NAME: &str = "policy.toml";
    let staged = index
        .get(NAME.as_bytes())
        .filter(|e| index.stage(e) == 0 && !index.intent_to_add(e))
        .map(|e| (index.id(e), "staged"));
    let committed = || -> anyhow::Result<Option<(git2::Oid, &'static str)>> {
        let Some(tree) = staged::head_tree(&ws.repo)? else {
            return Ok(None);
        };
        Ok(tree
            .get_path(Path::new(NAME))
            .ok()
            .filter(|e| e.kind() == Some(git2::ObjectType::Blob))
            .map(|e| (e.id(), "HEAD")))
    };
    let Some((id, from)) = staged.map_or_else(committed, |s| Ok(Some(s)))? else {
        return gate_cli::load_policy(ws, None);
    };
    let shown = format!("{NAME} ({from})");
    let blob = ws
        .repo
        .find_blob(id)
        .map_err(|e| anyhow::anyhow!("cannot read {shown} (blob {id}): {}", e.message()))?;
    let text = std::str::from_utf8(blob.content())
        .map_err(|e| anyhow::anyhow!("{shown} is not UTF-8 text ({e}); save it as UTF-8"))?;
    // Diagnostics name the file as "policy.toml (staged)"; findings and the gate-file
    // exclusion need the real path.
    let mut policy = gate_policy::parse(text, &ws.root.join(&shown), &ws.root)?;
    policy.file = ws.root.join(NAME);
    Ok(policy)
}

fn check(cli: &Cli) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let ws = gate_cli::open_workspace(cli.common.repo.as_deref())?;
    let (outcome, subject) = if cli.all {
        let policy = gate_cli::load_policy(&ws, cli.common.policy.as_deref())?;
        let mut outcome = scan_worktree(&ws.root, &policy)?;
        outcome
            .findings
            .extend(worktree::lock_missing(&ws.repo, &ws.root, &policy)?);
        let lockfile = policy.migrations.lockfile.trim_start_matches("./");
        outcome
            .checks
            .push(CheckRun::new(gate_report::Code::G005, lockfile));
        (outcome, "working tree")
    } else {
        let index = open_index(&ws.repo)?;
        let policy = match cli.common.policy.as_deref() {
            // An explicit `--policy FILE` / `GATE_POLICY` is what the user asked for.
            Some(file) => gate_cli::load_policy(&ws, Some(file))?,
            None => committed_policy(&ws, &index)?,
        };
        gate_cli::verbose(&format!("read policy {}", policy.file.display()));
        (scan_staged(&ws.repo, &index, &policy)?, "staged changes")
    };
    let files = if outcome.checked == 1 {
        "file"
    } else {
        "files"
    };
    gate_cli::verbose(&format!("checked {} {files} ({subject})", outcome.checked));
    let mut report = Report::new(
        "gate-precommit",
        format!("{subject}: {} {files} checked", outcome.checked),
    );
    report.findings = outcome.findings;
    report.checks = outcome.checks;
    report.duration = Some(started.elapsed());
    report.sort();
    Ok(gate_cli::emit(&report, cli.common.format))
}
