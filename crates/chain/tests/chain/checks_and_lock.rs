//! C001–C006 on real folders, and migrations.lock (G003/G004, tamper and kind errors).

use std::collections::BTreeMap;

use crate::common::{self, AlembicProject, alembic_policy, policy};
use gate_chain::{ChainError, check, discover, lock_findings, render_lock, write_lock};

fn codes(f: &[gate_report::Finding]) -> Vec<&'static str> {
    let mut v: Vec<&str> = f.iter().map(|f| f.code.as_str()).collect();
    v.sort();
    v
}

#[test]
fn c001_c002_c004_c005_c006_with_locations() {
    let p = AlembicProject::new();
    p.revision("a.py", "a1", &[], &[], &[]);
    p.revision("b.py", "b1", &["a1"], &[], &[]);
    p.revision("b_copy.py", "b1", &["a1"], &[], &[]);
    p.revision("orphan.py", "o1", &["gone"], &[], &[]);
    p.revision("self.py", "s1", &["s1"], &[], &[]);
    p.revision("base2.py", "z1", &[], &[], &[]);
    p.write("broken.py", "revision = compute()\ndown_revision = 'a1'\n");
    p.write("binary.py", "\u{0}\u{1}garbage");
    let policy = alembic_policy(p.root(), 100);
    let d = discover(p.root(), &policy).unwrap();
    let f = check(&d.graph, &policy);
    assert_eq!(
        codes(&f),
        ["C001", "C002", "C004", "C005", "C005", "C006"],
        "{f:#?}"
    );
    let by = |c: &str| f.iter().find(|x| x.code == c).unwrap();
    assert_eq!(
        by("C001").path.as_deref(),
        Some("alembic/versions/b_copy.py")
    );
    assert_eq!(by("C001").line, Some(15));
    assert!(by("C001").message.contains("alembic/versions/b.py:15"));
    assert_eq!(by("C002").line, Some(16), "points at down_revision");
    assert!(by("C002").message.contains("gone"));
    assert!(
        by("C004").message.contains("s1 names itself"),
        "{}",
        by("C004").message
    );
    assert!(f.iter().any(|x| x.code == "C005"
        && x.path.as_deref() == Some("alembic/versions/broken.py")
        && x.line == Some(1)));
    assert!(by("C006").message.contains("a1") && by("C006").message.contains("z1"));
    assert!(f.iter().all(|x| !x.help.is_empty()));
}

/// Regression: a chain with three bases printed the same C006 twice, and its help asked to
/// re-parent whichever base came first in file order, even the oldest migration of the chain.
#[test]
fn c006_is_one_finding_naming_every_base_and_keeps_the_real_one() {
    let p = AlembicProject::new();
    // The real base has the most revisions on top of it; two stray bases sort before it.
    p.revision("z1_initial.py", "m1", &[], &[], &[]);
    p.revision("z2_users.py", "m2", &["m1"], &[], &[]);
    p.revision("z3_orders.py", "m3", &["m2"], &[], &[]);
    p.revision("a_recreated.py", "o1", &[], &[], &[]);
    p.revision("b_reports.py", "r1", &[], &[], &[]);
    p.revision("b_reports_2.py", "r2", &["r1"], &[], &[]);
    let policy = alembic_policy(p.root(), 100);
    let d = discover(p.root(), &policy).unwrap();
    let f = check(&d.graph, &policy);
    let c6: Vec<_> = f.iter().filter(|x| x.code == "C006").collect();
    assert_eq!(c6.len(), 1, "one finding, not one per extra base: {f:#?}");
    let c6 = c6[0];
    for place in [
        "m1 (alembic/versions/z1_initial.py:16)",
        "o1 (alembic/versions/a_recreated.py:16)",
        "r1 (alembic/versions/b_reports.py:16)",
    ] {
        assert!(c6.message.contains(place), "{place}: {}", c6.message);
    }
    assert!(c6.message.starts_with("3 bases"), "{}", c6.message);
    // Located at the second base: the first extra one in load order, not the real base.
    assert_eq!(c6.path.as_deref(), Some("alembic/versions/a_recreated.py"));
    assert_eq!(c6.line, Some(16));
    let extra = c6.help.split(';').next().unwrap();
    assert!(
        extra.contains("o1") && extra.contains("r1") && !extra.contains("m1"),
        "re-parents the extra bases, never the real one: {}",
        c6.help
    );
    assert!(
        c6.help.contains("m1 looks like the real base"),
        "{}",
        c6.help
    );
    assert!(c6.help.contains("branch_labels"), "{}", c6.help);
    assert!(!c6.help.to_lowercase().contains("oldest"), "{}", c6.help);
}

#[test]
fn c004_prints_the_cycle() {
    let p = AlembicProject::new();
    p.revision("a.py", "a", &[], &[], &[]);
    p.revision("x.py", "x", &["z"], &[], &[]);
    p.revision("y.py", "y", &["x"], &[], &[]);
    p.revision("z.py", "z", &["y"], &[], &[]);
    p.revision("top.py", "top", &["a", "z"], &[], &[]);
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    let f = check(&d.graph, &policy);
    let c4: Vec<_> = f.iter().filter(|x| x.code == "C004").collect();
    assert_eq!(c4.len(), 1, "{f:#?}");
    assert!(
        c4[0].message.contains("x -> z -> y -> x"),
        "{}",
        c4[0].message
    );
    // Order never loops and never invents revisions.
    assert!(d.graph.order().len() <= 5);
}

#[test]
fn c003_respects_max_heads() {
    let p = AlembicProject::new();
    p.revision("a.py", "a", &[], &[], &[]);
    p.revision("b.py", "b", &["a"], &[], &[]);
    p.revision("c.py", "c", &["a"], &[], &[]);
    let two = alembic_policy(p.root(), 2);
    assert!(check(&discover(p.root(), &two).unwrap().graph, &two).is_empty());
    let one = alembic_policy(p.root(), 1);
    let f = check(&discover(p.root(), &one).unwrap().graph, &one);
    assert_eq!(codes(&f), ["C003"]);
    assert!(
        f[0].help.contains("alembic merge -m \"merge heads\" b c"),
        "{}",
        f[0].help
    );
    assert!(f[0].message.contains("fork at a"));
}

fn tree(p: &AlembicProject) -> BTreeMap<String, Vec<u8>> {
    let policy = alembic_policy(p.root(), 1);
    discover(p.root(), &policy).unwrap().files
}

fn locked_project() -> (AlembicProject, Vec<u8>) {
    let p = AlembicProject::new();
    p.revision("a.py", "a", &[], &[], &[]);
    p.revision("b.py", "b", &["a"], &[], &[]);
    p.revision("c.py", "c", &["b"], &[], &[]);
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    let text = render_lock(&d.graph, &d.files);
    let path = p.root().join("migrations.lock");
    write_lock(&path, &text).unwrap();
    (p, std::fs::read(path).unwrap())
}

#[test]
fn lockfile_format_chains_hashes() {
    let (p, lock) = locked_project();
    let text = String::from_utf8(lock.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("h1:") && lines[0].len() == 67,
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "kind=alembic");
    assert!(lines[2].starts_with("a alembic/versions/a.py "));
    assert!(lines[4].starts_with("c alembic/versions/c.py "));
    // Editing the first migration changes every chained hash after it.
    p.write(
        "a.py",
        &common::template("a", &[], &[], &[]).replace("pass", "op.execute('select 1')"),
    );
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    let new = render_lock(&d.graph, &d.files);
    for (old, new) in text.lines().zip(new.lines()).skip(2) {
        assert_ne!(old.split(' ').nth(3), new.split(' ').nth(3));
    }
    let policy = alembic_policy(p.root(), 1);
    assert!(lock_findings(&policy, None, &tree(&p)).unwrap().is_empty());
}

#[test]
fn g003_edit_delete_move_but_not_crlf_or_bom() {
    let (p, lock) = locked_project();
    let policy = alembic_policy(p.root(), 1);
    assert!(
        lock_findings(&policy, Some(&lock), &tree(&p))
            .unwrap()
            .is_empty()
    );

    // A Windows checkout: CRLF and a BOM are not edits.
    let b = std::fs::read_to_string(p.versions().join("b.py")).unwrap();
    let crlf = format!("\u{feff}{}", b.replace('\n', "\r\n"));
    p.write("b.py", &crlf);
    assert!(
        lock_findings(&policy, Some(&lock), &tree(&p))
            .unwrap()
            .is_empty()
    );

    // One changed byte is.
    p.write("b.py", &b.replacen("pass", "pasS", 1));
    let f = lock_findings(&policy, Some(&lock), &tree(&p)).unwrap();
    assert_eq!(codes(&f), ["G003"]);
    assert_eq!(f[0].path.as_deref(), Some("alembic/versions/b.py"));
    assert!(
        f[0].message.contains("migrations.lock:4"),
        "{}",
        f[0].message
    );
    p.write("b.py", &b);

    // Moved to a subfolder.
    std::fs::create_dir_all(p.versions().join("old")).unwrap();
    std::fs::rename(p.versions().join("c.py"), p.versions().join("old/c.py")).unwrap();
    let f = lock_findings(&policy, Some(&lock), &tree(&p)).unwrap();
    assert_eq!(codes(&f), ["G003"]);
    assert!(f[0].message.contains("moved"));

    // Deleted.
    std::fs::remove_file(p.versions().join("old/c.py")).unwrap();
    let f = lock_findings(&policy, Some(&lock), &tree(&p)).unwrap();
    assert_eq!(codes(&f), ["G003"]);
    assert!(f[0].message.contains("deleted"));
}

#[test]
fn g004_new_migration_before_the_last_released() {
    let (p, lock) = locked_project();
    let policy = alembic_policy(p.root(), 5);
    // On top of the released head: fine.
    p.revision("d.py", "d", &["c"], &[], &[]);
    assert!(
        lock_findings(&policy, Some(&lock), &tree(&p))
            .unwrap()
            .is_empty()
    );
    // Forking off an already-followed revision: G004.
    p.revision("e.py", "e", &["b"], &[], &[]);
    let f = lock_findings(&policy, Some(&lock), &tree(&p)).unwrap();
    assert_eq!(codes(&f), ["G004"]);
    assert_eq!(f[0].path.as_deref(), Some("alembic/versions/e.py"));
    assert!(f[0].help.contains("down_revision = \"c\""), "{}", f[0].help);
}

#[test]
fn g004_for_sql_versions() {
    let dir = tempfile::tempdir().unwrap();
    let pol = policy(
        dir.path(),
        "kind = \"sql\"\nnaming = \"golang-migrate\"\npath = \"db\"\n",
    );
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert("db/0001_a.up.sql".into(), b"create table a();".to_vec());
    files.insert("db/0001_a.down.sql".into(), b"drop table a;".to_vec());
    files.insert("db/0005_b.up.sql".into(), b"create table b();".to_vec());
    let g = gate_chain::discover_from(&files, &pol);
    let lock = render_lock(&g, &files);
    assert!(lock.contains("kind=sql:golang-migrate\n"));
    assert!(
        lock_findings(&pol, Some(lock.as_bytes()), &files)
            .unwrap()
            .is_empty()
    );
    files.insert("db/0003_late.up.sql".into(), b"select 1;".to_vec());
    files.insert("db/0006_ok.up.sql".into(), b"select 1;".to_vec());
    let f = lock_findings(&pol, Some(lock.as_bytes()), &files).unwrap();
    assert_eq!(codes(&f), ["G004"]);
    assert_eq!(f[0].path.as_deref(), Some("db/0003_late.up.sql"));
    // The down file is part of the released content.
    files.insert(
        "db/0001_a.down.sql".into(),
        b"drop table a cascade;".to_vec(),
    );
    let f = lock_findings(&pol, Some(lock.as_bytes()), &files).unwrap();
    assert!(
        f.iter()
            .any(|x| x.code == "G003" && x.path.as_deref() == Some("db/0001_a.up.sql"))
    );
}

#[test]
fn tampered_or_foreign_lockfile_is_an_error() {
    let (p, lock) = locked_project();
    let policy = alembic_policy(p.root(), 1);
    let text = String::from_utf8(lock).unwrap();
    // Hand edit of a hash: the header no longer matches.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen('a', "b", 1);
    let edited = lines.join("\n") + "\n";
    match lock_findings(&policy, Some(edited.as_bytes()), &tree(&p)) {
        Err(ChainError::Lockfile {
            path,
            line,
            message,
        }) => {
            assert_eq!((path.as_str(), line), ("migrations.lock", 1));
            assert!(message.contains("gate-replay lock"));
        }
        other => panic!("expected a lockfile error, got {other:?}"),
    }
    // A lockfile written for SQL migrations.
    let body = "kind=sql:flyway\n";
    let foreign = format!(
        "h1:{}\n{body}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()))
    );
    match lock_findings(&policy, Some(foreign.as_bytes()), &tree(&p)) {
        Err(ChainError::Lockfile { line, message, .. }) => {
            assert_eq!(line, 2);
            assert!(message.contains("sql:flyway"), "{message}");
        }
        other => panic!("expected a kind error, got {other:?}"),
    }
}

/// Issue 9: a file in the versions folder that is no revision (a shell script with DDL, a
/// `.py` without `revision =`) was replayed by nothing and judged by nobody.
#[test]
fn files_that_are_no_migration_are_listed_and_told_apart() {
    let p = AlembicProject::new();
    p.revision("0001_fix_users.py", "a1", &[], &[], &[]);
    p.write(
        "emergency_db_fix.sh",
        "psql -c 'ALTER TABLE users ADD x int'\n",
    );
    p.write("helper.py", "import sqlalchemy\nALTER = 'x'\n");
    p.write("__init__.py", "");
    p.write("broken.py", "revision = make()\ndown_revision = None\n");
    let pol = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &pol).unwrap();
    assert_eq!(
        d.not_revisions,
        [
            "alembic/versions/__init__.py",
            "alembic/versions/emergency_db_fix.sh",
            "alembic/versions/helper.py",
        ]
    );
    let is = |path: &str| {
        let content = std::fs::read(p.root().join(path)).unwrap();
        gate_chain::is_chain_file(&pol, path, || Ok::<_, ()>(content)).unwrap()
    };
    assert!(is("alembic/versions/0001_fix_users.py"));
    // A broken revision is the chain's: it reports it as C005.
    assert!(is("alembic/versions/broken.py"));
    assert!(!is("alembic/versions/helper.py"));
    assert!(!is("alembic/versions/emergency_db_fix.sh"));

    // SQL kinds decide by name: a down file belongs to the chain, a note does not.
    let dir = tempfile::tempdir().unwrap();
    let sql = policy(
        dir.path(),
        "kind = \"sql\"\nnaming = \"golang-migrate\"\npath = \"db\"\n",
    );
    let yes = |path: &str| gate_chain::is_chain_file(&sql, path, || Ok::<_, ()>(Vec::new()));
    assert_eq!(yes("db/0001_a.up.sql"), Ok(true));
    assert_eq!(yes("db/0001_a.down.sql"), Ok(true));
    assert_eq!(yes("db/repair_users.sql"), Ok(false));
    assert_eq!(yes("db/repair_users.sh"), Ok(false));
}
