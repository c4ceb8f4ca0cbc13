//! Helpers for the gate-approve end-to-end tests: real git repositories in temp folders,
//! commits made with the git CLI under chosen author/committer identities, and the built
//! `gate-approve` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "../common/run.rs"]
mod run;
pub use run::Run;

pub const BIN: &str = env!("CARGO_BIN_EXE_gate-approve");
pub const PRECOMMIT: &str = env!("CARGO_BIN_EXE_gate-precommit");
pub const REPLAY: &str = env!("CARGO_BIN_EXE_gate-replay");

pub const DEV: &str = "dev@example.com";
pub const LEAD: &str = "lead@example.com";
/// Today for every check unless a test says otherwise: inside the default entry's window.
pub const TODAY: &str = "2026-01-05";
pub const SCRIPT: &str = "fix_orders.py";
pub const SCRIPT_TEXT: &str =
    "import os\n# repair\nprint(\"ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text\")\n";

pub fn sha256(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// A policy; `governance_extra` goes into `[governance]`, `entries` after everything.
pub fn policy(governance_extra: &str, entries: &str) -> String {
    format!(
        r#"# Team policy. Comments and layout must survive every edit.
version = 1

[migrations]
kind = "alembic"
path = "alembic/versions"

[emergency]
scope = ["."]   # the repository root

[governance]
# Technical leads.
approvers = ["lead@example.com"]
ticket = '^(INC|OPS)-[0-9]+$'
convert-within-days = 14
four-eyes = true
{governance_extra}
{entries}"#
    )
}

/// A complete, valid active entry for `SCRIPT`; `over` replaces (Some) or drops (None) keys.
pub fn entry(over: &[(&str, Option<&str>)]) -> String {
    let sha = sha256(SCRIPT_TEXT.as_bytes());
    let mut fields: Vec<(&str, String)> = vec![
        ("sha256", format!("\"{sha}\"")),
        (
            "reason",
            "\"orders lacked a note column in production\"".into(),
        ),
        ("ticket", "\"INC-1042\"".into()),
        ("author", format!("\"{DEV}\"")),
        ("approved-by", format!("\"{LEAD}\"")),
        ("approved-on", "2026-01-01".into()),
        ("convert-by", "2026-01-10".into()),
        ("status", "\"active\"".into()),
        ("rollback", format!("\"python3 {SCRIPT} --rollback\"")),
    ];
    for (k, v) in over {
        match (fields.iter().position(|(f, _)| f == k), v) {
            (Some(i), Some(v)) => fields[i].1 = (*v).to_string(),
            (Some(i), None) => {
                fields.remove(i);
            }
            (None, Some(v)) => fields.push((k, (*v).to_string())),
            (None, None) => {}
        }
    }
    let mut s = format!("\n[[emergency.script]]\npath = \"{SCRIPT}\"\n");
    for (k, v) in fields {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

impl Run {
    /// The rule codes in the text output, in order.
    pub fn codes(&self) -> Vec<String> {
        let re = regex::Regex::new(r"(?m)^error\[(A\d{3})\]").unwrap();
        re.captures_iter(&self.stdout)
            .map(|c| c[1].to_string())
            .collect()
    }
}

pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// An empty repository with `dev` as the configured user.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let r = Repo { dir };
        r.git(DEV, &["init", "-q", "-b", "main"]);
        r.git(DEV, &["config", "user.email", DEV]);
        r.git(DEV, &["config", "user.name", "Dana Developer"]);
        r.git(DEV, &["config", "commit.gpgsign", "false"]);
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap()
    }

    /// `text` of policy.toml with `from` replaced by `to`, written; panics when `from` is absent.
    pub fn edit_policy(&self, from: &str, to: &str) {
        let text = self.read("policy.toml");
        assert!(text.contains(from), "policy.toml lacks {from:?}:\n{text}");
        self.write("policy.toml", &text.replacen(from, to, 1));
    }

    /// Run git as `who` (author and committer), panicking on failure.
    pub fn git(&self, who: &str, args: &[&str]) -> String {
        self.git_as(who, who, args)
    }

    pub fn git_as(&self, author: &str, committer: &str, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", author)
            .env("GIT_AUTHOR_EMAIL", author)
            .env("GIT_COMMITTER_NAME", committer)
            .env("GIT_COMMITTER_EMAIL", committer)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Stage everything and commit as `author`/`committer` with `message`.
    pub fn commit_as(&self, author: &str, committer: &str, message: &str) {
        self.git(author, &["add", "-A"]);
        self.git_as(
            author,
            committer,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
    }

    pub fn commit(&self, who: &str, message: &str) {
        self.commit_as(who, who, message);
    }

    /// Commit as the lead (author and committer) with the lead's trailer.
    pub fn commit_approved(&self, subject: &str) {
        self.commit(LEAD, &format!("{subject}\n\n{LEAD_TRAILER}\n"));
    }

    /// The current commit id.
    pub fn head(&self) -> String {
        self.git(DEV, &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The abbreviated id git prints for `rev` in findings (12 hex digits).
    pub fn short(&self, rev: &str) -> String {
        self.git(DEV, &["rev-parse", rev]).trim()[..12].to_string()
    }

    /// The usual story: dev adds the script and an unapproved entry; the lead commits the
    /// approval with the trailer. `approval_message` is the lead's commit message.
    pub fn approved_by_lead(governance_extra: &str, approval_message: &str) -> Repo {
        let r = Repo::new();
        r.write(SCRIPT, SCRIPT_TEXT);
        r.write(
            "policy.toml",
            &policy(
                governance_extra,
                &entry(&[("approved-by", None), ("approved-on", None)]),
            ),
        );
        r.commit(DEV, "Add the orders fix");
        r.write("policy.toml", &policy(governance_extra, &entry(&[])));
        r.commit(LEAD, approval_message);
        r
    }

    pub fn approve(&self, args: &[&str]) -> Run {
        self.run(BIN, args)
    }

    /// `gate-approve check --today TODAY` (unless args give one).
    pub fn check(&self) -> Run {
        self.approve(&["check", "--today", TODAY])
    }

    pub fn run(&self, bin: &str, args: &[&str]) -> Run {
        let out = Command::new(bin)
            .args(args)
            .current_dir(self.path())
            .env_remove("GATE_TODAY")
            .env_remove("GATE_POLICY")
            .env("NO_COLOR", "1")
            .output()
            .expect("binary runs");
        Run::from(out)
    }
}

/// The last paragraph of a commit message the lead approves.
pub const LEAD_TRAILER: &str = "Approved-by: Lee Lead <lead@example.com>";

pub const APPROVAL: &str = "Approve the orders fix\n\nReviewed the script and its rollback.\n\nApproved-by: Lee Lead <lead@example.com>\n";

/// `text` with every `[[emergency.script]]` entry written by register/baseline cut out, so
/// what remains can be compared byte for byte with the file before the edit.
pub fn without_entries(text: &str) -> String {
    let inner = regex::Regex::new(r"\[\[emergency\.script\]\]\n(?:[a-z0-9-]+ = .*\n)*\n").unwrap();
    let last = regex::Regex::new(r"\n\[\[emergency\.script\]\]\n(?:[a-z0-9-]+ = .*\n)*$").unwrap();
    let once = inner.replace_all(text, "").to_string();
    let mut out = once.clone();
    while let Some(m) = last.find(&out) {
        out.replace_range(m.range(), "\n");
        out.pop();
    }
    out
}
