//! The command-line surface every gate shares: `--repo`, `--policy`, `--format`,
//! `--output FORMAT=FILE`, `--quiet` / `--verbose`, `--color`, `--today`, the `explain` and
//! `completions` subcommands, how the repository and policy are found, and how a run becomes
//! an exit code and output in every requested format (an exit 2 included).
//!
//! Exit codes: `0` every check passed, `1` at least one error finding, `2` the check could
//! not run (usage, configuration, environment). The gates fail closed: anything that stops a
//! check from running ends in `2`, never `0`.

mod output;
mod shared;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use gate_policy::Policy;
use gate_report::redact::redact;
use gate_report::{CheckError, Format, Problem, Report};

pub use output::OutputTarget;
pub use shared::{SharedCommand, run_shared};

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
    /// Also write FORMAT to FILE in the same run (repeatable), e.g. --output sarif=gate.sarif
    #[arg(long, global = true, value_name = "FORMAT=FILE")]
    pub output: Vec<OutputTarget>,
    /// Print only the findings: no summary line, no progress
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print what was read and how long each step took (on stderr)
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Colour in text output: auto (a terminal; honours NO_COLOR and CLICOLOR_FORCE), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// How much a gate says besides its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// What `--format`, `--output`, `--quiet`/`--verbose` and `--color` asked for, fixed once per
/// process by [`init`] so [`emit`] and [`fail`] (called from deep in a gate) honour them.
#[derive(Debug)]
struct RunSettings {
    tool: &'static str,
    format: Format,
    verbosity: Verbosity,
    color: ColorWhen,
    started: Instant,
}

static RUN: OnceLock<RunSettings> = OnceLock::new();
/// The repository root, once found: exit-2 problems name files relative to it.
static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Fix the output settings for this run and check every `--output` target can be written,
/// before any check runs. Call it right after parsing; a later call changes nothing.
pub fn init(tool: &'static str, common: &CommonArgs) -> anyhow::Result<()> {
    let verbosity = if common.quiet {
        Verbosity::Quiet
    } else if common.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let _ = RUN.set(RunSettings {
        tool,
        format: common.format,
        verbosity,
        color: common.color,
        started: Instant::now(),
    });
    for target in &common.output {
        target.check_writable()?;
    }
    // Set only once every target is known to be writable: a bad one fails the run with the
    // error on stdout, and no file is written.
    let _ = OUTPUTS.set(common.output.clone());
    Ok(())
}

/// The `--output` targets, set by [`init`] once all were checked.
static OUTPUTS: OnceLock<Vec<OutputTarget>> = OnceLock::new();

fn outputs() -> &'static [OutputTarget] {
    OUTPUTS.get().map_or(&[], Vec::as_slice)
}

/// `--quiet`, `--verbose` or neither; `Normal` before [`init`].
pub fn verbosity() -> Verbosity {
    RUN.get().map_or(Verbosity::Normal, |r| r.verbosity)
}

/// A progress or timing line on stderr, shown only with `--verbose`.
// The binaries' output: `--verbose` lines go to stderr, never into the report.
#[allow(clippy::disallowed_macros)]
pub fn verbose(line: &str) {
    if let Some(run) = RUN.get()
        && run.verbosity == Verbosity::Verbose
    {
        eprintln!(
            "{}: [{:>6} ms] {}",
            run.tool,
            run.started.elapsed().as_millis(),
            redact(line)
        );
    }
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
    let _ = ROOT.set(root.clone());
    verbose(&format!("repository {}", root.display()));
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
    let policy = gate_policy::load(&path, &ws.root)?;
    verbose(&format!(
        "read policy {} ({} registered emergency scripts)",
        path.display(),
        policy.emergency.scripts.len()
    ));
    Ok(policy)
}

/// Render the report to stdout in `format` and to every `--output` file; for `github`, also
/// append the Markdown summary to `$GITHUB_STEP_SUMMARY` when set. Returns the exit code (0 or
/// 1), or 2 when an output could not be written.
// The binaries' output: rendering the report is what gate-cli is for.
#[allow(clippy::disallowed_macros)]
pub fn emit(report: &Report, format: Format) -> ExitCode {
    let report = &report.redacted();
    let run = RUN.get();
    let options = render_options(run);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = gate_report::render_with(report, format, &mut out, &options) {
        // A closed pipe (`| head`) is not a failed check.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the report: {e}");
            return ExitCode::from(2);
        }
    }
    drop(out);
    for target in outputs() {
        let mut bytes = Vec::new();
        // Files never get colour, and `--quiet` is about the terminal.
        let written = gate_report::render(report, target.format, &mut bytes)
            .map_err(anyhow::Error::from)
            .and_then(|()| target.write(&bytes));
        if let Err(e) = written {
            eprintln!("error: {}", redact(&format!("{e:#}")));
            return ExitCode::from(2);
        }
        verbose(&format!(
            "wrote {} to {}",
            target.format,
            target.path.display()
        ));
    }
    if format == Format::Github
        && let Err(e) = append_step_summary(|f| gate_report::render(report, Format::Markdown, f))
    {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let (errors, warnings, notes) = report.counts();
    verbose(&format!(
        "done: {errors} errors, {warnings} warnings, {notes} notes"
    ));
    ExitCode::from(report.exit_code())
}

/// Colour for stdout per `--color`, and `--quiet`.
fn render_options(run: Option<&RunSettings>) -> gate_report::RenderOptions {
    let auto = gate_report::RenderOptions::for_stdout();
    let Some(run) = run else { return auto };
    let options = match run.color {
        ColorWhen::Auto => auto,
        ColorWhen::Always => auto.color(true),
        ColorWhen::Never => auto.color(false),
    };
    options.quiet(run.verbosity == Verbosity::Quiet)
}

/// Append to `$GITHUB_STEP_SUMMARY` when it is set (GitHub's job summary).
fn append_step_summary(
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), String> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| write(&mut f))
        .map_err(|e| {
            format!(
                "error: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&path).display()
            )
        })
}

/// Print an error that stopped a check from running and return exit code 2. The error goes
/// to stderr as always; a machine `--format` also gets it on stdout, and every `--output`
/// file gets it in its format, so CI can annotate it and an upload step finds its file.
// The binaries' output: an error that stopped a check is reported here, once.
#[allow(clippy::disallowed_macros)]
pub fn fail(err: &anyhow::Error) -> ExitCode {
    let text = error_text(err);
    eprintln!("{text}");
    let Some(run) = RUN.get() else {
        return ExitCode::from(2);
    };
    let check_error = CheckError {
        tool: run.tool,
        message: text.clone(),
        problems: problems(err, &text),
    };
    if run.format != Format::Text {
        let mut out = std::io::stdout().lock();
        if let Err(e) = gate_report::render_error(&check_error, run.format, &mut out)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            eprintln!("error: cannot write the error report: {e}");
        }
    }
    for target in outputs() {
        let mut bytes = Vec::new();
        let rendered = match target.format {
            Format::Text => {
                bytes.extend_from_slice(text.as_bytes());
                bytes.push(b'\n');
                Ok(())
            }
            format => gate_report::render_error(&check_error, format, &mut bytes),
        };
        if let Err(e) = rendered
            .map_err(anyhow::Error::from)
            .and_then(|()| target.write(&bytes))
        {
            eprintln!("error: {}", redact(&format!("{e:#}")));
        }
    }
    if run.format == Format::Github
        && let Err(e) =
            append_step_summary(|f| gate_report::render_error(&check_error, Format::Markdown, f))
    {
        eprintln!("{e}");
    }
    ExitCode::from(2)
}

/// The error as stderr shows it: `error: ...` and each cause the message does not already
/// contain, redacted.
fn error_text(err: &anyhow::Error) -> String {
    let first = redact(&err.to_string());
    // Policy diagnostics arrive rendered like rustc's, each already starting with `error`.
    let mut text = if first.starts_with("error") {
        first
    } else {
        format!("error: {first}")
    };
    let mut source = err.source();
    while let Some(s) = source {
        if !err.to_string().contains(&s.to_string()) {
            text.push_str("\n  caused by: ");
            text.push_str(&redact(&s.to_string()));
        }
        source = s.source();
    }
    text
}

/// One located problem per policy diagnostic when a policy error is in the chain; else the
/// whole error as one problem without a place.
fn problems(err: &anyhow::Error, text: &str) -> Vec<Problem> {
    let diagnostics = err.chain().find_map(|e| match e.downcast_ref() {
        Some(gate_policy::PolicyError::Invalid { diagnostics, .. }) => Some(diagnostics),
        _ => None,
    });
    match diagnostics {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|d| Problem {
                message: redact(&d.message),
                path: Some(redact(&display_path(&d.file))),
                line: d.line,
                column: d.column,
            })
            .collect(),
        _ => {
            let message = text.strip_prefix("error: ").unwrap_or(text);
            vec![Problem {
                message: message.to_string(),
                path: None,
                line: None,
                column: None,
            }]
        }
    }
}

/// A path relative to the repository root when it lies inside, with `/` separators, as
/// annotations and SARIF want; else as given.
fn display_path(path: &Path) -> String {
    let path = &without_source_suffix(path);
    let rel = ROOT.get().and_then(|root| {
        let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        full.strip_prefix(root).ok().map(Path::to_path_buf)
    });
    let Some(rel) = rel else {
        return path.display().to_string();
    };
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// gate-precommit names a policy read from git `policy.toml (staged)` or `policy.toml (HEAD)`;
/// an annotation or SARIF location needs the file's real path.
fn without_source_suffix(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    for suffix in [" (staged)", " (HEAD)"] {
        if let Some(real) = text.strip_suffix(suffix) {
            return PathBuf::from(real);
        }
    }
    path.to_path_buf()
}
