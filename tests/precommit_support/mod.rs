//! Helpers for the gate-precommit end-to-end tests: real git repositories in temp folders,
//! driven with the git CLI, and the built `gate-precommit` binary.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "../common/run.rs"]
mod run;
pub use run::Run;

pub const BIN: &str = env!("CARGO_BIN_EXE_gate-precommit");

/// A policy with the DESIGN.md defaults that matter here; `extra` is appended verbatim.
pub fn policy(ddl: bool, extra: &str) -> String {
    format!(
        r#"version = 1

[migrations]
kind = "alembic"
path = "alembic/versions"
lockfile = "migrations.lock"

[emergency]
scope = ["."]
names = ['(?i)emergency', '(?i)(^|[_-])fix', '(?i)repair', '(?i)hotfix']
ddl = {ddl}
ignore = ["setup.py", "conftest.py"]
{extra}"#
    )
}

/// A `[[emergency.script]]` entry approving exactly `content` at `path`.
pub fn registration(path: &str, content: &[u8]) -> String {
    format!(
        r#"
[[emergency.script]]
path = "{path}"
sha256 = "{}"
reason = "production rejected role super_admin"
ticket = "INC-1042"
author = "dev@example.com"
approved-by = "lead@example.com"
approved-on = 2025-09-20
convert-by = 2025-10-04
rollback = "python3 {path} --rollback"
"#,
        sha256(content)
    )
}

/// An Alembic revision file (base revision `id`) whose upgrade runs `ddl`.
pub fn revision(id: &str, ddl: &str) -> Vec<u8> {
    format!(
        "\"\"\"step\n\nRevision ID: {id}\n\"\"\"\nfrom alembic import op\n\nrevision = '{id}'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute('{ddl}')\n"
    )
    .into_bytes()
}

pub fn sha256(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// Environment that isolates git from the machine's and the caller's configuration (a test
/// run inside a git hook would otherwise inherit GIT_DIR / GIT_INDEX_FILE).
pub fn isolate(cmd: &mut Command, home: &Path) {
    for var in [
        "GIT_DIR",
        "GIT_INDEX_FILE",
        "GIT_WORK_TREE",
        "GIT_OBJECT_DIRECTORY",
        "GATE_POLICY",
        "NO_COLOR",
        "GITHUB_STEP_SUMMARY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com");
}

/// A real git repository in a temp folder.
#[derive(Debug)]
pub struct Repo {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
}

impl Repo {
    /// `git init` with a policy.toml written (not committed).
    pub fn new(policy_text: &str) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let r = Repo { tmp, root, home };
        r.git(&["init", "-q", "-b", "main"]);
        r.write("policy.toml", policy_text.as_bytes());
        r
    }

    pub fn path(&self, rel: impl AsRef<OsStr>) -> PathBuf {
        self.root.join(rel.as_ref())
    }

    pub fn write(&self, rel: impl AsRef<OsStr>, content: &[u8]) {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.root);
        isolate(&mut c, &self.home);
        c
    }

    /// Run git, panicking with its output on failure.
    pub fn git<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.cmd("git").args(args).output().expect("run git");
        let run = Run::from(out);
        assert_eq!(
            run.code,
            0,
            "git {:?} failed:\n{run}",
            args.iter()
                .map(|a| a.as_ref().to_owned())
                .collect::<Vec<_>>()
        );
        run.stdout
    }

    /// `git add` of raw-byte paths (odd names).
    pub fn add_raw(&self, rel: &[u8]) {
        let out = self
            .cmd("git")
            .arg("add")
            .arg("--")
            .arg(OsStr::from_bytes(rel))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", Run::from(out));
    }

    pub fn commit(&self, msg: &str) {
        self.git(&["commit", "-q", "--no-verify", "--allow-empty", "-m", msg]);
    }

    /// Run gate-precommit in the repository.
    pub fn gate<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        Run::from(
            self.cmd(BIN)
                .args(args)
                .output()
                .expect("run gate-precommit"),
        )
    }
}
