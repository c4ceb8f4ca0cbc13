//! Helpers for the gate-replay end-to-end tests: copies of the crisis example (or small SQL
//! chains) as real git repositories in temp folders, the built `gate-replay` binary, and the
//! real PostgreSQL from `ci/test-postgres.sh`. Nothing is mocked; a missing database fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../common/run.rs"]
mod run;
pub use run::Run;

pub const BIN: &str = env!("CARGO_BIN_EXE_gate-replay");

/// The server `ci/test-postgres.sh` starts. Panics (the test fails) when it is not set up.
pub fn server_url() -> String {
    std::env::var("GATE_TEST_DATABASE_URL").expect(
        "GATE_TEST_DATABASE_URL is not set: run `eval \"$(ci/test-postgres.sh)\"` before the tests",
    )
}

/// `server_url()` pointing at another database on the same server.
pub fn url_for(db: &str) -> String {
    let base = server_url();
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database path");
    format!("{prefix}/{db}")
}

impl Run {
    /// Codes of the findings in a `--format json` report.
    pub fn codes(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["code"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Run gate-replay in `dir` with `args`; plain output, no colour, no CI summary file.
pub fn replay(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .env_remove("GATE_POLICY")
        .env_remove("GATE_DATABASE_URL")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run gate-replay");
    Run::from(out)
}

/// Replay on the test server with the url backend, JSON report.
pub fn replay_url(dir: &Path, extra: &[&str]) -> Run {
    let url = server_url();
    let mut args = vec![
        "--backend",
        "url",
        "--database-url",
        url.as_str(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    replay(dir, &args)
}

/// The repository root of Migration Gate.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A git repository in a temp folder holding a copy of examples/crisis.
pub fn crisis() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&workspace_root().join("examples/crisis"), dir.path());
    git_init(dir.path());
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| e.file_name() != "__pycache__")
    {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("under root");
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub fn git_init(dir: &Path) {
    let ok = Command::new("git")
        .args(["init", "-q", "."])
        .current_dir(dir)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git init failed");
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

pub fn append(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    let mut s = std::fs::read_to_string(&p).expect("read");
    s.push_str(text);
    std::fs::write(p, s).expect("write");
}

/// An Alembic migration file for the crisis chain.
pub fn alembic_migration(rev: &str, parent: &str, upgrade: &str, downgrade: &str) -> String {
    format!(
        "\"\"\"test migration {rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = '{parent}'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n    {downgrade}\n"
    )
}

/// The crisis chain's head.
pub const CRISIS_HEAD: &str = "a0a2f1ab72ce";

/// psql against `url`, returning stdout; panics on failure.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Scratch databases a replay left behind on the test server.
pub fn leftover_databases() -> Vec<String> {
    psql(
        &server_url(),
        "SELECT datname FROM pg_database WHERE datname LIKE 'gate_replay_%' ORDER BY 1",
    )
    .lines()
    .map(str::to_string)
    .filter(|l| !l.is_empty())
    .collect()
}

/// A git repository with a `kind = "sql"` chain of `files` in `db/migrations`, replayed on
/// the url backend.
pub fn sql_repo(naming: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "policy.toml",
        &format!(
            "version = 1\n\n[migrations]\nkind = \"sql\"\npath = \"db/migrations\"\nnaming = \"{naming}\"\n\n[replay]\nbackend = \"url\"\n"
        ),
    );
    for (name, text) in files {
        write(dir.path(), &format!("db/migrations/{name}"), text);
    }
    git_init(dir.path());
    dir
}
