//! The command-line surface every gate shares: `--repo`, `--policy`, `--format`, `--today`,
//! how the repository and policy are found, and how a run becomes an exit code.
//!
//! Exit codes: `0` every check passed, `1` at least one error finding, `2` the check could
//! not run (usage, configuration, environment). The gates fail closed: anything that stops a
//! check from running ends in `2`, never `0`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use gate_policy::Policy;
use gate_report::redact::redact;
use gate_report::{Format, Report};

/// The `--help` footer every binary shows: exit codes are part of the contract.
pub const EXIT_CODES_HELP: &str =
    "Exit codes: 0 every check passed, 1 at least one error finding, 2 could not check.";

/// Flags every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Repository to check [default: the git repository containing the current folder]
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Policy file [default: $GATE_POLICY, else policy.toml at the repository root]
    #[arg(long, global = true, value_name = "FILE", env = "GATE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Output format: text, json, markdown, github, sarif, junit
    #[arg(long, global = true, default_value = "text", value_name = "FORMAT")]
    pub format: Format,
}

/// Flag for date-dependent checks.
#[derive(Debug, Clone, clap::Args)]
pub struct TodayArg {
    /// Treat this date as today (reproducible reports)
    #[arg(long, global = true, value_name = "YYYY-MM-DD", env = "GATE_TODAY")]
    pub today: Option<String>,
}

impl TodayArg {
    pub fn resolve(&self) -> anyhow::Result<NaiveDate> {
        match &self.today {
            Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").with_context(|| {
                format!("--today / GATE_TODAY `{s}` is not a date of the form YYYY-MM-DD")
            }),
            None => Ok(chrono::Local::now().date_naive()),
        }
    }
}

/// The repository a gate runs on: its work-tree root and its git handle.
pub struct Workspace {
    pub root: PathBuf,
    pub repo: git2::Repository,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("root", &self.root)
            .finish()
    }
}

/// Find the repository: `--repo DIR`, else the one containing the current folder.
/// Bare repositories are refused: the gates judge files in a work tree.
pub fn open_workspace(repo_arg: Option<&Path>) -> anyhow::Result<Workspace> {
    let start = match repo_arg {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let repo = git2::Repository::discover(&start).map_err(|e| {
        anyhow::anyhow!(
            "{} is not inside a git repository ({}); run the gate inside one or pass --repo DIR",
            start.display(),
            e.message()
        )
    })?;
    let Some(root) = repo.workdir().map(Path::to_path_buf) else {
        bail!(
            "{} is a bare repository; the gates need a work tree (clone it, or run in a checkout)",
            repo.path().display()
        );
    };
    let root = root.canonicalize().unwrap_or(root);
    Ok(Workspace { root, repo })
}

/// Where the policy lives: `--policy` / `GATE_POLICY`, else `policy.toml` at the root.
pub fn policy_path(ws: &Workspace, policy_arg: Option<&Path>) -> PathBuf {
    match policy_arg {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf()),
        None => ws.root.join("policy.toml"),
    }
}

/// Load the policy, turning a missing default file into advice.
pub fn load_policy(ws: &Workspace, policy_arg: Option<&Path>) -> anyhow::Result<Policy> {
    let path = policy_path(ws, policy_arg);
    if !path.exists() {
        bail!(
            "policy file {} not found; create one (see the reference policy.toml in Migration Gate's README) or pass --policy FILE",
            path.display()
        );
    }
    Ok(gate_policy::load(&path, &ws.root)?)
}

/// Render the report to stdout; for `github`, also append the Markdown summary to
/// `$GITHUB_STEP_SUMMARY` when set. Returns the exit code (0 or 1).
// The binaries' output: rendering the report is what gate-cli is for.
#[allow(clippy::disallowed_macros)]
pub fn emit(report: &Report, format: Format) -> ExitCode {
    let report = &report.redacted();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let options = gate_report::RenderOptions::for_stdout();
    if let Err(e) = gate_report::render_with(report, format, &mut out, &options) {
        // A closed pipe (`| head`) is not a failed check.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the report: {e}");
            return ExitCode::from(2);
        }
    }
    if format == Format::Github
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
    {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| gate_report::render(report, Format::Markdown, &mut f));
        if let Err(e) = written {
            eprintln!(
                "error: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&path).display()
            );
            return ExitCode::from(2);
        }
    }
    ExitCode::from(report.exit_code())
}

/// Print an error that stopped a check from running and return exit code 2.
// The binaries' output: an error that stopped a check is reported on stderr here, once.
#[allow(clippy::disallowed_macros)]
pub fn fail(err: &anyhow::Error) -> ExitCode {
    let text = redact(&err.to_string());
    // Policy diagnostics arrive rendered like rustc's, each already starting with `error`.
    if text.starts_with("error") {
        eprintln!("{text}");
    } else {
        eprintln!("error: {text}");
    }
    let mut source = err.source();
    while let Some(s) = source {
        let text = redact(&s.to_string());
        if !err.to_string().contains(&s.to_string()) {
            eprintln!("  caused by: {text}");
        }
        source = s.source();
    }
    ExitCode::from(2)
}
