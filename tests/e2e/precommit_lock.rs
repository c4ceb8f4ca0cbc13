//! G003/G004 through gate-precommit: released migrations (in migrations.lock) edited or
//! deleted, judged on the staged content and on the working tree.

use std::collections::BTreeMap;

use crate::support::precommit::policy;
use crate::support::repo::Repo;

fn migration(rev: &str, down: Option<&str>, body: &str) -> Vec<u8> {
    let down = down.map_or("None".to_string(), |d| format!("'{d}'"));
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {down}\n\n\ndef upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n"
    )
    .into_bytes()
}

/// A repository with two released migrations locked and committed.
fn released() -> Repo {
    let repo = Repo::with_policy(&policy(true, ""));
    let mut files = BTreeMap::new();
    files.insert(
        "alembic/versions/1111_users.py".to_string(),
        migration("1111", None, "op.execute('CREATE TABLE users (id int)')"),
    );
    files.insert(
        "alembic/versions/2222_orgs.py".to_string(),
        migration(
            "2222",
            Some("1111"),
            "op.execute('CREATE TABLE orgs (id int)')",
        ),
    );
    for (p, c) in &files {
        repo.write(p, c);
    }
    let policy = gate_policy::load(&repo.path("policy.toml"), &repo.root).unwrap();
    let graph = gate_chain::discover_from(&files, &policy);
    let lock = gate_chain::lock::render_lock(&graph, &files);
    repo.write("migrations.lock", lock.as_bytes());
    repo.git(&["add", "."]);
    repo.commit("release 2222");
    repo
}

#[test]
fn untouched_release_passes_in_both_modes() {
    let repo = released();
    repo.write("app.py", b"print(1)\n");
    repo.git(&["add", "app.py"]);
    assert_eq!(repo.precommit::<&str>(&[]).code, 0);
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn staged_edit_of_a_released_migration_is_g003() {
    let repo = released();
    repo.write(
        "alembic/versions/1111_users.py",
        migration("1111", None, "op.execute('CREATE TABLE users (id bigint)')"),
    );
    // Not staged yet: the staged mode has nothing to say, --all sees the working tree.
    assert_eq!(repo.precommit::<&str>(&[]).code, 0);
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G003"), "{run}");

    repo.git(&["add", "alembic/versions/1111_users.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G003"), "{run}");
    assert!(run.stdout.contains("1111_users.py"), "{run}");
    // Regression: the subject said "0 files checked" next to a G003 on a staged file.
    assert!(
        run.stdout.contains("(staged changes: 1 file checked)"),
        "{run}"
    );
}

#[test]
fn staged_deletion_of_a_released_migration_is_g003() {
    let repo = released();
    repo.git(&["rm", "-q", "alembic/versions/2222_orgs.py"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G003"), "{run}");
    assert!(
        run.stdout.contains("(staged changes: 1 file checked)"),
        "the deletion is a judged change: {run}"
    );
}

#[test]
fn new_migration_after_the_release_passes() {
    let repo = released();
    repo.write(
        "alembic/versions/3333_flags.py",
        migration(
            "3333",
            Some("2222"),
            "op.execute('CREATE TABLE flags (id int)')",
        ),
    );
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn hand_edited_lockfile_is_exit_2() {
    let repo = released();
    let lock = std::fs::read_to_string(repo.path("migrations.lock")).unwrap();
    repo.write("migrations.lock", lock.replace("1111", "1112").as_bytes());
    repo.git(&["add", "migrations.lock"]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("migrations.lock"), "{run}");
}

#[test]
fn new_migration_ordered_before_the_release_is_g004() {
    let repo = released();
    // Branches off 1111, i.e. before the released 2222: production already ran past it.
    repo.write(
        "alembic/versions/3333_flags.py",
        migration(
            "3333",
            Some("1111"),
            "op.execute('CREATE TABLE flags (id int)')",
        ),
    );
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G004"), "{run}");
}
