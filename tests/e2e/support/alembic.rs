//! Alembic projects for the replay tests: copies of examples/crisis as git repositories,
//! migration files, and plain `python3 -m alembic` as the reference the gate is held to.

use std::path::Path;
use std::process::{Command, Output};

use super::repo::git_in;
use super::{copy_tree, workspace_root};

/// Plain `python3 -m alembic -c alembic.ini <args>` in `dir` against database `url`
/// (`DATABASE_URL`, as the example's env.py reads it): the reference a verdict is held to.
pub fn alembic_cli(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .args(["-m", "alembic", "-c", "alembic.ini"])
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .output()
        .expect("python3 -m alembic")
}

/// The crisis chain's head.
pub const CRISIS_HEAD: &str = "a0a2f1ab72ce";

/// A git repository in a temp folder holding a copy of examples/crisis (nothing committed).
pub fn crisis() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&workspace_root().join("examples/crisis"), dir.path());
    git_in(dir.path(), &["init", "-q", "."]);
    dir
}

/// A copy of examples/crisis with the example's optional replay checks (stairway, models,
/// data) off, for tests that change the chain to test one thing: a new migration is not in
/// the example's models, and a test turns on what it tests with the flags.
pub fn crisis_plain() -> tempfile::TempDir {
    let repo = crisis();
    let path = repo.path().join("policy.toml");
    let policy = std::fs::read_to_string(&path).unwrap();
    let mut plain = policy.clone();
    for key in ["stairway", "models", "data"] {
        plain = plain.replace(&format!("\n{key} = true\n"), &format!("\n{key} = false\n"));
    }
    assert_ne!(
        plain, policy,
        "examples/crisis/policy.toml turns on no optional check"
    );
    std::fs::write(path, plain).unwrap();
    repo
}

/// The crisis example's Alembic setup alone (alembic.ini, env.py, policy.toml) for a chain of
/// the test's own: no migrations (an empty versions folder), no lockfile, no snapshot, and no
/// application (`app/`, `recovery/`): its models describe the crisis chain, not the test's.
/// The example's optional replay checks (stairway, models, data) are off: a test turns on
/// what it tests with the flags.
pub fn crisis_setup() -> tempfile::TempDir {
    let repo = crisis_plain();
    let dir = repo.path();
    for file in ["migrations.lock", "schema.snapshot.json"] {
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    for folder in ["alembic/versions", "app", "recovery"] {
        std::fs::remove_dir_all(dir.join(folder)).unwrap();
    }
    std::fs::create_dir_all(dir.join("alembic/versions")).unwrap();
    repo
}

/// An Alembic migration file for the crisis chain.
pub fn alembic_migration(rev: &str, parent: &str, upgrade: &str, downgrade: &str) -> String {
    format!(
        "\"\"\"test migration {rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = '{parent}'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n    {downgrade}\n"
    )
}

/// Plain `python3 -m alembic -c alembic.ini heads` in `dir`, as it ran.
pub fn run_alembic_heads(dir: &Path) -> Output {
    Command::new("python3")
        .args(["-m", "alembic", "-c", "alembic.ini", "heads"])
        .current_dir(dir)
        .output()
        .expect("run python3 -m alembic (python3 with alembic is required)")
}

/// Revision ids `alembic heads` prints for the project in `dir` (Alembic's own reading),
/// sorted.
pub fn alembic_heads(dir: &Path) -> Vec<String> {
    let out = run_alembic_heads(dir);
    assert!(
        out.status.success(),
        "alembic heads failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut heads: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    heads.sort();
    heads
}
