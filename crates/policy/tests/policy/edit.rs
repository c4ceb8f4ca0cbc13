//! PolicyEditor: edits touch only the entry they name, comments survive byte for byte, and
//! a save either lands a valid policy or leaves the file exactly as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use chrono::NaiveDate;
use gate_policy::edit::{EditValue, PolicyEditor};
use gate_policy::{PolicyError, load};

const COMMENTED: &str = include_str!("../fixtures/edit/commented.toml");

/// A copy of the commented fixture in a fresh folder, as the repository root.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, COMMENTED).unwrap();
    (dir, path)
}

fn s(v: &str) -> EditValue {
    EditValue::Str(v.to_string())
}

fn date(y: i32, m: u32, d: u32) -> EditValue {
    EditValue::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

const SHA_B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn add_script_appends_after_the_last_entry_and_touches_nothing_else() {
    let (dir, path) = scratch();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.add_script(
        "fix_zebra_admin_access.py",
        &[
            ("sha256", s(SHA_B)),
            ("reason", s("admins lost access")),
            ("ticket", s("OPS-7")),
            ("approved-on", date(2025, 9, 20)),
        ],
    )
    .unwrap();
    let anchor = "rollback = \"python3 scripts/repair_orders.py --rollback\"\n";
    let block = format!(
        "\n[[emergency.script]]\npath = \"fix_zebra_admin_access.py\"\nsha256 = \"{SHA_B}\"\nreason = \"admins lost access\"\nticket = \"OPS-7\"\napproved-on = 2025-09-20\n"
    );
    let expected = COMMENTED.replacen(anchor, &format!("{anchor}{block}"), 1);
    assert_ne!(expected, COMMENTED, "anchor must exist in the fixture");
    assert_eq!(ed.text(), expected);
    ed.save().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    let p = load(&path, dir.path()).unwrap();
    let added = p.emergency.script("fix_zebra_admin_access.py").unwrap();
    assert_eq!(added.approved_on, NaiveDate::from_ymd_opt(2025, 9, 20));
    assert_eq!(added.sha256.as_deref(), Some(SHA_B));
    // header line of the new entry: count lines in the expected text up to it
    let header = expected
        .find("[[emergency.script]]\npath = \"fix_zebra")
        .unwrap();
    let line = expected[..header].matches('\n').count() as u32 + 1;
    assert_eq!(added.line, line);
    assert_eq!(added.line_of("approved-on"), line + 5);
}

#[test]
fn add_script_refuses_a_registered_path() {
    let (_dir, path) = scratch();
    let mut ed = PolicyEditor::open(&path).unwrap();
    let err = ed
        .add_script("./emergency_enum_fix.py", &[("reason", s("again"))])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`./emergency_enum_fix.py` is already registered"),
        "{err}"
    );
    assert_eq!(ed.text(), COMMENTED);
}

#[test]
fn add_script_into_a_policy_without_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let original = "# minimal\nversion = 1\n\n[replay]\nbackend = \"url\"\n";
    std::fs::write(&path, original).unwrap();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.add_script("emergency_x.py", &[("ticket", s("INC-1"))])
        .unwrap();
    ed.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(original), "{text}");
    assert!(!text.contains("[emergency]\n"), "no empty header: {text}");
    let p = load(&path, dir.path()).unwrap();
    assert_eq!(p.emergency.scripts.len(), 1);
    assert_eq!(p.emergency.scripts[0].ticket.as_deref(), Some("INC-1"));
}

#[test]
fn set_fields_replaces_in_place_keeping_comments_and_appends_new_keys() {
    let (dir, path) = scratch();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.set_fields(
        "emergency_enum_fix.py",
        &[
            ("sha256", s(SHA_B)),
            ("author", s("other@example.com")),
            ("approved-by", s("lead@example.com")),
            ("approved-on", date(2025, 9, 20)),
        ],
    )
    .unwrap();
    let expected = COMMENTED
        .replacen(
            "sha256 = \"1111111111111111111111111111111111111111111111111111111111111111\"  # pinned 2025-09-18",
            &format!("sha256 = \"{SHA_B}\"  # pinned 2025-09-18"),
            1,
        )
        .replacen(
            "author    =    \"dev@example.com\"    # odd spacing on purpose",
            "author    =    \"other@example.com\"    # odd spacing on purpose",
            1,
        )
        .replacen(
            "status = \"active\"\n",
            "status = \"active\"\napproved-by = \"lead@example.com\"\napproved-on = 2025-09-20\n",
            1,
        );
    assert_eq!(ed.text(), expected);
    ed.save().unwrap();
    let p = load(&path, dir.path()).unwrap();
    let e = p.emergency.script("emergency_enum_fix.py").unwrap();
    assert_eq!(e.approved_by.as_deref(), Some("lead@example.com"));
    assert_eq!(e.author.as_deref(), Some("other@example.com"));
    assert_eq!(e.line, 20);
    assert_eq!(e.line_of("sha256"), 22);
    assert_eq!(e.line_of("approved-by"), 27);
}

#[test]
fn remove_fields_drops_only_those_keys() {
    let (dir, path) = scratch();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.remove_fields("scripts/repair_orders.py", &["ticket", "not-there"])
        .unwrap();
    // Removing a key takes the comment lines directly above it with it (they are its
    // decoration), so remove `rollback` and its TODO comment separately to check both.
    let expected = COMMENTED.replacen("ticket = \"INC-1050\"\n", "", 1);
    assert_eq!(ed.text(), expected);
    ed.remove_fields("scripts/repair_orders.py", &["rollback"])
        .unwrap();
    let expected = expected.replacen(
        "# TODO: find an approver\nrollback = \"python3 scripts/repair_orders.py --rollback\"\n",
        "",
        1,
    );
    assert_eq!(ed.text(), expected);
    ed.save().unwrap();
    let p = load(&path, dir.path()).unwrap();
    let e = p.emergency.script("scripts/repair_orders.py").unwrap();
    assert_eq!(e.ticket, None);
    assert_eq!(e.rollback, None);
    assert!(
        ed.remove_fields("scripts/repair_orders.py", &["path"])
            .is_err()
    );
}

#[test]
fn editing_an_unregistered_path_is_an_error() {
    let (_dir, path) = scratch();
    let mut ed = PolicyEditor::open(&path).unwrap();
    let err = ed
        .set_fields("nope.py", &[("ticket", s("INC-1"))])
        .unwrap_err();
    assert!(
        err.to_string().contains("`nope.py` is not registered"),
        "{err}"
    );
    assert!(ed.remove_fields("nope.py", &["ticket"]).is_err());
}

#[test]
fn a_failing_validation_leaves_the_file_unchanged() {
    let (dir, path) = scratch();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.set_fields(
        "emergency_enum_fix.py",
        &[("status", s("finished")), ("sql", s("../outside.sql"))],
    )
    .unwrap();
    let err = ed.save().unwrap_err();
    let PolicyError::Invalid { diagnostics, .. } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(diagnostics.len(), 2, "{err}");
    assert!(
        err.to_string().contains("invalid value `finished`"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), COMMENTED);
    // no temp file left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("policy.toml")]);
}

#[test]
fn save_keeps_permissions() {
    let (_dir, path) = scratch();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.set_fields("emergency_enum_fix.py", &[("ticket", s("INC-1043"))])
        .unwrap();
    ed.save().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("ticket = \"INC-1043\"")
    );
}

#[test]
fn opening_malformed_toml_reports_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, "version = 1\n[emergency\n").unwrap();
    let err = PolicyEditor::open(&path).unwrap_err();
    let PolicyError::Invalid { diagnostics, .. } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        (diagnostics[0].line, diagnostics[0].column),
        (Some(2), Some(11))
    );
}

#[test]
fn a_crlf_policy_stays_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let original = COMMENTED.replace('\n', "\r\n");
    std::fs::write(&path, &original).unwrap();
    let mut ed = PolicyEditor::open(&path).unwrap();
    ed.add_script("hotfix_x.py", &[("ticket", s("INC-9"))])
        .unwrap();
    ed.set_fields(
        "emergency_enum_fix.py",
        &[("approved-on", date(2025, 9, 21))],
    )
    .unwrap();
    ed.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    assert!(
        text.contains(
            "\r\n[[emergency.script]]\r\npath = \"hotfix_x.py\"\r\nticket = \"INC-9\"\r\n"
        )
    );
    assert!(text.contains("status = \"active\"\r\napproved-on = 2025-09-21\r\n"));
    let p = load(&path, dir.path()).unwrap();
    assert_eq!(p.emergency.scripts.len(), 3);
}

#[test]
fn an_inline_registry_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "version = 1\n[emergency]\nscript = [{ path = \"a_fix.py\" }]\n",
    )
    .unwrap();
    // the inline form is valid policy, only not editable
    load(&path, dir.path()).unwrap();
    let mut ed = PolicyEditor::open(&path).unwrap();
    let err = ed.add_script("b_fix.py", &[]).unwrap_err();
    assert!(err.to_string().contains("[[emergency.script]]"), "{err}");
    assert!(
        ed.set_fields("a_fix.py", &[("ticket", s("INC-1"))])
            .is_err()
    );
}
