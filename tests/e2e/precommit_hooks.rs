//! Committing through each of the three hook installations with real `git commit`: refused
//! while the emergency script is unregistered, accepted once it is registered.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::support::precommit::{policy, registration};
use crate::support::repo::{Repo, isolate};
use crate::support::run::{PRECOMMIT, Run, command};

const FIX: &[u8] = b"import os\nprint('add enum value super_admin')\n";
const SCRIPT: &str = "emergency_enum_fix.py";

fn commit(repo: &Repo, path_env: Option<&str>, extra_env: &[(&str, &OsStr)]) -> Run {
    let mut cmd = repo.cmd("git");
    cmd.args(["commit", "-m", "add the fix"]);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

/// Stage an unregistered emergency script, commit (refused), register it in policy.toml,
/// commit again (accepted). Hook output goes to stderr (git redirects hook stdout there).
fn refused_then_accepted(repo: &Repo, path_env: Option<&str>, extra_env: &[(&str, &OsStr)]) {
    repo.write(SCRIPT, FIX);
    repo.git(&["add", SCRIPT, "policy.toml"]);
    let run = commit(repo, path_env, extra_env);
    assert_ne!(run.code, 0, "commit must be refused: {run}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("G001") && all.contains(SCRIPT), "{run}");
    assert!(all.contains("gate-approve register"), "{run}");
    let head = repo
        .cmd("git")
        .args(["rev-parse", "-q", "--verify", "HEAD"])
        .output()
        .unwrap();
    assert!(!head.status.success(), "no commit was made");

    let text = policy(true, &registration(SCRIPT, FIX));
    repo.write("policy.toml", text.as_bytes());
    repo.git(&["add", "policy.toml"]);
    let run = commit(repo, path_env, extra_env);
    assert_eq!(
        run.code, 0,
        "commit must be accepted after registration: {run}"
    );
    let files = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(files.contains(SCRIPT), "{files}");
}

#[test]
fn installed_hook_refuses_then_accepts() {
    let repo = Repo::with_policy(&policy(true, ""));
    let run = repo.precommit(&["install"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("installed"), "{run}");
    let hook = repo.path(".git/hooks/pre-commit");
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(text.contains("gate-precommit: managed hook"), "{text}");
    assert!(
        text.contains(
            &std::fs::canonicalize(PRECOMMIT)
                .unwrap()
                .display()
                .to_string()
        )
    );
    // Idempotent.
    let run = repo.precommit(&["install"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("already installed"), "{run}");
    // The hook finds the binary by absolute path: PATH without it still works.
    refused_then_accepted(&repo, Some("/usr/local/bin:/usr/bin:/bin"), &[]);
}

#[test]
fn install_refuses_a_foreign_hook_unless_forced() {
    let repo = Repo::with_policy(&policy(true, ""));
    let hook = repo.path(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\nexec lint-everything\n").unwrap();
    let run = repo.precommit(&["install"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("--force") && run.stderr.contains("pre-commit"),
        "{run}"
    );
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("lint-everything")
    );
    let run = repo.precommit(&["install", "--force"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("replaced"), "{run}");
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("managed hook")
    );
}

#[test]
fn install_honours_core_hooks_path_and_worktrees() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.git(&["config", "core.hooksPath", "githooks"]);
    let run = repo.precommit(&["install"]);
    assert_eq!(run.code, 0, "{run}");
    let hook = repo.path("githooks/pre-commit");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&hook).unwrap().permissions());
    assert_eq!(mode & 0o111, 0o111, "hook is executable");
    assert!(!repo.path(".git/hooks/pre-commit").exists());
    refused_then_accepted(&repo, None, &[]);

    // A linked worktree runs the hooks of the common git dir.
    let plain = Repo::with_policy(&policy(true, ""));
    plain.commit("root");
    let wt = plain.tmp.path().join("wt");
    plain.git(&["worktree", "add", "-q", wt.to_str().unwrap()]);
    let run = Run::from(
        plain
            .cmd(PRECOMMIT)
            .current_dir(&wt)
            .arg("install")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(plain.path(".git/hooks/pre-commit").exists(), "{run}");
}

fn path_with_bin() -> String {
    let dir = Path::new(PRECOMMIT).parent().unwrap().display().to_string();
    format!("{dir}:/usr/local/bin:/usr/bin:/bin")
}

#[test]
fn shim_with_core_hooks_path_refuses_then_accepts() {
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/pre-commit");
    let repo = Repo::with_policy(&policy(true, ""));
    std::fs::create_dir_all(repo.path("hooks")).unwrap();
    std::fs::copy(&shim, repo.path("hooks/pre-commit")).unwrap();
    repo.git(&["config", "core.hooksPath", "hooks"]);

    // Without the binary on PATH the shim fails closed with advice.
    repo.write(SCRIPT, FIX);
    repo.git(&["add", SCRIPT]);
    let run = commit(&repo, Some("/usr/bin:/bin"), &[]);
    assert_ne!(run.code, 0, "{run}");
    assert!(
        run.stderr.contains("gate-precommit: not found on PATH"),
        "{run}"
    );
    assert!(run.stderr.contains("cargo install"), "{run}");

    refused_then_accepted(&repo, Some(&path_with_bin()), &[]);
}

/// Copy the tracked and untracked-but-not-ignored files of this source tree into a fresh git
/// repository and commit, so the pre-commit framework can clone it at a sha.
fn source_repo(dest: &Path, home: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut ls = std::process::Command::new("git");
    ls.current_dir(src).args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]);
    let out = ls.output().unwrap();
    assert!(out.status.success());
    std::fs::create_dir_all(dest).unwrap();
    for rel in out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let rel = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(rel));
        let from = src.join(&rel);
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue; // deleted in the working tree
        };
        let to = dest.join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else if meta.is_file() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let git = |args: &[&str]| {
        let mut c = command("git", dest);
        c.args(args);
        isolate(&mut c, home);
        let r = Run::from(c.output().unwrap());
        assert_eq!(r.code, 0, "git {args:?}: {r}");
        r.stdout
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "--no-verify", "-m", "migration gate source"]);
    git(&["rev-parse", "HEAD"]).trim().to_string()
}

/// Slow by nature: the framework runs `cargo install --bins --path .` on its clone. Measured
/// on 2 loaded cores: 23 min with a cold `target/pre-commit-framework`, 4.5 min warm.
#[test]
// Reports how long the framework's build took, for whoever reads the test log.
#[allow(clippy::disallowed_macros)]
fn pre_commit_framework_refuses_then_accepts() {
    let repo = Repo::with_policy(&policy(true, ""));
    let src = repo.tmp.path().join("migration-gate-src");
    let sha = source_repo(&src, &repo.home);
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {sha}\n    hooks:\n      - id: gate-precommit\n",
        src.display()
    );
    repo.write(".pre-commit-config.yaml", config.as_bytes());
    repo.git(&["add", ".pre-commit-config.yaml"]);

    // The framework's `cargo install` builds into a shared target dir (fast after the first
    // run) with the real cargo/rustup homes, since HOME is a temp folder here.
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pre-commit-framework");
    let pre_commit_home = repo.tmp.path().join("pre-commit-home");
    // The framework always builds with `cargo install` (the release profile). Optimising the
    // whole dependency tree would take most of CI's time budget on 2 cores, and this test is
    // about the hook wiring, not the binary's speed, so the release profile is made cheap.
    let env: Vec<(&str, &OsStr)> = vec![
        ("CARGO_HOME", cargo_home.as_os_str()),
        ("RUSTUP_HOME", rustup_home.as_os_str()),
        ("CARGO_TARGET_DIR", target.as_os_str()),
        ("PRE_COMMIT_HOME", pre_commit_home.as_os_str()),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", OsStr::new("0")),
        ("CARGO_PROFILE_RELEASE_DEBUG", OsStr::new("false")),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", OsStr::new("256")),
    ];
    let path = format!(
        "{}:{}",
        cargo_home.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut install = repo.cmd("pre-commit");
    install.arg("install").env("PATH", &path);
    for (k, v) in &env {
        install.env(k, v);
    }
    let run = Run::from(
        install
            .output()
            .expect("pre-commit (pip install pre-commit) must be installed"),
    );
    assert_eq!(run.code, 0, "pre-commit install: {run}");

    let started = std::time::Instant::now();
    refused_then_accepted(&repo, Some(&path), &env);
    eprintln!(
        "pre-commit framework: build + two commits took {:.0?}",
        started.elapsed()
    );
}
