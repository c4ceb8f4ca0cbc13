//! Shared helpers: policies and Alembic version folders in temp dirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gate_policy::Policy;

pub fn policy(root: &Path, migrations: &str) -> Policy {
    let text = format!("version = 1\n\n[migrations]\n{migrations}\n");
    gate_policy::parse(&text, &root.join("policy.toml"), root)
        .unwrap_or_else(|e| panic!("test policy does not load: {e}\n{text}"))
}

pub fn alembic_policy(root: &Path, max_heads: usize) -> Policy {
    policy(
        root,
        &format!(
            "kind = \"alembic\"\npath = \"alembic/versions\"\nconfig = \"alembic.ini\"\nmax-heads = {max_heads}\n"
        ),
    )
}

/// A real Alembic project: alembic.ini + script location + versions folder.
pub struct AlembicProject {
    pub dir: tempfile::TempDir,
}

impl AlembicProject {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("alembic/versions")).unwrap();
        std::fs::write(
            dir.path().join("alembic.ini"),
            "[alembic]\nscript_location = alembic\nrecursive_version_locations = true\n",
        )
        .unwrap();
        AlembicProject { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn versions(&self) -> PathBuf {
        self.dir.path().join("alembic/versions")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.versions().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Write a revision the way Alembic's default `script.py.mako` does.
    pub fn revision(&self, rel: &str, id: &str, parents: &[&str], labels: &[&str], deps: &[&str]) {
        self.write(rel, &template(id, parents, labels, deps));
    }

    fn alembic(&self, args: &[&str]) -> String {
        let out = Command::new("python3")
            .args(["-m", "alembic", "-c"])
            .arg(self.root().join("alembic.ini"))
            .args(args)
            .current_dir(self.root())
            .output()
            .expect("python3 must be installed with alembic (pip install alembic)");
        assert!(
            out.status.success(),
            "alembic {args:?} failed (is alembic installed? pip install alembic): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Heads as `alembic heads` prints them (first word of each line), sorted.
    pub fn alembic_heads(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .alembic(&["heads"])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        v.sort();
        v
    }

    /// `alembic history` lines as (down part, revision), newest first.
    pub fn alembic_history(&self) -> Vec<(String, String)> {
        self.alembic(&["history"])
            .lines()
            .filter(|l| l.contains(" -> "))
            .map(|l| {
                let (down, rest) = l.split_once(" -> ").unwrap();
                let rev = rest
                    .split([' ', ','])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                (down.to_string(), rev)
            })
            .collect()
    }
}

fn py_tuple(items: &[&str]) -> String {
    match items {
        [] => "None".into(),
        [one] => format!("{one:?}"),
        many => format!(
            "({})",
            many.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The text Alembic 1.x generates for a new revision.
pub fn template(id: &str, parents: &[&str], labels: &[&str], deps: &[&str]) -> String {
    let labels = if labels.is_empty() {
        "None".to_string()
    } else {
        format!(
            "({},)",
            labels
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        r#""""{id} message

Revision ID: {id}
Revises: {revises}
Create Date: 2024-05-01 12:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = {id:?}
down_revision: Union[str, Sequence[str], None] = {down}
branch_labels: Union[str, Sequence[str], None] = {labels}
depends_on: Union[str, Sequence[str], None] = {deps}


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
"#,
        revises = parents.join(", "),
        down = py_tuple(parents),
        deps = py_tuple(deps),
    )
}
