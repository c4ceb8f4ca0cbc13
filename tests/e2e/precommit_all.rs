//! `gate-precommit --all` (CI mode) over the working tree, and the report formats.

use crate::support::precommit::{policy, registration, revision};
use crate::support::repo::Repo;
use crate::support::run::{PRECOMMIT, Run};

const FIX: &[u8] = b"import os\nprint('fixing the enum')\n";

#[test]
fn all_finds_a_script_committed_with_no_verify() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.write("app/main.py", b"print('app')\n");
    repo.git(&["add", "."]);
    repo.commit("sneaked past the hook with --no-verify");

    let staged = repo.precommit::<&str>(&[]);
    assert_eq!(staged.code, 0, "nothing staged: {staged}");

    let run = repo.precommit(&["--all"]);
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
    let repo = Repo::with_policy(&policy(true, &extra));
    repo.write("emergency_enum_fix.py", FIX);
    repo.write("ops/repair_orgs.sql", b"select 2;\n");
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G002").count(), 1, "{run}");
    assert!(run.stdout.contains("ops/repair_orgs.sql"), "{run}");
    assert!(!run.stdout.contains("G001"), "{run}");

    repo.write("ops/repair_orgs.sql", b"select 1;\n");
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn all_skips_git_internals_gitignored_and_the_migrations_folder() {
    let p = policy(true, "").replace("scope = [\".\"]", "scope = [\"**\"]");
    let repo = Repo::with_policy(&p);
    repo.write(".gitignore", b"build/\n");
    repo.write("build/emergency_generated.py", FIX);
    repo.write(
        "alembic/versions/0001_fix.py",
        revision("a1", "DROP TABLE x"),
    );
    repo.write("src/app.py", b"print(1)\n");
    repo.write("src/tools/hotfix_cache.py", b"print(1)\n");
    repo.commit("empty");
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G001").count(), 1, "{run}");
    assert!(run.stdout.contains("src/tools/hotfix_cache.py"), "{run}");
}

#[test]
fn all_judges_symlinks_by_name_and_special_files_without_opening_them() {
    // As root, chmod 000 does not stop reads, so the unreadable case here is a FIFO: opening
    // it would block the hook forever. It is judged by name only, never opened.
    let repo = Repo::with_policy(&policy(true, ""));
    let outside = repo.tmp.path().join("outside.sql");
    std::fs::write(&outside, b"DROP TABLE users;\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("notes.sql")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", repo.path("dangling.sql")).unwrap();
    for fifo in ["pipe.sql", "emergency_pipe.sh"] {
        let st = std::process::Command::new("mkfifo")
            .arg(repo.path(fifo))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G001").count(), 1, "{run}");
    assert!(run.stdout.contains("emergency_pipe.sh"), "{run}");
    assert!(
        !run.stdout.contains("notes.sql"),
        "link target never read: {run}"
    );
}

#[test]
fn all_reports_an_unreadable_file_as_exit_2_when_not_root() {
    // Runs its real check only without root (root reads mode-000 files); as root it asserts
    // the documented alternative: the file is read and judged.
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("secret.sql", b"DROP TABLE users;\n");
    let path = repo.path("secret.sql");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let run = repo.precommit(&["--all"]);
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
    let repo = Repo::with_policy(&policy(true, &registration("emergency_enum_fix.py", FIX)));
    repo.write("emergency_enum_fix.py", FIX);
    repo.write("production_schema_repair.py", FIX);
    repo.write("fix_zebra_admin_access.py", FIX);
    repo.write("migrate.sql", b"ALTER TYPE userrole ADD VALUE 'x';\n");
    repo.write("setup.py", b"ALTER TABLE t ADD c int\n");
    repo.write("app/emergency.py", FIX);
    let policy = gate_policy::load(&repo.path("policy.toml"), &repo.root).unwrap();
    let found = gate_scripts::unregistered_in_worktree(&repo.root, &policy).unwrap();
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
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.git(&["add", "emergency_db_fix.py"]);
    for format in ["text", "json", "markdown", "github", "sarif", "junit"] {
        let run = repo.precommit(&["--format", format]);
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
    let run = Run::from(
        repo.cmd(PRECOMMIT)
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
    // JSON and TOML count as script types here, so only the gate-file rule keeps them out.
    let text = format!(
        "{}\n# prelude = \"CREATE EXTENSION IF NOT EXISTS pgcrypto\"\n",
        policy(true, "extensions = [\"py\", \"sql\", \"json\", \"toml\"]\n")
    );
    let repo = Repo::with_policy(&text);
    repo.write(
        "schema.snapshot.json",
        b"{\"definition\": \"CREATE TABLE users (id int)\"}\n",
    );
    repo.write(
        "innocent.json",
        b"{\"sql\": \"CREATE TABLE users (id int)\"}\n",
    );
    repo.git(&["add", "."]);

    let staged = repo.precommit::<&str>(&[]);
    assert_eq!(staged.code, 1, "{staged}");
    assert!(staged.stdout.contains("innocent.json"), "{staged}");
    assert!(!staged.stdout.contains("policy.toml"), "{staged}");
    assert!(!staged.stdout.contains("schema.snapshot.json"), "{staged}");

    let all = repo.precommit(&["--all"]);
    assert_eq!(all.code, 1, "{all}");
    assert_eq!(all.stdout.matches("G001").count(), 1, "{all}");
    assert!(all.stdout.contains("innocent.json"), "{all}");
}

/// The crisis root as found in a real repository: reports, results and notes named like the
/// scripts they describe sit beside the scripts. Only files of a script type are candidates.
fn crisis_root(repo: &Repo) {
    repo.write(
        "emergency_report.md",
        b"# Emergency report\n\nWe ran `ALTER TABLE users ADD status text` by hand.\n",
    );
    repo.write(
        "fix_results.json",
        b"{\"sql\": \"CREATE TABLE admin_audit (id int)\", \"ok\": true}\n",
    );
    repo.write("repair_notes.txt", b"DROP TABLE sessions; then re-run.\n");
    repo.write("emergency_db_fix.py", FIX);
    repo.write("hotfix.sh", b"psql -c 'ALTER TABLE users ADD x int'\n");
    repo.write(
        "fix_admin",
        b"#!/bin/bash\npsql -c \"GRANT admin TO zebra\"\n",
    );
    // Extensionless without a shebang (a notes file): not a script either.
    repo.write("fix_later", b"remember to fix the admin role\n");
}

const CRISIS_SCRIPTS: [&str; 3] = ["emergency_db_fix.py", "fix_admin", "hotfix.sh"];

fn g001_paths(run: &Run) -> Vec<String> {
    let mut paths: Vec<String> = run
        .findings("G001")
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

#[test]
fn reports_results_and_notes_are_never_scripts_only_script_types_are() {
    let repo = Repo::with_policy(&policy(true, ""));
    crisis_root(&repo);
    let all = repo.precommit(&["--all", "--format", "json"]);
    assert_eq!(all.code, 1, "{all}");
    assert_eq!(g001_paths(&all), CRISIS_SCRIPTS, "{all}");

    repo.git(&["add", "."]);
    let staged = repo.precommit(&["--format", "json"]);
    assert_eq!(staged.code, 1, "{staged}");
    assert_eq!(g001_paths(&staged), CRISIS_SCRIPTS, "{staged}");

    let policy = gate_policy::load(&repo.path("policy.toml"), &repo.root).unwrap();
    let found = gate_scripts::unregistered_in_worktree(&repo.root, &policy).unwrap();
    assert_eq!(found, CRISIS_SCRIPTS);
}

#[test]
fn emergency_extensions_narrows_the_script_types() {
    let repo = Repo::with_policy(&policy(true, "extensions = [\"py\"]\n"));
    crisis_root(&repo);
    // A shebang declares the type of a file without extension: python is `py`.
    repo.write("repair_roles", b"#!/usr/bin/env python3\nprint('roles')\n");
    let all = repo.precommit(&["--all", "--format", "json"]);
    assert_eq!(all.code, 1, "{all}");
    assert_eq!(
        g001_paths(&all),
        ["emergency_db_fix.py", "repair_roles"],
        "{all}"
    );
    repo.git(&["add", "."]);
    let staged = repo.precommit(&["--format", "json"]);
    assert_eq!(
        g001_paths(&staged),
        ["emergency_db_fix.py", "repair_roles"],
        "{staged}"
    );
}

#[test]
fn registered_files_are_checked_for_g002_whatever_their_type() {
    let repo = Repo::with_policy(&policy(true, &registration("repair_notes.txt", b"v1\n")));
    repo.write("repair_notes.txt", b"v2\n");
    let all = repo.precommit(&["--all", "--format", "json"]);
    assert_eq!(all.code, 1, "{all}");
    assert_eq!(all.findings("G002").len(), 1, "{all}");
    repo.git(&["add", "."]);
    let staged = repo.precommit(&["--format", "json"]);
    assert_eq!(staged.findings("G002").len(), 1, "{staged}");
}

/// Issue 9: with `scope = ["**"]`, a non-Python file holding DDL inside the migrations folder
/// was skipped by `--all` (and is no revision for the chain), so nothing saw it.
#[test]
fn all_judges_files_in_the_migrations_folder_that_are_no_revision() {
    let p = policy(true, "").replace("scope = [\".\"]", "scope = [\"**\"]");
    let repo = Repo::with_policy(&p);
    repo.write(
        "alembic/versions/0001_fix_users.py",
        revision("a1", "ALTER TABLE users ADD x int"),
    );
    repo.write(
        "alembic/versions/emergency_db_fix.sh",
        b"psql \"$DATABASE_URL\" -c 'ALTER TABLE users ADD x int'\n",
    );
    // Innocent name, no `revision =`, runs DDL: judged by its content.
    repo.write(
        "alembic/versions/cleanup.py",
        b"import db\ndb.run('ALTER TABLE users DROP x')\n",
    );
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("error[G001]").count(), 2, "{run}");
    assert!(
        run.stdout.contains("alembic/versions/emergency_db_fix.sh"),
        "{run}"
    );
    assert!(
        run.stdout.contains("alembic/versions/cleanup.py:2"),
        "{run}"
    );
    // The revision runs DDL and its name matches `fix`, yet it is the chain's: never G001.
    assert!(!run.stdout.contains("0001_fix_users.py"), "{run}");

    // Whatever emergency.scope says.
    let narrow = p.replace("scope = [\"**\"]", "scope = [\"nowhere\"]");
    repo.write("policy.toml", narrow.as_bytes());
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("error[G001]").count(), 2, "{run}");

    // Registered, it passes as long as its content matches.
    let sh = std::fs::read(repo.path("alembic/versions/emergency_db_fix.sh")).unwrap();
    let ignored = narrow.replace(
        "ignore = [\"setup.py\", \"conftest.py\"]",
        "ignore = [\"setup.py\", \"conftest.py\", \"alembic/versions/cleanup.py\"]",
    );
    let registered = format!(
        "{ignored}{}",
        registration("alembic/versions/emergency_db_fix.sh", &sh)
    );
    repo.write("policy.toml", registered.as_bytes());
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 0, "{run}");
}
