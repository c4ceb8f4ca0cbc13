//! G005 in gate-precommit: the lockfile walk-around (delete migrations.lock, or edit a
//! released migration and re-lock it) is seen by the hook at once, index against HEAD, and by
//! `--all` when the working tree lacks the lockfile HEAD has. Real git repositories.

use crate::support::precommit::*;
use crate::support::repo::*;
#[allow(unused_imports)]
use crate::support::run::PRECOMMIT as BIN;
use std::collections::BTreeMap;

fn migration(rev: &str, down: Option<&str>, body: &str) -> Vec<u8> {
    let down = down.map_or("None".to_string(), |d| format!("'{d}'"));
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {down}\n\n\ndef upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n"
    )
    .into_bytes()
}

const USERS: &str = "alembic/versions/1111_users.py";
const ORGS: &str = "alembic/versions/2222_orgs.py";

/// Write `files` and the lockfile `gate-replay lock` would write for them.
fn write_locked(repo: &Repo, files: &BTreeMap<String, Vec<u8>>) {
    for (p, c) in files {
        repo.write(p, c);
    }
    let policy = gate_policy::load(&repo.path("policy.toml"), &repo.root).unwrap();
    let graph = gate_chain::discover_from(files, &policy);
    let lock = gate_chain::lock::render_lock(&graph, files);
    repo.write("migrations.lock", lock.as_bytes());
}

fn release() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert(
        USERS.to_string(),
        migration("1111", None, "op.execute('CREATE TABLE users (id int)')"),
    );
    files.insert(
        ORGS.to_string(),
        migration(
            "2222",
            Some("1111"),
            "op.execute('CREATE TABLE orgs (id int)')",
        ),
    );
    files
}

/// Two released migrations, locked and committed.
fn released() -> Repo {
    let repo = Repo::with_policy(&policy(true, ""));
    write_locked(&repo, &release());
    repo.git(&["add", "."]);
    repo.commit("release 2222");
    // What the verdicts below rely on, asked of git itself.
    assert!(!repo.git(&["ls-tree", "HEAD", "migrations.lock"]).is_empty());
    repo
}

#[test]
fn staged_deletion_of_the_lockfile_is_g005() {
    let repo = released();
    // Deleted in the working tree only: nothing staged, the hook passes; --all sees it.
    std::fs::remove_file(repo.path("migrations.lock")).unwrap();
    assert_eq!(repo.precommit::<&str>(&[]).code, 0);
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G005"), "{run}");
    assert!(run.stdout.contains("HEAD has it"), "{run}");
    // Staged (`git rm`): the hook refuses it.
    repo.git(&["rm", "-q", "--cached", "migrations.lock"]);
    assert!(
        repo.git(&["diff", "--cached", "--name-status"])
            .contains("D\tmigrations.lock")
    );
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G005"), "{run}");
    assert!(run.stdout.contains("delete migrations.lock"), "{run}");
}

#[test]
fn deleting_the_lockfile_with_an_edit_of_a_released_migration_is_g005() {
    let repo = released();
    repo.write(
        USERS,
        migration("1111", None, "op.execute('CREATE TABLE users (id bigint)')"),
    );
    repo.git(&["rm", "-q", "migrations.lock"]);
    repo.git(&["add", USERS]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G005"), "{run}");
}

#[test]
fn staged_re_pin_of_a_released_migration_is_g005() {
    let repo = released();
    // Edit the released migration and re-lock: G003 is silent (the lock matches), G005 is not.
    let mut files = release();
    files.insert(
        USERS.to_string(),
        migration("1111", None, "op.execute('CREATE TABLE users (id bigint)')"),
    );
    write_locked(&repo, &files);
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("G005"), "{run}");
    assert!(!run.stdout.contains("G003"), "{run}");
    assert!(
        run.stdout.contains("1111"),
        "names the re-pinned entry: {run}"
    );
    // It points at the entry's line in HEAD's lockfile.
    let head_lock = repo.git(&["show", "HEAD:migrations.lock"]);
    let line = head_lock
        .lines()
        .position(|l| l.starts_with("1111 "))
        .unwrap()
        + 1;
    assert!(
        run.stdout.contains(&format!("migrations.lock:{line}")),
        "{run}"
    );
}

#[test]
fn a_new_release_only_adds_lines_and_passes() {
    let repo = released();
    let mut files = release();
    files.insert(
        "alembic/versions/3333_teams.py".to_string(),
        migration(
            "3333",
            Some("2222"),
            "op.execute('CREATE TABLE teams (id int)')",
        ),
    );
    write_locked(&repo, &files);
    repo.git(&["add", "."]);
    let run = repo.precommit::<&str>(&[]);
    assert_eq!(run.code, 0, "{run}");
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 0, "{run}");
    // A repository that never had a lockfile: --all does not invent a G005.
    let fresh = Repo::with_policy(&policy(true, ""));
    fresh.write("app.py", b"print(1)\n");
    fresh.git(&["add", "."]);
    fresh.commit("init");
    assert_eq!(fresh.precommit(&["--all"]).code, 0);
}
