//! `gate-precommit --all` (CI mode) over the working tree, and the report formats.

mod precommit_support;

use precommit_support::{Repo, policy, registration};

const FIX: &[u8] = b"import os\nprint('fixing the enum')\n";

#[test]
fn all_finds_a_script_committed_with_no_verify() {
    let repo = Repo::new(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.write("app/main.py", b"print('app')\n");
    repo.git(&["add", "."]);
    repo.commit("sneaked past the hook with --no-verify");

    let staged = repo.gate::<&str>(&[]);
    assert_eq!(staged.code, 0, "nothing staged: {staged}");

    let run = repo.gate(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G001"), "{run}");
    assert!(run.stdout.contains("emergency_db_fix.py"), "{run}");
    assert!(!run.stdout.contains("app/main.py"), "{run}");
    assert!(run.stderr.is_empty(), "{run}");
}

#[test]
fn all_checks_registered_hashes_including_outside_scope() {
    let mut extra = registration("emergency_enum_fix.py", FIX);
    extra.push_str(&registration("ops/repair_orgs.sql", b"select 1;\n"));
    let repo = Repo::new(&policy(true, &extra));
    repo.write("emergency_enum_fix.py", FIX);
    repo.write("ops/repair_orgs.sql", b"select 2;\n");
    let run = repo.gate(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G002").count(), 1, "{run}");
    assert!(run.stdout.contains("ops/repair_orgs.sql"), "{run}");
    assert!(!run.stdout.contains("G001"), "{run}");

    repo.write("ops/repair_orgs.sql", b"select 1;\n");
    let run = repo.gate(&["--all"]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn all_skips_git_internals_gitignored_and_the_migrations_folder() {
    let p = policy(true, "").replace("scope = [\".\"]", "scope = [\"**\"]");
    let repo = Repo::new(&p);
    repo.write(".gitignore", b"build/\n");
    repo.write("build/emergency_generated.py", FIX);
    repo.write(
        "alembic/versions/0001_fix.py",
        b"op.execute('DROP TABLE x')\n",
    );
    repo.write("src/app.py", b"print(1)\n");
    repo.write("src/tools/hotfix_cache.py", b"print(1)\n");
    repo.commit("empty");
    let run = repo.gate(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G001").count(), 1, "{run}");
    assert!(run.stdout.contains("src/tools/hotfix_cache.py"), "{run}");
}

#[test]
fn all_judges_symlinks_by_name_and_special_files_without_opening_them() {
    // As root, chmod 000 does not stop reads, so the unreadable case here is a FIFO: opening
    // it would block the hook forever. It is judged by name only, never opened.
    let repo = Repo::new(&policy(true, ""));
    let outside = repo.tmp.path().join("outside.sql");
    std::fs::write(&outside, b"DROP TABLE users;\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("notes.sql")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", repo.path("dangling.sql")).unwrap();
    for fifo in ["pipe.sql", "emergency_pipe"] {
        let st = std::process::Command::new("mkfifo")
            .arg(repo.path(fifo))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let run = repo.gate(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G001").count(), 1, "{run}");
    assert!(run.stdout.contains("emergency_pipe"), "{run}");
    assert!(
        !run.stdout.contains("notes.sql"),
        "link target never read: {run}"
    );
}

#[test]
fn all_reports_an_unreadable_file_as_exit_2_when_not_root() {
    // Runs its real check only without root (root reads mode-000 files); as root it asserts
    // the documented alternative: the file is read and judged.
    let repo = Repo::new(&policy(true, ""));
    repo.write("secret.sql", b"DROP TABLE users;\n");
    let path = repo.path("secret.sql");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let run = repo.gate(&["--all"]);
    let root = std::fs::read(&path).is_ok();
    if root {
        assert_eq!(run.code, 1, "{run}");
        assert!(run.stdout.contains("secret.sql:1"), "{run}");
    } else {
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains("secret.sql"), "{run}");
    }
}

#[test]
fn unregistered_in_worktree_lists_what_all_rejects() {
    let repo = Repo::new(&policy(true, &registration("emergency_enum_fix.py", FIX)));
    repo.write("emergency_enum_fix.py", FIX);
    repo.write("production_schema_repair.py", FIX);
    repo.write("fix_zebra_admin_access.py", FIX);
    repo.write("migrate.sql", b"ALTER TYPE userrole ADD VALUE 'x';\n");
    repo.write("setup.py", b"ALTER TABLE t ADD c int\n");
    repo.write("app/emergency.py", FIX);
    let policy = gate_policy::load(&repo.path("policy.toml"), &repo.root).unwrap();
    let found = gate_precommit::unregistered_in_worktree(&repo.root, &policy).unwrap();
    assert_eq!(
        found,
        [
            "fix_zebra_admin_access.py",
            "migrate.sql",
            "production_schema_repair.py"
        ]
    );
}

#[test]
fn every_format_renders_and_json_parses() {
    let repo = Repo::new(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.git(&["add", "emergency_db_fix.py"]);
    for format in ["text", "json", "markdown", "github", "sarif", "junit"] {
        let run = repo.gate(&["--format", format]);
        assert_eq!(run.code, 1, "{format}: {run}");
        assert!(
            run.stdout.contains("emergency_db_fix.py"),
            "{format}: {run}"
        );
        assert!(run.stdout.contains("G001"), "{format}: {run}");
        if format == "json" || format == "sarif" {
            let v: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{format} does not parse: {e}\n{run}"));
            assert!(v.is_object(), "{format}: {run}");
        }
    }
    let summary = repo.tmp.path().join("summary.md");
    let run = precommit_support::Run::from(
        repo.cmd(precommit_support::BIN)
            .args(["--format", "github"])
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("::error"), "{run}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("emergency_db_fix.py"), "{md}");
}

/// Regression: the reference policy.toml documents `replay.prelude` with a `CREATE EXTENSION`
/// example, and `--all` on this repository flagged the policy file itself as an emergency
/// script. The gate's own files (policy, expected snapshot) describe DDL; they never run it.
#[test]
fn the_policy_file_and_snapshot_are_never_emergency_scripts() {
    let text = format!(
        "{}\n# prelude = \"CREATE EXTENSION IF NOT EXISTS pgcrypto\"\n",
        policy(true, "")
    );
    let repo = Repo::new(&text);
    repo.write(
        "schema.snapshot.json",
        b"{\"definition\": \"CREATE TABLE users (id int)\"}\n",
    );
    repo.write(
        "innocent.json",
        b"{\"sql\": \"CREATE TABLE users (id int)\"}\n",
    );
    repo.git(&["add", "."]);

    let staged = repo.gate::<&str>(&[]);
    assert_eq!(staged.code, 1, "{staged}");
    assert!(staged.stdout.contains("innocent.json"), "{staged}");
    assert!(!staged.stdout.contains("policy.toml"), "{staged}");
    assert!(!staged.stdout.contains("schema.snapshot.json"), "{staged}");

    let all = repo.gate(&["--all"]);
    assert_eq!(all.code, 1, "{all}");
    assert_eq!(all.stdout.matches("G001").count(), 1, "{all}");
    assert!(all.stdout.contains("innocent.json"), "{all}");
}
