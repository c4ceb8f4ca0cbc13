//! The one way the end-to-end tests run a gate binary: one environment scrub, one output type
//! with the exit code and both streams.

use std::path::Path;
use std::process::{Command, Output};

pub const PRECOMMIT: &str = env!("CARGO_BIN_EXE_gate-precommit");
pub const REPLAY: &str = env!("CARGO_BIN_EXE_gate-replay");
pub const APPROVE: &str = env!("CARGO_BIN_EXE_gate-approve");

/// Variables that name a database; a run starts without them unless a test sets them, so a
/// developer's shell (or CI's service container) never decides where a replay writes.
pub const DATABASE_VARS: &[&str] = &[
    "DATABASE_URL",
    "GATE_DATABASE_URL",
    "GATE_REFERENCE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSERVICE",
    "PGSSLMODE",
    "PGOPTIONS",
];

/// Variables inherited from the caller that change what a gate (or git) does: a test run
/// inside a git hook inherits GIT_DIR / GIT_INDEX_FILE; the GATE_* defaults would override the
/// policy or the date; a CI summary file would be appended to; GATE_PG_BINDIR would bypass the
/// server discovery the local backend is tested with.
const INHERITED: &[&str] = &[
    "GIT_DIR",
    "GIT_INDEX_FILE",
    "GIT_WORK_TREE",
    "GIT_OBJECT_DIRECTORY",
    "GATE_POLICY",
    "GATE_TODAY",
    "GATE_PG_BINDIR",
    "GITHUB_STEP_SUMMARY",
    "CLICOLOR_FORCE",
];

/// The one environment scrub: drop what the caller's environment would decide, then fix
/// plain output (no colour) and no progress bar (`CI`). System git config is ignored.
/// Tests that need a variable set it on the command after this.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for var in INHERITED.iter().chain(DATABASE_VARS) {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
        .env("CI", "true")
        .env("GIT_CONFIG_NOSYSTEM", "1")
}

/// `program` started in `dir` with the scrubbed environment.
pub fn command(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    scrub(&mut cmd);
    cmd
}

/// Run `bin ARGS` in `dir` with the scrubbed environment.
pub fn gate(bin: &str, dir: &Path, args: &[&str]) -> Run {
    Run::of(command(bin, dir).args(args))
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// `-1` when the process was killed by a signal.
    pub fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run `cmd` to completion (stdin closed, both streams captured).
    pub fn of(cmd: &mut Command) -> Self {
        let program = cmd.get_program().to_string_lossy().into_owned();
        Run::from(
            cmd.output()
                .unwrap_or_else(|e| panic!("cannot run {program}: {e}")),
        )
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// stdout parsed as a `--format json` report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Findings with `code` in a `--format json` report.
    pub fn findings(&self, code: &str) -> Vec<serde_json::Value> {
        self.json()["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["code"] == code)
            .cloned()
            .collect()
    }

    /// Codes of the findings in a `--format json` report, in order.
    pub fn json_codes(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["code"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The `A0xx` rule codes in gate-approve's text output, in order.
    pub fn text_codes(&self) -> Vec<String> {
        let re = regex::Regex::new(r"(?m)^error\[(A\d{3})\]").unwrap();
        re.captures_iter(&self.stdout)
            .map(|c| c[1].to_string())
            .collect()
    }
}

/// Exit code and both streams together, for assertion messages.
impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `bin` with the scrubbed environment, for tests that set the folder and arguments themselves.
pub fn gate_command(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    scrub(&mut cmd);
    cmd
}
