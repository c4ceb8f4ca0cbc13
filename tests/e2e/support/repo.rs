//! The one git repository type of the end-to-end tests: a real repository in a temp folder,
//! driven with the git CLI under a private HOME (no global or system git config leaks in),
//! committing as a chosen identity.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run::{Run, command};

/// The identity commits are made as unless a test names another.
pub const DEV: &str = "dev@example.com";

/// Point git at a private HOME and commit as `Dev <dev@example.com>` by default, so neither
/// the machine's nor the caller's git configuration changes a verdict.
pub fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", DEV)
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", DEV);
}

/// `git ARGS` in `dir` (scrubbed environment, the caller's HOME), panicking with git's output
/// on failure; for folders that are not a [`Repo`] (copies of the examples).
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let run = Run::of(command("git", dir).args(args));
    assert_eq!(run.code, 0, "git {args:?} in {}:\n{run}", dir.display());
    run.stdout
}

/// A real git repository in a temp folder, with a private HOME beside it.
#[derive(Debug)]
pub struct Repo {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
}

impl Repo {
    /// `git init -b main`, user `Dana Developer <dev@example.com>` in the local config, no
    /// commit signing.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let r = Repo { tmp, root, home };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.email", DEV]);
        r.git(&["config", "user.name", "Dana Developer"]);
        r.git(&["config", "commit.gpgsign", "false"]);
        r
    }

    /// [`Repo::new`] with a policy.toml written (not committed).
    pub fn with_policy(policy_text: &str) -> Self {
        let r = Repo::new();
        r.write("policy.toml", policy_text);
        r
    }

    pub fn path(&self, rel: impl AsRef<OsStr>) -> PathBuf {
        self.root.join(rel.as_ref())
    }

    pub fn write(&self, rel: impl AsRef<OsStr>, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: impl AsRef<OsStr>) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// `program` in the repository: scrubbed environment, private HOME, default identity.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = command(program, &self.root);
        isolate(&mut c, &self.home);
        c
    }

    /// Run `bin ARGS` in the repository.
    pub fn run(&self, bin: &str, args: &[&str]) -> Run {
        Run::of(self.cmd(bin).args(args))
    }

    /// Run git as the default identity, panicking with its output on failure.
    pub fn git<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        self.git_cmd(self.cmd("git").args(args), args)
    }

    /// Run git as `who` (author and committer, name and email alike).
    pub fn git_by(&self, who: &str, args: &[&str]) -> String {
        self.git_as(who, who, args)
    }

    pub fn git_as(&self, author: &str, committer: &str, args: &[&str]) -> String {
        let mut c = self.cmd("git");
        c.args(args)
            .env("GIT_AUTHOR_NAME", author)
            .env("GIT_AUTHOR_EMAIL", author)
            .env("GIT_COMMITTER_NAME", committer)
            .env("GIT_COMMITTER_EMAIL", committer);
        self.git_cmd(&mut c, args)
    }

    fn git_cmd<S: AsRef<OsStr>>(&self, cmd: &mut Command, args: &[S]) -> String {
        let run = Run::of(cmd);
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
        let run = Run::of(
            self.cmd("git")
                .arg("add")
                .arg("--")
                .arg(OsStr::from_bytes(rel)),
        );
        assert_eq!(run.code, 0, "{run}");
    }

    /// Commit what is staged (hooks skipped), as the default identity.
    pub fn commit(&self, msg: &str) {
        self.git(&["commit", "-q", "--no-verify", "--allow-empty", "-m", msg]);
    }

    /// Stage everything and commit as `who` (author and committer) with `message`.
    pub fn commit_all_by(&self, who: &str, message: &str) {
        self.commit_all_as(who, who, message);
    }

    /// Stage everything and commit as `author`/`committer` with `message` (trailers are the
    /// message's last paragraph).
    pub fn commit_all_as(&self, author: &str, committer: &str, message: &str) {
        self.git_by(author, &["add", "-A"]);
        self.git_as(
            author,
            committer,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
    }

    /// The current commit id.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The abbreviated id git prints for `rev` in findings (12 hex digits).
    pub fn short(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev]).trim()[..12].to_string()
    }
}
