//! gate-precommit refuses to pass when it could not check: exit 2 with a clear error.

use crate::support::precommit::policy;
use crate::support::repo::{Repo, isolate};
use crate::support::run::{APPROVE, PRECOMMIT, REPLAY, Run, gate_command};

fn assert_could_not_check(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stdout.is_empty(),
        "no report when nothing was checked: {run}"
    );
    for n in needles {
        assert!(run.stderr.contains(n), "stderr should mention {n:?}: {run}");
    }
}

fn staged_script(repo: &Repo) {
    repo.write("emergency_fix.py", b"print(1)\n");
    repo.git(&["add", "emergency_fix.py"]);
}

#[test]
fn not_a_git_repository_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plain");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), policy(true, "")).unwrap();
    let mut cmd = gate_command(PRECOMMIT);
    isolate(&mut cmd, tmp.path());
    // Stop discovery at the temp dir so a repository above /tmp cannot be found.
    cmd.current_dir(&dir)
        .env("GIT_CEILING_DIRECTORIES", tmp.path());
    let run = Run::from(cmd.output().unwrap());
    assert_could_not_check(&run, &["not inside a git repository", "--repo"]);

    let run = Run::from(
        gate_command(PRECOMMIT)
            .arg("--all")
            .arg("--repo")
            .arg(&dir)
            .env("GIT_CEILING_DIRECTORIES", tmp.path())
            .output()
            .unwrap(),
    );
    assert_could_not_check(&run, &["not inside a git repository"]);
}

#[test]
fn bare_repository_is_exit_2() {
    let repo = Repo::with_policy(&policy(true, ""));
    let bare = repo.tmp.path().join("bare.git");
    repo.git(&["init", "-q", "--bare", bare.to_str().unwrap()]);
    let run = repo.precommit(&["--repo", bare.to_str().unwrap()]);
    assert_could_not_check(&run, &["bare repository"]);
}

#[test]
fn missing_policy_is_exit_2_naming_the_file() {
    let repo = Repo::with_policy(&policy(true, ""));
    std::fs::remove_file(repo.path("policy.toml")).unwrap();
    staged_script(&repo);
    let run = repo.precommit::<&str>(&[]);
    assert_could_not_check(&run, &["policy.toml", "not found"]);
    let run = repo.precommit(&["--policy", "nowhere/gate.toml"]);
    assert_could_not_check(&run, &["nowhere/gate.toml"]);
}

#[test]
fn malformed_toml_is_exit_2_naming_file_line_and_column() {
    let repo = Repo::with_policy("version = 1\n\n[emergency]\nscope = [\".\"\nddl = true\n");
    staged_script(&repo);
    let run = repo.precommit::<&str>(&[]);
    assert_could_not_check(&run, &["policy.toml"]);
    let located = regex::Regex::new(r"policy\.toml:\d+:\d+").unwrap();
    assert!(
        located.is_match(&run.stderr),
        "file:line:col expected: {run}"
    );
}

#[test]
fn unknown_key_is_exit_2() {
    let repo =
        Repo::with_policy(&policy(true, "").replace("ddl = true", "ddl = true\nddl-strict = true"));
    staged_script(&repo);
    let run = repo.precommit::<&str>(&[]);
    assert_could_not_check(&run, &["policy.toml", "ddl-strict"]);
    let located = regex::Regex::new(r"policy\.toml:\d+").unwrap();
    assert!(located.is_match(&run.stderr), "file:line expected: {run}");
}

#[test]
fn bad_regex_is_exit_2_naming_the_regex() {
    let repo = Repo::with_policy(&policy(true, "").replace("'(?i)hotfix'", "'(?i)hot(fix'"));
    staged_script(&repo);
    let run = repo.precommit::<&str>(&[]);
    assert_could_not_check(&run, &["policy.toml", "hot(fix"]);
}

#[test]
fn bad_flag_is_a_usage_error() {
    let repo = Repo::with_policy(&policy(true, ""));
    let run = repo.precommit(&["--no-such-flag"]);
    assert_eq!(run.code, 2, "{run}");
    let run = repo.precommit(&["--format", "yaml"]);
    assert_eq!(run.code, 2, "{run}");
}

/// Every numeric policy key and flag at its extremes: each gate answers 0, 1 or 2, never a
/// panic (101). Before the bounds, `convert-within-days = 4294967295` panicked in
/// `gate-approve check` and `timeout-s = 9223372036854775807` in `gate-replay`.
#[test]
fn numeric_keys_and_flags_at_their_extremes_never_panic_any_gate() {
    const VALUES: &[&str] = &[
        "-1",
        "0",
        "1",
        "36500",
        "36501",
        "604800",
        "604801",
        "4294967295",
        "9223372036854775807",
        "99999999999999999999",
    ];
    const KEYS: &[(&str, &str)] = &[
        ("migrations", "max-heads"),
        ("governance", "convert-within-days"),
        ("replay", "slow-ms"),
        ("replay", "timeout-s"),
    ];
    let (approve, replay) = (APPROVE, REPLAY);
    for (section, key) in KEYS {
        for value in VALUES {
            // An approved entry, so the deadline arithmetic (approved-on + days) runs.
            let text = format!(
                "version = 1\n[{section}]\n{key} = {value}\n\n[[emergency.script]]\npath = \"emergency_fix.py\"\nreason = \"r\"\nticket = \"INC-1\"\nauthor = \"dev@example.com\"\napproved-by = \"lead@example.com\"\napproved-on = 2025-01-01\nconvert-by = 2025-01-10\nrollback = \"true\"\n"
            );
            let repo = Repo::with_policy(&text);
            repo.write("emergency_fix.py", b"print(1)\n");
            let runs = [
                ("gate-precommit --all", repo.precommit(&["--all"])),
                (
                    "gate-approve check",
                    Run::from(
                        repo.cmd(approve)
                            .args(["check", "--today", "2025-01-05"])
                            .output()
                            .unwrap(),
                    ),
                ),
                (
                    "gate-replay chain",
                    Run::from(repo.cmd(replay).arg("chain").output().unwrap()),
                ),
            ];
            for (what, run) in runs {
                assert!(
                    (0..=2).contains(&run.code),
                    "{what} with {section}.{key} = {value} exited {}: {run}",
                    run.code
                );
            }
        }
    }
    // The flag: out of range is a usage error before anything starts; in range, an
    // unreachable server is exit 2 (the deadline arithmetic must not overflow first).
    let repo = Repo::with_policy("version = 1\n");
    for value in ["0", "1", "604800", "604801", "18446744073709551615", "-5"] {
        let run = Run::from(
            repo.cmd(replay)
                .args([
                    "--timeout",
                    value,
                    "--backend",
                    "url",
                    "--database-url",
                    "postgresql://nobody:pw@127.0.0.1:1/none",
                ])
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 2, "--timeout {value}: {run}");
    }
}
