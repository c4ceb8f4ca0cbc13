//! gate-precommit in staged mode (the git hook), on real git repositories.

use crate::support::precommit::{policy, registration, revision};
use crate::support::repo::Repo;
use crate::support::run::{PRECOMMIT, Run};

const FIX: &[u8] = b"import os\nprint('fixing the enum')\n";

fn assert_pass(repo: &Repo) {
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.stdout.contains("G00"), "{run}");
    assert!(run.stderr.is_empty(), "{run}");
}

#[test]
fn unregistered_script_staged_in_root_is_g001_with_the_register_command() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_fix_users.py", FIX);
    repo.git(&["add", "emergency_fix_users.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G001"), "{run}");
    assert!(run.stdout.contains("emergency_fix_users.py"), "{run}");
    assert!(
        run.stdout.contains(
            "gate-approve register emergency_fix_users.py --reason \"...\" --ticket INC-..."
        ),
        "{run}"
    );
    assert!(run.stdout.contains("alembic/versions/"), "{run}");
    assert!(run.stderr.is_empty(), "{run}");
}

#[test]
fn registered_with_matching_hash_passes_and_edit_after_registration_is_g002() {
    let repo = Repo::with_policy(&policy(true, &registration("emergency_enum_fix.py", FIX)));
    repo.write("emergency_enum_fix.py", FIX);
    repo.git(&["add", "emergency_enum_fix.py"]);
    assert_pass(&repo);

    repo.write(
        "emergency_enum_fix.py",
        b"import os\nprint('now also drop things')\n",
    );
    repo.git(&["add", "emergency_enum_fix.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G002"), "{run}");
    assert!(!run.stdout.contains("G001"), "{run}");
    assert!(
        run.stdout
            .contains("gate-approve register emergency_enum_fix.py --update"),
        "{run}"
    );
}

#[test]
fn registration_without_sha256_is_g002() {
    let extra = "\n[[emergency.script]]\npath = \"hotfix.sql\"\nreason = \"x\"\n";
    let repo = Repo::with_policy(&policy(true, extra));
    repo.write("hotfix.sql", b"select 1;\n");
    repo.git(&["add", "hotfix.sql"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("G002") && run.stdout.contains("without a sha256"),
        "{run}"
    );
}

#[test]
fn same_script_in_a_folder_outside_scope_passes() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write(
        "tools/emergency_fix_users.py",
        b"ALTER TABLE users ADD x int\n",
    );
    repo.git(&["add", "tools/emergency_fix_users.py"]);
    assert_pass(&repo);
}

#[test]
fn recursive_scope_catches_nested_scripts() {
    let p = policy(true, "").replace("scope = [\".\"]", "scope = [\".\", \"scripts/**\"]");
    let repo = Repo::with_policy(&p);
    repo.write("scripts/db/repair_orgs.py", b"print(1)\n");
    repo.write("tools/repair_orgs.py", b"print(1)\n");
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("scripts/db/repair_orgs.py"), "{run}");
    assert!(!run.stdout.contains("tools/repair_orgs.py"), "{run}");
}

#[test]
fn innocent_name_with_alter_table_fails_only_when_ddl_is_on() {
    let text =
        b"import db\n\ndb.run('''\n    alter   TABLE users\n    add column status text''')\n";
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("cleanup_users.py", text);
    repo.git(&["add", "cleanup_users.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G001"), "{run}");
    assert!(
        run.stdout.contains("cleanup_users.py:4"),
        "DDL line is reported: {run}"
    );
    assert!(run.stdout.contains("runs DDL"), "{run}");

    let repo = Repo::with_policy(&policy(false, ""));
    repo.write("cleanup_users.py", text);
    repo.git(&["add", "cleanup_users.py"]);
    assert_pass(&repo);
}

/// Issue 9: a comment between the words of a statement hid it from the DDL detector, so
/// an innocently named script passed the hook and `--all` while PostgreSQL ran its DDL.
#[test]
fn comments_inside_a_ddl_statement_do_not_hide_it() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write(
        "cleanup.py",
        b"import db

# nightly tidy-up
db.run('ALTER/**/TABLE users ADD x int')
",
    );
    repo.write(
        "reset.sh",
        b"#!/bin/sh
psql <<'SQL'
CREATE -- scratch space
TABLE scratch (id int);
SQL
",
    );
    repo.git(&["add", "cleanup.py", "reset.sh"]);
    for run in [repo.precommit::<&str>(&[]), repo.precommit(&["--all"])] {
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(run.stdout.matches("G001").count(), 2, "{run}");
        assert!(run.stdout.contains("cleanup.py:4"), "{run}");
        assert!(run.stdout.contains("reset.sh:3"), "statement start: {run}");
        assert!(run.stdout.contains("runs DDL (line 4)"), "{run}");
    }

    let repo = Repo::with_policy(&policy(false, ""));
    repo.write(
        "cleanup.py",
        b"db.run('ALTER/**/TABLE users ADD x int')
",
    );
    repo.git(&["add", "cleanup.py"]);
    assert_pass(&repo);
}

#[test]
fn ignored_files_and_the_migrations_folder_are_skipped() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("setup.py", b"ALTER TABLE x ADD y int\n");
    repo.write(
        "alembic/versions/0001_fix_users.py",
        revision("a1", "ALTER TABLE users ADD x int"),
    );
    repo.git(&["add", "."]);
    assert_pass(&repo);
}

#[test]
fn staged_content_is_judged_not_the_working_copy() {
    // Staged innocent, working copy runs DDL: passes.
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("report.py", b"print('hello')\n");
    repo.git(&["add", "report.py"]);
    repo.write("report.py", b"DROP TABLE users;\n");
    assert_pass(&repo);

    // Staged runs DDL, working copy innocent: fails.
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("report.py", b"DROP TABLE users;\n");
    repo.git(&["add", "report.py"]);
    repo.write("report.py", b"print('hello')\n");
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("report.py:1"), "{run}");

    // Registered: the staged content must match, even if the working copy does.
    let repo = Repo::with_policy(&policy(true, &registration("db_fix.py", FIX)));
    repo.write("db_fix.py", b"print('unapproved')\n");
    repo.git(&["add", "db_fix.py"]);
    repo.write("db_fix.py", FIX);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G002"), "{run}");
}

#[test]
fn unchanged_committed_script_is_not_judged_again_in_staged_mode() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_old.py", FIX);
    repo.git(&["add", "emergency_old.py"]);
    repo.commit("legacy");
    repo.write("README.md", b"docs\n");
    repo.git(&["add", "README.md"]);
    assert_pass(&repo);
}

#[test]
fn rename_is_judged_at_the_new_path() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("tools/emergency_fix.py", FIX);
    repo.git(&["add", "."]);
    repo.commit("tool outside scope");
    repo.git(&["mv", "tools/emergency_fix.py", "emergency_fix.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G001"), "{run}");

    // And the other way round: moving it out of scope passes.
    repo.git(&["mv", "emergency_fix.py", "tools/emergency_fix2.py"]);
    assert_pass(&repo);
}

#[test]
fn deletion_is_never_a_violation() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.git(&["add", "emergency_db_fix.py"]);
    repo.commit("legacy, committed with --no-verify");
    repo.git(&["rm", "-q", "emergency_db_fix.py"]);
    assert_pass(&repo);
}

#[test]
fn repository_without_commits_works() {
    let repo = Repo::with_policy(&policy(true, ""));
    assert_pass(&repo);
    repo.write("production_schema_repair.py", FIX);
    repo.git(&["add", "production_schema_repair.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("production_schema_repair.py"), "{run}");
}

#[test]
fn git_index_file_is_honoured_like_git_commit_does() {
    // `git commit -a` / `git commit PATH` run the hook against a temporary index.
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_x.py", FIX);
    let tmp_index = repo.tmp.path().join("other-index");
    let mut add = repo.cmd("git");
    add.env("GIT_INDEX_FILE", &tmp_index)
        .args(["add", "emergency_x.py"]);
    assert!(add.status().unwrap().success());
    assert_pass(&repo); // the real index has nothing staged
    let run = Run::from(
        repo.cmd(PRECOMMIT)
            .env("GIT_INDEX_FILE", &tmp_index)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("emergency_x.py"), "{run}");
}

#[test]
fn binary_and_oversized_files_are_judged_by_name_only() {
    let repo = Repo::with_policy(&policy(true, ""));
    let mut bin = b"\0\x01\x02ALTER TABLE users ADD x int".to_vec();
    bin.extend_from_slice(&[0u8; 100]);
    repo.write("data.sql", &bin);
    let mut big = vec![b'#'; 1024 * 1024 + 10];
    big.extend_from_slice(b"\nDROP TABLE users;\n");
    repo.write("dump.sql", &big);
    repo.write("emergency_blob.sql", &bin);
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("emergency_blob.sql"), "{run}");
    assert!(!run.stdout.contains("data.sql"), "{run}");
    assert!(!run.stdout.contains("dump.sql"), "{run}");
}

#[test]
fn staged_submodule_is_skipped() {
    let sub = Repo::with_policy(&policy(true, ""));
    sub.write("README.md", b"sub\n");
    sub.git(&["add", "README.md"]);
    sub.commit("sub");
    let repo = Repo::with_policy(&policy(true, ""));
    // A gitlink whose name matches emergency.names: submodules are not scripts.
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        sub.root.to_str().unwrap(),
        "emergency_fix_vendor",
    ]);
    let staged = repo.git(&["diff", "--cached", "--name-only"]);
    assert!(staged.contains("emergency_fix_vendor"), "{staged}");
    let ls = repo.git(&["ls-files", "-s", "emergency_fix_vendor"]);
    assert!(ls.starts_with("160000"), "{ls}");
    assert_pass(&repo);
}

#[test]
fn odd_file_names_are_judged_and_reported_readably() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency fix users.py", FIX);
    repo.write("-fix-leading-dash.py", FIX);
    repo.write("emergency\nnewline.py", FIX);
    let latin1: &[u8] = b"r\xe9paration_hotfix.py";
    std::fs::write(
        repo.root
            .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(latin1)),
        FIX,
    )
    .unwrap();
    repo.git(&["add", "--", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("G001").count(), 4, "{run}");
    assert!(
        run.stdout.contains("'emergency fix users.py'"),
        "quoted for the shell: {run}"
    );
    assert!(
        run.stdout.contains("./-fix-leading-dash.py"),
        "dash made harmless: {run}"
    );
    assert!(
        run.stdout.contains(r#""emergency\nnewline.py""#),
        "newline escaped: {run}"
    );
    assert!(run.stdout.contains(r#"$'emergency\nnewline.py'"#), "{run}");
    assert!(
        run.stdout.contains(r"r\xe9paration_hotfix.py"),
        "raw byte escaped: {run}"
    );
    assert!(
        !run.stdout.contains("emergency\nnewline"),
        "no raw newline in output: {run}"
    );

    let json = repo.precommit(&["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json parses");
    assert_eq!(json.code, 1);
    assert!(v.to_string().contains("newline.py"), "{json}");
}

#[test]
fn symlink_in_scope_is_judged_as_a_link_never_followed() {
    let repo = Repo::with_policy(&policy(true, ""));
    let outside = repo.tmp.path().join("outside.sql");
    std::fs::write(&outside, b"DROP TABLE users;\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("innocent_link.sql")).unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("emergency_link.sql")).unwrap();
    repo.git(&["add", "innocent_link.sql", "emergency_link.sql"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    // The link named like an emergency script is caught by name...
    assert!(run.stdout.contains("emergency_link.sql"), "{run}");
    // ...the DDL behind the other link is outside the repository and never read.
    assert!(!run.stdout.contains("innocent_link.sql"), "{run}");
}

#[test]
fn missing_staged_blob_is_an_error_naming_the_file() {
    // An unreadable file that even root cannot read: its blob is gone from the object store.
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("report.py", b"print('unique content 8c1f')\n");
    repo.git(&["add", "report.py"]);
    let oid = repo.git(&["rev-parse", ":report.py"]);
    let oid = oid.trim();
    std::fs::remove_file(repo.path(format!(".git/objects/{}/{}", &oid[..2], &oid[2..]))).unwrap();
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("report.py"), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
}

#[test]
fn intent_to_add_entries_are_not_judged_until_really_staged() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_later.py", FIX);
    repo.git(&["add", "-N", "emergency_later.py"]);
    assert_pass(&repo);
    repo.git(&["add", "emergency_later.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
}

#[test]
fn documentation_is_never_a_script_even_when_named_like_one() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write(
        "README.md",
        b"# Crisis\n\nSomeone ran `ALTER TABLE users ADD status text` by hand.\n",
    );
    repo.write("emergency_notes.md", b"notes\n");
    repo.write("emergency_notes.sql", b"-- notes\n");
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.stdout.contains("README.md"), "{run}");
    assert!(!run.stdout.contains("emergency_notes.md"), "{run}");
    assert!(run.stdout.contains("emergency_notes.sql"), "{run}");
}

/// Regression: a legacy entry (registered by baseline, never approved) was reported as
/// "changed after approval".
#[test]
fn edit_of_a_never_approved_entry_says_changed_since_it_was_registered() {
    let legacy = registration("emergency_enum_fix.py", FIX).replace(
        "approved-by = \"lead@example.com\"\napproved-on = 2025-09-20\n",
        "status = \"legacy\"\n",
    );
    assert!(!legacy.contains("approved-by"), "{legacy}");
    let repo = Repo::with_policy(&policy(true, &legacy));
    repo.write("emergency_enum_fix.py", b"print('edited')\n");
    repo.git(&["add", "emergency_enum_fix.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G002"), "{run}");
    assert!(
        run.stdout
            .contains("emergency_enum_fix.py changed since it was registered"),
        "{run}"
    );
    assert!(!run.stdout.contains("approval"), "{run}");

    // An approved entry still says what it is.
    let repo = Repo::with_policy(&policy(true, &registration("emergency_enum_fix.py", FIX)));
    repo.write("emergency_enum_fix.py", b"print('edited')\n");
    repo.git(&["add", "emergency_enum_fix.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert!(
        run.stdout
            .contains("emergency_enum_fix.py changed after approval"),
        "{run}"
    );
}

/// Issue 9: the hook judged staged files against the working-tree policy.toml, so an
/// unstaged edit of the policy let a staged script through locally.
#[test]
fn unstaged_policy_edit_cannot_let_a_staged_script_through() {
    let committed = policy(true, "");
    let repo = Repo::with_policy(&committed);
    repo.git(&["add", "policy.toml"]);
    repo.commit("adopt the gate");
    repo.write("emergency_x.py", FIX);
    repo.git(&["add", "emergency_x.py"]);
    let relaxed = committed.replace("scope = [\".\"]", "scope = [\"nowhere\"]");
    assert_ne!(relaxed, committed);
    repo.write("policy.toml", relaxed.as_bytes());

    // policy.toml unchanged in the index: the staged (= HEAD's) policy applies.
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G001"), "{run}");
    assert!(run.stdout.contains("emergency_x.py"), "{run}");

    // Removed from the index (`git rm --cached`): HEAD's policy still applies, not the
    // working copy.
    repo.git(&["rm", "-q", "--cached", "policy.toml"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G001"), "{run}");

    // An explicit --policy keeps reading that file.
    let run = repo.precommit(&["--policy", "policy.toml"]);
    assert_eq!(run.code, 0, "{run}");

    // Staging the relaxation too: the hook judges with the policy the commit will carry, so
    // it passes. Relaxing a gate is an approval question: in CI, gate-approve refuses the
    // unapproved change of [emergency] (A012); the hook does not second-guess it.
    repo.git(&["add", "policy.toml"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.stdout.contains("G001"), "{run}");
}

#[test]
fn bad_staged_policy_is_named_as_staged_with_line_and_column() {
    let good = policy(true, "");
    let repo = Repo::with_policy(&good);
    repo.git(&["add", "policy.toml"]);
    repo.commit("adopt the gate");
    repo.write(
        "policy.toml",
        good.replace("ddl = true", "ddl = maybe").as_bytes(),
    );
    repo.git(&["add", "policy.toml"]);
    // The working copy is valid again: only the staged policy is broken.
    repo.write("policy.toml", good.as_bytes());
    let line = good.lines().position(|l| l == "ddl = true").unwrap() + 1;
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains(&format!("policy.toml (staged):{line}:")),
        "{run}"
    );
}

/// Issue 9: a non-Python file holding DDL inside the migrations folder was skipped by the
/// hook and is no revision for the chain, so nothing saw it.
#[test]
fn staged_file_in_the_migrations_folder_that_is_no_revision_is_g001() {
    let p = policy(true, "").replace("scope = [\".\"]", "scope = [\"**\"]");
    let repo = Repo::with_policy(&p);
    repo.git(&["add", "policy.toml"]);
    repo.commit("adopt the gate");
    repo.write(
        "alembic/versions/emergency_db_fix.sh",
        b"ALTER TABLE users ADD x int\n",
    );
    repo.write(
        "alembic/versions/0001_fix_users.py",
        revision("a1", "ALTER TABLE users ADD x int"),
    );
    repo.git(&["add", "alembic"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout.matches("error[G001]").count(), 1, "{run}");
    assert!(
        run.stdout.contains("alembic/versions/emergency_db_fix.sh"),
        "{run}"
    );
    assert!(!run.stdout.contains("0001_fix_users.py"), "{run}");

    // The revision alone passes; a `.py` there without `revision =` is judged by content.
    repo.git(&[
        "rm",
        "-q",
        "--cached",
        "alembic/versions/emergency_db_fix.sh",
    ]);
    assert_pass(&repo);
    repo.write(
        "alembic/versions/cleanup.py",
        b"import db\ndb.run('DROP TABLE users')\n",
    );
    repo.git(&["add", "alembic/versions/cleanup.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("alembic/versions/cleanup.py:2"),
        "{run}"
    );
}
