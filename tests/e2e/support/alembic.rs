//! Alembic projects for the replay tests: copies of examples/crisis as git repositories,
//! migration files, and plain `python3 -m alembic` as the reference the gate is held to.

use std::path::Path;
use std::process::{Command, Output};

use super::repo::git_in;
use super::{copy_tree, workspace_root};

/// The crisis chain's head.
pub const CRISIS_HEAD: &str = "a0a2f1ab72ce";

/// A git repository in a temp folder holding a copy of examples/crisis (nothing committed).
pub fn crisis() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&workspace_root().join("examples/crisis"), dir.path());
    git_in(dir.path(), &["init", "-q", "."]);
    dir
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
