//! gate-replay's emergency-fix checks on the crisis example's real scripts: idempotency
//! (F001), rollback (F002), conflicts with later migrations on the production path (F003),
//! drift (F004) and incomplete conversions (F005). Fixes only ever run on scratch databases.

use crate::support::alembic::*;
use crate::support::replay::*;
use crate::support::*;

fn register(
    repo: &std::path::Path,
    path: &str,
    status: &str,
    applied_after: Option<&str>,
    extra: &str,
) {
    let after = applied_after
        .map(|a| format!("applied-after = \"{a}\"\n"))
        .unwrap_or_default();
    append(
        repo,
        "policy.toml",
        &format!(
            "\n[[emergency.script]]\npath = \"{path}\"\nstatus = \"{status}\"\n{after}run = \"python3 {path}\"\nrollback = \"python3 {path} --rollback\"\n{extra}"
        ),
    );
}

#[test]
fn the_enum_fix_is_not_idempotent_and_conflicts_with_the_later_migration() {
    let repo = crisis();
    register(
        repo.path(),
        "emergency_enum_fix.py",
        "active",
        Some("6e7f8091a2b3"),
        "",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 1, "{}", run.all());

    let f001 = run.findings("F001");
    assert_eq!(f001.len(), 1, "{}", run.stdout);
    assert_eq!(f001[0]["path"], "emergency_enum_fix.py");
    assert!(
        f001[0]["message"]
            .as_str()
            .unwrap()
            .contains("second run fails"),
        "{}",
        f001[0]
    );

    // THE crisis: replayed where production ran it, migration 7f8091a2b3c4 breaks.
    let f003 = run.findings("F003");
    assert_eq!(f003.len(), 1, "{}", run.stdout);
    let msg = f003[0]["message"].as_str().unwrap();
    assert!(msg.contains("emergency_enum_fix.py"), "{msg}");
    assert!(msg.contains("7f8091a2b3c4"), "{msg}");
    assert!(msg.contains("42710"), "{msg}");
    assert!(msg.contains("super_admin"), "{msg}");
    assert_eq!(
        f003[0]["path"],
        "alembic/versions/7f8091a2b3c4_add_super_admin_role.py"
    );
    // Its rollback rebuilds the enum without the value: the schema is restored.
    assert!(run.findings("F002").is_empty(), "{}", run.stdout);
}

#[test]
fn a_guarded_fix_with_no_migration_behind_it_is_drift_f004() {
    let repo = crisis();
    register(
        repo.path(),
        "deploy_emergency_database_fix.py",
        "active",
        Some(CRISIS_HEAD),
        "",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.findings("F001").is_empty(),
        "guarded fix is idempotent: {}",
        run.stdout
    );
    assert!(run.findings("F003").is_empty(), "{}", run.stdout);
    let f004 = run.findings("F004");
    assert_eq!(f004.len(), 1, "{}", run.stdout);
    assert!(
        f004[0]["message"].as_str().unwrap().contains("is_verified"),
        "{}",
        f004[0]
    );
}

#[test]
fn a_converted_fix_that_still_differs_is_f005() {
    let repo = crisis();
    register(
        repo.path(),
        "deploy_emergency_database_fix.py",
        "converted",
        Some(CRISIS_HEAD),
        &format!("converted-in = \"{CRISIS_HEAD}\"\n"),
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.findings("F004").is_empty(), "{}", run.stdout);
    assert_eq!(run.findings("F005").len(), 1, "{}", run.stdout);
}

#[test]
fn a_sql_fix_that_matches_the_chain_passes_and_a_broken_rollback_is_f002() {
    let repo = crisis();
    // Idempotent, adds nothing the chain lacks (the index already exists at head): no F001/F004.
    write(
        repo.path(),
        "fixes/noop_fix.sql",
        "CREATE TABLE IF NOT EXISTS organisations (id integer);\n",
    );
    append(
        repo.path(),
        "policy.toml",
        "\n[[emergency.script]]\npath = \"fixes/noop_fix.sql\"\nstatus = \"legacy\"\nsql = \"fixes/noop_fix.sql\"\n",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 0, "{}", run.all());
    // It changes nothing at its revision and no statement fails: an F006 warning, not an error.
    assert_eq!(
        run.json_codes()
            .iter()
            .filter(|c| c.starts_with('F'))
            .collect::<Vec<_>>(),
        vec!["F006"],
        "{}",
        run.stdout
    );
    assert_eq!(
        run.findings("F006")[0]["severity"],
        "warning",
        "{}",
        run.stdout
    );

    // A fix whose rollback does not undo it.
    let repo = crisis();
    write(
        repo.path(),
        "fixes/add_column.sql",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;\n",
    );
    append(
        repo.path(),
        "policy.toml",
        &format!(
            "\n[[emergency.script]]\npath = \"fixes/add_column.sql\"\nstatus = \"active\"\napplied-after = \"{CRISIS_HEAD}\"\nsql = \"fixes/add_column.sql\"\nrollback = \"true\"\n"
        ),
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let f002 = run.findings("F002");
    assert_eq!(f002.len(), 1, "{}", run.stdout);
    assert!(
        f002[0]["message"].as_str().unwrap().contains("nickname"),
        "{}",
        f002[0]
    );
    assert_eq!(run.findings("F004").len(), 1, "{}", run.stdout);
}

#[test]
fn retired_fixes_and_no_fixes_are_not_run() {
    let repo = crisis();
    register(
        repo.path(),
        "emergency_enum_fix.py",
        "retired",
        Some("6e7f8091a2b3"),
        "",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 0, "{}", run.all());

    let repo = crisis();
    register(
        repo.path(),
        "emergency_enum_fix.py",
        "active",
        Some("6e7f8091a2b3"),
        "",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip", "--no-fixes"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn an_applied_after_that_names_no_revision_is_exit_2() {
    let repo = crisis();
    register(
        repo.path(),
        "emergency_enum_fix.py",
        "active",
        Some("deadbeef0000"),
        "",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("applied-after"), "{}", run.stderr);
    assert!(
        run.stderr.contains("emergency_enum_fix.py"),
        "{}",
        run.stderr
    );
}
