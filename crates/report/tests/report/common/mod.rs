//! Representative reports shared by the golden and well-formedness tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, UNIX_EPOCH};

use gate_report::render::markdown_code;
use gate_report::{CheckRun, Code, Finding, Report, Section, Severity};
use serde_json::json;

/// A report whose start is fixed (2026-12-01T08:00:00 UTC), so JUnit's timestamp is stable.
fn report(tool: &'static str, subject: &str) -> Report {
    let mut r = Report::new(tool, subject);
    r.started = Some(UNIX_EPOCH + Duration::from_secs(1_796_112_000));
    r
}

/// A run with nothing to say.
pub fn empty() -> Report {
    report("gate-precommit", "staged changes")
}

/// A run with nothing found on the two files it judged: passing test cases in JUnit.
pub fn clean() -> Report {
    let mut r = report("gate-precommit", "working tree: 2 files checked");
    r.checked(Code::G001, "ops/cleanup.sh");
    r.checked(Code::G002, "emergency_db_fix.py");
    r.duration = Some(Duration::from_millis(42));
    r.sort();
    r
}

/// File names that GitHub would turn into links, mentions or issue references, a backtick
/// in a suggested command, pipes and HTML: the Markdown must show them as text.
pub fn hostile() -> Report {
    let mut r = report("gate-precommit", "staged changes: 3 files checked");
    let name = "www.evil.com_#1.py";
    let ticked = "a`b ``c.py";
    r.findings = vec![
        Finding::new(
            Code::G001,
            format!("{name} is an unregistered emergency script: ping @admin or mail ops@example.com, see https://evil.example/x"),
        )
        .at(name)
        .help(format!("register it: {}", markdown_code(&format!("gate-approve register {name}")))),
        Finding::new(Code::G002, format!("{ticked} | <img src=x onerror=alert(1)> changed after approval"))
            .at(ticked)
            .entry(ticked)
            .help(format!(
                "revert the edit, or re-pin it with {} and get it approved",
                markdown_code(&format!("gate-approve register '{ticked}' --update"))
            )),
    ];
    r.checked(Code::G001, name);
    r.checked(Code::G001, "ops/clean.sh");
    r.checked(Code::G002, ticked);
    r.sort();
    r
}

/// Every severity, with and without path, line and column.
pub fn mixed() -> Report {
    let mut r = report("gate-replay", "13 migrations");
    r.findings = vec![
        Finding::new(
            Code::R001,
            "upgrade 0006_roles -> 0007_add_admin failed: relation \"users\" already exists (SQLSTATE 42P07)",
        )
        .at("alembic/versions/0007_add_admin.py")
        .line(12)
        .column(5)
        .help("Fix the named migration so it runs on an empty database."),
        Finding::new(
            Code::G001,
            "emergency_db_fix.py is an emergency script that is not registered in policy.toml",
        )
        .at("emergency_db_fix.py")
        .help("Turn it into a migration, or register it with `gate-approve register emergency_db_fix.py`."),
        Finding::new(Code::R005, "0003_backfill took 7412 ms (slow-ms = 5000)")
            .at("alembic/versions/0003_backfill.py")
            .line(1)
            .help("Split the migration or make the slow step concurrent."),
        Finding::new(Code::C003, "the chain has 2 heads (a1b2c3, d4e5f6); max-heads is 1")
            .help("Merge the heads with `alembic merge -m \"merge heads\" a1b2c3 d4e5f6`."),
        // No help: renderers leave the help line (and the Fix cell) out.
        Finding::new(Code::R003, "the schema has an index the snapshot does not list: ix_users_email")
            .severity(Severity::Note)
            .help(""),
    ];
    // Timings the replay measured, and a check that passed.
    r.checks = vec![
        CheckRun::new(Code::R001, "alembic/versions/0007_add_admin.py")
            .time(Duration::from_millis(1250)),
        CheckRun::new(Code::R001, "alembic/versions/0003_backfill.py")
            .time(Duration::from_millis(7412)),
        CheckRun::new(Code::R001, "alembic/versions/0001_init.py").time(Duration::from_millis(80)),
    ];
    r.duration = Some(Duration::from_millis(9100));
    r
}

/// Characters that break naive renderers: table pipes, backticks, HTML, line breaks, `%`,
/// unicode, a terminal escape, and a path with a space, a comma and a colon.
pub fn odd() -> Report {
    let mut r = report("gate-precommit", "working tree\n(all files) 100% | <b>");
    r.findings = vec![
        Finding::new(
            Code::G001,
            "script `fix|it`.py says <script>alert(\"x\")</script> & more\nsecond line: 100% ✓ — ñandú 数据库 🚀",
        )
        .at("ops scripts/fix, v2: final.py")
        .line(3)
        .column(14)
        .help("Register it:\r\n`gate-approve register \"ops scripts/fix, v2: final.py\"` | then *approve* [it]"),
        // A finding about a registry entry whose name needs escaping too; no help.
        Finding::new(Code::F001, "a warning with a terminal escape \u{1b}[31mRED\u{1b}[0m and a tab\there")
            .severity(Severity::Warning)
            .at("weird``path/ü.sql")
            .entry("weird``path/ü.sql")
            .help(""),
    ];
    r
}

/// A report with sections (the approval table a gate adds).
pub fn with_sections() -> Report {
    let mut r = report("gate-approve", "3 registered emergency scripts");
    r.findings = vec![
        Finding::new(
            Code::A007,
            "emergency_enum_fix.py was due for conversion on 2025-10-04",
        )
        .at("policy.toml")
        .line(42)
        .column(1)
        .help("Turn the fix into a migration and set status = \"converted\" with converted-in."),
    ];
    r.sections = vec![
        Section {
            title: "Registered emergency scripts".into(),
            text: "PATH                    STATUS  CONVERT-BY\nemergency_enum_fix.py   active  2025-10-04 (overdue)\nfix_zebra_admin.py      legacy  -\n".into(),
            markdown: "| Path | Status | Convert by |\n|---|---|---|\n| `emergency_enum_fix.py` | active | 2025-10-04 (overdue) |\n| `fix_zebra_admin.py` | legacy | – |\n".into(),
            data: json!([
                {"path": "emergency_enum_fix.py", "status": "active", "convert-by": "2025-10-04", "overdue": true},
                {"path": "fix_zebra_admin.py", "status": "legacy", "convert-by": null, "overdue": false}
            ]),
        },
        Section {
            title: "Timings".into(),
            text: "approval checks: 12 ms".into(),
            markdown: "Approval checks took **12 ms**.".into(),
            data: json!({"approval_ms": 12}),
        },
    ];
    r
}

/// Every fixture with its golden-file stem.
pub fn all() -> Vec<(&'static str, Report)> {
    vec![
        ("empty", empty()),
        ("clean", clean()),
        ("hostile", hostile()),
        ("mixed", mixed()),
        ("odd", odd()),
        ("sections", with_sections()),
    ]
}
