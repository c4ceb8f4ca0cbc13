//! Valid policies load into the typed model with the right defaults and explicit values.

use std::path::Path;

use chrono::NaiveDate;
use gate_policy::{
    Backend, MigrationKind, PolicyError, Scope, ScriptStatus, SqlNaming, load, parse,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn minimal_policy_gets_every_default() {
    let p = parse("version = 1\n", Path::new("policy.toml"), Path::new(".")).unwrap();
    assert_eq!(p.version, 1);
    let m = &p.migrations;
    assert_eq!(m.kind, MigrationKind::Alembic);
    assert_eq!(m.path, "alembic/versions");
    assert_eq!(m.config, "alembic.ini");
    assert_eq!(m.naming, SqlNaming::GolangMigrate);
    assert_eq!((m.upgrade.as_str(), m.downgrade.as_str()), ("", ""));
    assert_eq!(m.lockfile, "migrations.lock");
    assert_eq!(m.max_heads, 1);
    let e = &p.emergency;
    assert_eq!(
        e.scope,
        vec![Scope {
            dir: String::new(),
            recursive: false
        }]
    );
    assert!(e.ddl);
    assert_eq!(e.ignore, vec!["setup.py", "conftest.py"]);
    assert!(e.is_ignored("pkg/conftest.py"));
    for name in [
        "emergency_db_fix.py",
        "fix_zebra_admin_access.py",
        "production_schema_repair.py",
        "HOTFIX.sql",
        "emergency_enum_fix.py",
    ] {
        assert!(e.name_matches(name), "{name} must match the default names");
    }
    assert!(!e.name_matches("prefix.py"), "`fix` only at a word start");
    assert!(e.scripts.is_empty());
    let g = &p.governance;
    assert!(g.approvers.is_empty());
    assert!(g.ticket.is_match("INC-1042") && !g.ticket.is_match("JIRA-1"));
    assert_eq!(g.convert_within_days, 14);
    assert!(g.four_eyes && !g.require_signed && g.require_rollback);
    assert_eq!(g.trailer, "Approved-by");
    let r = &p.replay;
    assert_eq!(r.backend, Backend::Auto);
    assert_eq!(r.image, "postgres:16-alpine");
    assert_eq!(r.python, "python3");
    assert_eq!(r.prelude, "");
    assert!(r.roundtrip && r.fixes);
    assert_eq!(r.snapshot, "schema.snapshot.json");
    assert_eq!((r.slow_ms, r.timeout_s), (5000, 900));
    assert_eq!(p.key_lines.get("version"), Some(&1));
}

#[test]
fn explicit_values_are_kept() {
    let dir = root().join("tests/fixtures/valid");
    let p = load(&dir.join("full.toml"), &dir).unwrap();
    let m = &p.migrations;
    assert_eq!(m.kind, MigrationKind::Sql);
    assert_eq!(m.path, "db/migrations");
    assert_eq!(m.naming, SqlNaming::Flyway);
    assert_eq!(m.upgrade, "make migrate");
    assert_eq!(m.downgrade, "make rollback");
    assert_eq!(m.lockfile, "db/migrations.lock");
    assert_eq!(m.max_heads, 2);
    assert_eq!(p.key_lines.get("migrations.max-heads"), Some(&11));

    let e = &p.emergency;
    let scope: Vec<(&str, bool)> = e
        .scope
        .iter()
        .map(|s| (s.dir.as_str(), s.recursive))
        .collect();
    assert_eq!(scope, vec![("", false), ("scripts", true), ("ops", false)]);
    assert!(e.scope[1].contains("scripts/a/b.py") && !e.scope[0].contains("scripts/b.py"));
    assert!(!e.ddl);
    assert!(e.name_matches("PATCH_orders.py") && e.name_matches("my_hotfix.sh"));
    assert!(
        !e.name_matches("emergency_fix.py"),
        "explicit names replace the defaults"
    );
    assert!(e.is_ignored("docs/a/b.sql") && e.is_ignored("scripts/keep_fix.py"));
    assert!(
        !e.is_ignored("setup.py"),
        "explicit ignore replaces the defaults"
    );

    let g = &p.governance;
    assert_eq!(g.approvers, vec!["lead@example.com", "dba@example.com"]);
    assert!(g.ticket.is_match("JIRA-7") && !g.ticket.is_match("INC-7"));
    assert_eq!(g.convert_within_days, 30);
    assert!(!g.four_eyes && g.require_signed && !g.require_rollback);
    assert_eq!(g.trailer, "Reviewed-by");

    let r = &p.replay;
    assert_eq!(r.backend, Backend::Url);
    assert_eq!(r.image, "postgis/postgis:16-3.4");
    assert_eq!(r.python, ".venv/bin/python");
    assert_eq!(r.prelude, "CREATE ROLE app;");
    assert!(!r.roundtrip && !r.fixes);
    assert_eq!(r.snapshot, "db/schema.json");
    assert_eq!((r.slow_ms, r.timeout_s), (250, 60));

    assert_eq!(e.scripts.len(), 2);
    let s = e
        .script("emergency_enum_fix.py")
        .expect("./ prefix is normalised away");
    assert_eq!(s.line, 39);
    assert_eq!(s.line_of("sha256"), 41);
    assert_eq!(s.line_of("approved-by"), 45);
    assert_eq!(s.line_of("missing-key"), 39);
    assert_eq!(
        s.sha256.as_deref(),
        Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
    );
    assert_eq!(s.approved_on, NaiveDate::from_ymd_opt(2025, 9, 20));
    assert_eq!(
        s.convert_by,
        NaiveDate::from_ymd_opt(2025, 10, 4),
        "string dates load too"
    );
    assert_eq!(s.status, ScriptStatus::Converted);
    assert_eq!(s.converted_in.as_deref(), Some("c3d4e5f6a7b8"));
    assert_eq!(s.applied_after.as_deref(), Some("9c1d2e3f4a5b"));
    assert_eq!(s.reason.as_deref(), Some("enum lacked a value"));
    assert_eq!(s.ticket.as_deref(), Some("JIRA-1"));
    assert_eq!(s.author.as_deref(), Some("dev@example.com"));
    assert_eq!(s.approved_by.as_deref(), Some("lead@example.com"));
    assert_eq!(s.run.as_deref(), Some("python3 emergency_enum_fix.py"));
    assert_eq!(
        s.rollback.as_deref(),
        Some("python3 emergency_enum_fix.py --rollback")
    );
    let sql = &e.scripts[1];
    assert_eq!(sql.path, "scripts/repair.sql");
    assert_eq!(sql.sql.as_deref(), Some("scripts/repair.sql"));
    assert_eq!(
        sql.status,
        ScriptStatus::Active,
        "status defaults to active"
    );
    assert_eq!((sql.sha256.clone(), sql.run.clone()), (None, None));
    assert_eq!(sql.line, 54);
}

#[test]
fn the_reference_policy_loads() {
    let repo = root().join("../..");
    let p = load(&repo.join("policy.toml"), &repo).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.version, 1);
    assert!(
        p.emergency.scripts.is_empty(),
        "this repository registers no scripts"
    );
    assert_eq!(p.governance.approvers, vec!["lead@example.com"]);
}

/// The commented-out example entry in the reference policy documents every registry key; it
/// must be a valid entry when uncommented.
#[test]
fn the_reference_example_entry_is_valid_when_uncommented() {
    let repo = root().join("../..");
    let text = std::fs::read_to_string(repo.join("policy.toml")).unwrap();
    let start = text
        .find("# [[emergency.script]]")
        .expect("example entry present");
    let mut edited = text[..start].to_string();
    for line in text[start..].lines() {
        let l = line.strip_prefix("# ").unwrap_or(line);
        edited.push_str(l);
        edited.push('\n');
    }
    let p = parse(&edited, Path::new("policy.toml"), &repo).unwrap_or_else(|e| panic!("{e}"));
    let s = &p.emergency.scripts[0];
    assert_eq!(s.path, "emergency_enum_fix.py");
    for key in [
        "path",
        "sha256",
        "reason",
        "ticket",
        "author",
        "approved-by",
        "approved-on",
        "convert-by",
        "status",
        "converted-in",
        "applied-after",
        "run",
        "rollback",
    ] {
        assert!(s.key_lines.contains_key(key), "example lacks `{key}`");
    }
    assert!(
        text[start..].contains("# sql = "),
        "example documents `sql`"
    );
}

#[test]
fn a_symlink_that_leaves_the_repository_is_rejected() {
    let outside = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("linked")).unwrap();
    let text = "version = 1\n[migrations]\npath = \"linked\"\n";
    let err = parse(text, Path::new("policy.toml"), repo.path()).unwrap_err();
    let PolicyError::Invalid { diagnostics, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        (diagnostics[0].line, diagnostics[0].column),
        (Some(3), Some(8))
    );
    assert!(
        diagnostics[0].message.contains("through a symlink"),
        "{err}"
    );
    // the same folder inside the repository is fine
    std::fs::create_dir(repo.path().join("real")).unwrap();
    let ok = "version = 1\n[migrations]\npath = \"real\"\n";
    parse(ok, Path::new("policy.toml"), repo.path()).unwrap();
}

#[test]
fn a_missing_file_names_the_path() {
    let err = load(Path::new("/nonexistent/policy.toml"), Path::new("/")).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert!(
        err.to_string().contains("/nonexistent/policy.toml"),
        "{err}"
    );
}
