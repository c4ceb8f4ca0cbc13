//! `lock::amend`: the `amend` record's round trip, what it re-pins, and every refusal.

use std::path::Path;

use crate::common::{AlembicProject, alembic_policy, template};
use gate_chain::lock::{self, parse_lock};
use gate_chain::{ChainError, amend, discover, lock_findings, render_lock, write_lock};
use gate_policy::sha256_hex;

fn locked() -> AlembicProject {
    let p = AlembicProject::new();
    p.revision("a.py", "a", &[], &[], &[]);
    p.revision("b.py", "b", &["a"], &[], &[]);
    p.revision("c.py", "c", &["b"], &[], &[]);
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    write_lock(
        &p.root().join("migrations.lock"),
        &render_lock(&d.graph, &d.files),
    )
    .unwrap();
    p
}

fn lock_bytes(root: &Path) -> Vec<u8> {
    std::fs::read(root.join("migrations.lock")).unwrap()
}

fn edit(p: &AlembicProject, file: &str, id: &str, parent: &[&str], sql: &str) {
    let text = template(id, parent, &[], &[]).replace("pass", &format!("op.execute({sql:?})"));
    p.write(file, &text);
}

/// Rewrite the lockfile body with `f` and give it a matching `h1:` header (a tool-made file
/// whose records are wrong, not a hand edit the header catches).
fn rehash(root: &Path, f: impl Fn(&str) -> String) {
    let text = String::from_utf8(lock_bytes(root)).unwrap();
    let body = f(text.split_once('\n').unwrap().1);
    let text = format!("h1:{}\n{body}", sha256_hex(body.as_bytes()));
    std::fs::write(root.join("migrations.lock"), text).unwrap();
}

#[test]
fn amend_repins_the_revision_and_the_chain_after_it_and_round_trips() {
    let p = locked();
    let policy = alembic_policy(p.root(), 1);
    let before = parse_lock("migrations.lock", &lock_bytes(p.root())).unwrap();
    edit(
        &p,
        "b.py",
        "b",
        &["a"],
        "create table if not exists t (id int)",
    );
    let g003 = lock_findings(&policy, Some(&lock_bytes(p.root())), &tree(&p)).unwrap();
    assert_eq!(
        g003.len(),
        1,
        "the edit is G003 before the amendment: {g003:#?}"
    );

    let reason = "guarded against fixes/t.sql (F003), 100% idempotent\tnow\nsee #12";
    let a = amend(p.root(), &policy, "b", &format!("  {reason} ")).unwrap();
    assert_eq!(
        (a.revision.as_str(), a.path.as_str()),
        ("b", "alembic/versions/b.py")
    );
    assert_eq!(a.reason, reason, "trimmed, otherwise kept");
    assert_eq!(a.old_content, before.entries[1].content);
    assert_eq!(a.line, 6, "after h1, kind and three entries");

    let text = String::from_utf8(lock_bytes(p.root())).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("amend b "), "{last}");
    assert!(
        last.ends_with(" guarded against fixes/t.sql (F003), 100%25 idempotent%09now%0Asee #12"),
        "{last}"
    );
    let after = parse_lock("migrations.lock", text.as_bytes()).unwrap();
    assert_eq!(
        after.amendments,
        std::slice::from_ref(&a),
        "parses back to the record amend returned"
    );
    assert_eq!(after.entries[0], before.entries[0], "a is untouched");
    assert_eq!(after.entries[1].content, a.new_content);
    assert_ne!(
        after.entries[2].chained, before.entries[2].chained,
        "c's chain follows b"
    );
    assert_eq!(after.entries[2].content, before.entries[2].content);
    assert!(
        lock_findings(&policy, Some(text.as_bytes()), &tree(&p))
            .unwrap()
            .is_empty()
    );

    // The hook's view: exactly one amendment, nothing re-pinned without it.
    let d = lock::diff(&before, &after);
    assert_eq!(d.amendments, std::slice::from_ref(&a));
    assert!(d.unexplained.is_empty(), "{d:?}");
    // Any other edit is still G003.
    edit(&p, "c.py", "c", &["b"], "drop table t");
    let f = lock_findings(&policy, Some(text.as_bytes()), &tree(&p)).unwrap();
    assert_eq!(f.len(), 1);
    assert!(
        f[0].message.contains("released migration c"),
        "{}",
        f[0].message
    );
}

#[test]
fn a_second_amendment_chains_and_a_new_release_keeps_the_records() {
    let p = locked();
    let policy = alembic_policy(p.root(), 1);
    edit(&p, "b.py", "b", &["a"], "select 1");
    let first = amend(p.root(), &policy, "b", "one").unwrap();
    edit(&p, "b.py", "b", &["a"], "select 2");
    let second = amend(p.root(), &policy, "b", "two").unwrap();
    assert_eq!(second.old_content, first.new_content);
    assert_eq!(second.line, 7);

    p.revision("d.py", "d", &["c"], &[], &[]);
    let old = parse_lock("migrations.lock", &lock_bytes(p.root())).unwrap();
    let d = discover(p.root(), &policy).unwrap();
    let text = gate_chain::render_lock_keeping(&d.graph, &d.files, &old.amendments);
    let new = parse_lock("migrations.lock", text.as_bytes()).unwrap();
    assert_eq!(new.entries.len(), 4);
    let lines: Vec<u32> = new.amendments.iter().map(|a| a.line).collect();
    assert_eq!(lines, [7, 8], "the records follow the four entries");
    let diff = lock::diff(&old, &new);
    assert!(
        diff.amendments.is_empty() && diff.unexplained.is_empty(),
        "{diff:?}"
    );
    // A baseline without the records drops them: that removal is a re-pin.
    let baseline = parse_lock("m", render_lock(&d.graph, &d.files).as_bytes()).unwrap();
    let diff = lock::diff(&old, &baseline);
    let keys: Vec<&str> = diff.unexplained.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["amend b", "amend b"]);
}

fn refusal(p: &AlembicProject, revision: &str, reason: &str) -> String {
    let policy = alembic_policy(p.root(), 1);
    let before = std::fs::read(p.root().join("migrations.lock")).ok();
    let err = amend(p.root(), &policy, revision, reason).unwrap_err();
    let after = std::fs::read(p.root().join("migrations.lock")).ok();
    assert_eq!(before, after, "a refused amendment writes nothing");
    err.to_string()
}

#[test]
fn amend_refuses_what_is_not_one_edited_released_migration() {
    let p = locked();
    edit(&p, "b.py", "b", &["a"], "select 1");
    let e = refusal(&p, "b", "  \n");
    assert!(e.starts_with("cannot amend b: the reason is empty"), "{e}");
    let e = refusal(&p, "c", "why");
    assert!(e.contains("alembic/versions/c.py is unchanged"), "{e}");
    p.revision("d.py", "d", &["c"], &[], &[]);
    let e = refusal(&p, "d", "why");
    assert!(e.contains("d is not pinned in migrations.lock"), "{e}");
    let e = refusal(&p, "zzz", "why");
    assert!(e.contains("zzz is not pinned"), "{e}");
    edit(&p, "a.py", "a", &[], "select 2");
    edit(&p, "c.py", "c", &["b"], "select 3");
    let e = refusal(&p, "b", "why");
    assert!(
        e.contains("a (alembic/versions/a.py), c (alembic/versions/c.py); amend one at a time"),
        "{e}"
    );
    // Moving a released migration in the chain is no amendment (here: a second head).
    let p = locked();
    edit(&p, "c.py", "c", &["a"], "select 1");
    let e = refusal(&p, "c", "why");
    assert!(
        e.contains("the chain has problems") && e.contains("C003"),
        "{e}"
    );
    // The file now declares another revision.
    let p = locked();
    edit(&p, "c.py", "c2", &["b"], "select 1");
    let e = refusal(&p, "c", "why");
    assert!(
        e.contains("no migration in alembic/versions declares c"),
        "{e}"
    );
}

#[test]
fn amend_needs_a_lockfile_that_verifies() {
    let p = locked();
    edit(&p, "b.py", "b", &["a"], "select 1");
    std::fs::remove_file(p.root().join("migrations.lock")).unwrap();
    let e = refusal(&p, "b", "why");
    assert!(e.contains("there is no migrations.lock"), "{e}");

    let p = locked();
    edit(&p, "b.py", "b", &["a"], "select 1");
    let text = String::from_utf8(lock_bytes(p.root())).unwrap();
    std::fs::write(
        p.root().join("migrations.lock"),
        text.replace("kind=alembic", "kind=alembic "),
    )
    .unwrap();
    let policy = alembic_policy(p.root(), 1);
    match amend(p.root(), &policy, "b", "why") {
        Err(ChainError::Lockfile { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tampered_amend_record_is_a_lockfile_error_at_its_line() {
    let p = locked();
    let policy = alembic_policy(p.root(), 1);
    edit(&p, "b.py", "b", &["a"], "select 1");
    let a = amend(p.root(), &policy, "b", "the reason").unwrap();
    let good = lock_bytes(p.root());
    let err_at = |root: &Path| match parse_lock("migrations.lock", &lock_bytes(root)) {
        Err(ChainError::Lockfile { line, message, .. }) => (line, message),
        other => panic!("{other:?}"),
    };

    // A hand edit of the reason breaks the header.
    let text = String::from_utf8(good.clone()).unwrap();
    std::fs::write(
        p.root().join("migrations.lock"),
        text.replace("the reason", "a reason"),
    )
    .unwrap();
    assert_eq!(err_at(p.root()).0, 1);
    assert!(lock_findings(&policy, Some(&lock_bytes(p.root())), &tree(&p)).is_err());

    let cases: [(&str, Rewrite); 5] = [
        (
            "empty reason",
            Box::new(|b: &str| b.replace(" the reason", " %20")),
        ),
        (
            "no entry above pins",
            Box::new(|b: &str| b.replace("amend b ", "amend x ")),
        ),
        (
            "does not pin the content",
            Box::new(move |b: &str| {
                let n = a.new_content.clone();
                b.replace(
                    &format!("{n} the reason"),
                    &format!("{} the reason", "0".repeat(64)),
                )
            }),
        ),
        (
            "entries come first",
            Box::new(|b: &str| {
                let (entries, record) = b.trim_end().rsplit_once('\n').unwrap();
                let (head, last) = entries.rsplit_once('\n').unwrap();
                format!("{head}\n{record}\n{last}\n")
            }),
        ),
        (
            "expected `amend",
            Box::new(|b: &str| b.replace("amend b ", "amend b zz ")),
        ),
    ];
    for (want, f) in cases {
        std::fs::write(p.root().join("migrations.lock"), &good).unwrap();
        rehash(p.root(), f);
        let (line, message) = err_at(p.root());
        assert!(message.contains(want), "{want}: line {line}: {message}");
        assert!(
            line >= 5,
            "{want}: at the record or the line after it, not {line}"
        );
    }
}

/// A change of the lockfile's body.
type Rewrite = Box<dyn Fn(&str) -> String>;

fn tree(p: &AlembicProject) -> std::collections::BTreeMap<String, Vec<u8>> {
    discover(p.root(), &alembic_policy(p.root(), 1))
        .unwrap()
        .files
}

#[test]
fn amend_a_sql_migration_whose_rollback_changed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let policy = crate::common::policy(
        root,
        "kind = \"sql\"\nnaming = \"golang-migrate\"\npath = \"db\"\n",
    );
    let write = |rel: &str, text: &str| {
        std::fs::create_dir_all(root.join("db")).unwrap();
        std::fs::write(root.join(rel), text).unwrap();
    };
    write("db/0001_a.up.sql", "create table a (id int);");
    write("db/0001_a.down.sql", "drop table a;");
    write("db/0002_b.up.sql", "create table b (id int);");
    let d = discover(root, &policy).unwrap();
    write_lock(
        &root.join("migrations.lock"),
        &render_lock(&d.graph, &d.files),
    )
    .unwrap();
    // Only the down file changes: the pin covers it, so this is an amendment of version 1.
    write("db/0001_a.down.sql", "drop table if exists a;");
    let e = amend(root, &policy, "1", "x").unwrap_err().to_string();
    assert!(
        e.contains("pins 0001, 0002"),
        "the error names the pinned ids: {e}"
    );
    let a = amend(root, &policy, "0001", "rollback tolerates a missing table").unwrap();
    assert_eq!(a.path, "db/0001_a.up.sql");
    let lock = lock_bytes(root);
    assert!(String::from_utf8_lossy(&lock).contains("kind=sql:golang-migrate\n"));
    let files = discover(root, &policy).unwrap().files;
    assert!(
        lock_findings(&policy, Some(&lock), &files)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn amend_refuses_an_edit_that_moves_a_released_migration_in_the_chain() {
    // Two branches from a (max-heads allows it), so re-parenting one onto the other is no C
    // finding: only the pinned order shows the move.
    let p = AlembicProject::new();
    p.revision("a.py", "a", &[], &[], &[]);
    p.revision("b.py", "b", &["a"], &[], &[]);
    p.revision("c.py", "c", &["a"], &[], &[]);
    let policy = alembic_policy(p.root(), 2);
    let d = discover(p.root(), &policy).unwrap();
    write_lock(
        &p.root().join("migrations.lock"),
        &render_lock(&d.graph, &d.files),
    )
    .unwrap();
    let lock = parse_lock("m", &lock_bytes(p.root())).unwrap();
    let (second, third) = (&lock.entries[1], &lock.entries[2]);
    // The second pinned revision now follows the third.
    let file = second.path.rsplit('/').next().unwrap();
    edit(&p, file, &second.id, &[third.id.as_str()], "select 1");
    let before = lock_bytes(p.root());
    let e = amend(p.root(), &policy, &second.id, "why").unwrap_err();
    assert!(
        e.to_string()
            .contains("moves released migrations in the chain"),
        "{e}"
    );
    assert_eq!(lock_bytes(p.root()), before);
}

#[test]
fn a_new_release_drops_records_that_no_longer_pin_their_entry() {
    let p = locked();
    let policy = alembic_policy(p.root(), 1);
    edit(&p, "b.py", "b", &["a"], "select 1");
    amend(p.root(), &policy, "b", "one").unwrap();
    let old = parse_lock("m", &lock_bytes(p.root())).unwrap();
    // b edited again without an amendment: a lockfile keeping the record would not verify.
    edit(&p, "b.py", "b", &["a"], "select 2");
    let d = discover(p.root(), &policy).unwrap();
    let text = gate_chain::render_lock_keeping(&d.graph, &d.files, &old.amendments);
    let new = parse_lock("m", text.as_bytes()).unwrap();
    assert!(new.amendments.is_empty());
}
