//! `gate-approve check`: each of A001–A011 firing and not firing, on real git repositories.

mod approve_support;

use approve_support::*;

/// The reference case: everything in order, approval committed by the lead with the trailer.
#[test]
fn approved_entry_passes() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.codes().is_empty(), "{}", run.all());
}

/// Commit an entry with `over` as the lead with a proper trailer, then check.
fn committed(over: &[(&str, Option<&str>)], governance_extra: &str) -> Run {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", &policy(governance_extra, &entry(over)));
    r.commit_as(DEV, LEAD, APPROVAL);
    r.check()
}

#[test]
fn a001_missing_fields() {
    let run = committed(&[("ticket", None), ("reason", Some("\"  \""))], "");
    assert_eq!(run.code, 1);
    assert!(run.codes().contains(&"A001".into()), "{}", run.all());
    assert!(run.stdout.contains("`reason`, `ticket`"), "{}", run.stdout);
    assert!(
        run.stdout.contains("policy.toml:"),
        "points at the entry: {}",
        run.stdout
    );
}

#[test]
fn a002_unlisted_approver_and_empty_list() {
    let run = committed(&[("approved-by", Some("\"mallory@example.com\""))], "");
    assert!(run.codes().contains(&"A002".into()), "{}", run.all());

    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    let text =
        policy("", &entry(&[])).replace("approvers = [\"lead@example.com\"]", "approvers = []");
    r.write("policy.toml", &text);
    r.commit_as(DEV, LEAD, APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.codes().contains(&"A002".into()), "{}", run.all());
    assert!(run.stdout.contains("empty"), "{}", run.stdout);
}

#[test]
fn a003_self_approval_only_under_four_eyes() {
    let run = committed(&[("author", Some("\"lead@example.com\""))], "");
    assert!(run.codes().contains(&"A003".into()), "{}", run.all());
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    let text = policy("", &entry(&[("author", Some("\"lead@example.com\""))]))
        .replace("four-eyes = true", "four-eyes = false");
    r.write("policy.toml", &text);
    r.commit_as(DEV, LEAD, APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn a004_ticket_format() {
    let run = committed(&[("ticket", Some("\"JIRA-7\""))], "");
    assert_eq!(run.codes(), vec!["A004"], "{}", run.all());
}

#[test]
fn a005_edited_script_and_a006_missing_script() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.write(SCRIPT, "print('edited after approval')\n");
    let run = r.check();
    assert_eq!(run.codes(), vec!["A005"], "{}", run.all());
    assert!(
        run.stdout.contains(&format!("--> {SCRIPT}")),
        "points at the script: {}",
        run.stdout
    );

    std::fs::remove_file(r.file(SCRIPT)).unwrap();
    let run = r.check();
    assert_eq!(run.codes(), vec!["A006"], "{}", run.all());
}

#[test]
fn a007_deadline() {
    let r = Repo::approved_by_lead("", APPROVAL);
    // convert-by = 2026-01-10: the day itself is still in time.
    assert_eq!(r.approve(&["check", "--today", "2026-01-10"]).code, 0);
    let run = r.approve(&["check", "--today", "2026-01-13"]);
    assert_eq!(run.codes(), vec!["A007"], "{}", run.all());
    assert!(run.stdout.contains("overdue by 3 days"), "{}", run.stdout);
    // GATE_TODAY works the same way.
    let out = std::process::Command::new(BIN)
        .current_dir(r.path())
        .env("GATE_TODAY", "2026-01-13")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a008_converted_in_must_be_a_revision() {
    let migration = "revision = \"ab12cd34ef56\"\ndown_revision = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n";
    for (rev, codes) in [("ab12cd34ef56", vec![]), ("deadbeef0000", vec!["A008"])] {
        let r = Repo::new();
        r.write("alembic/versions/ab12cd34ef56_orders_note.py", migration);
        r.write(
            "policy.toml",
            &policy(
                "",
                &entry(&[
                    ("status", Some("\"converted\"")),
                    ("converted-in", Some(&format!("\"{rev}\""))),
                ]),
            ),
        );
        r.commit(DEV, "Converted");
        // The script is gone and the deadline passed: neither matters once converted.
        let run = r.approve(&["check", "--today", "2027-01-01"]);
        assert_eq!(run.codes(), codes, "{}", run.all());
    }
}

#[test]
fn a009_deadline_beyond_window() {
    let run = committed(&[("convert-by", Some("2026-02-01"))], "");
    assert_eq!(run.codes(), vec!["A009"], "{}", run.all());
    assert!(
        run.stdout.contains("2026-01-15"),
        "says the limit: {}",
        run.stdout
    );
}

#[test]
fn a011_rollback_required() {
    let run = committed(&[("rollback", None)], "");
    assert_eq!(run.codes(), vec!["A011"], "{}", run.all());
    let run = committed(&[("rollback", None)], "require-rollback = false");
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn a010_trailer_missing() {
    let r = Repo::approved_by_lead("", "Approve the orders fix\n\nLooks fine to me.\n");
    let run = r.check();
    assert_eq!(run.codes(), vec!["A010"], "{}", run.all());
    assert!(
        run.stdout.contains("has no `Approved-by:` trailer"),
        "{}",
        run.stdout
    );
}

#[test]
fn a010_trailer_in_the_wrong_paragraph() {
    let r = Repo::approved_by_lead(
        "",
        "Approve the orders fix\n\nApproved-by: lead@example.com\n\nSome closing words after the trailer.\n",
    );
    assert_eq!(r.check().codes(), vec!["A010"]);
}

#[test]
fn a010_prose_mention_does_not_count() {
    let r = Repo::approved_by_lead(
        "",
        "Approve the orders fix\n\nAs agreed, I will add Approved-by: lead@example.com later.\n",
    );
    assert_eq!(r.check().codes(), vec!["A010"]);
}

#[test]
fn a010_trailer_token_is_case_insensitive() {
    let r = Repo::approved_by_lead("", "Approve\n\napproved-BY: lead@example.com\n");
    assert_eq!(r.check().code, 0);
}

#[test]
fn a010_forged_trailer_committed_by_the_author() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", &policy("", &entry(&[])));
    // The developer types the lead's approval and the trailer and commits it themselves.
    r.commit(DEV, APPROVAL);
    let run = r.check();
    assert_eq!(run.codes(), vec!["A010"], "{}", run.all());
    assert!(
        run.stdout.contains("committed by dev@example.com"),
        "{}",
        run.stdout
    );
}

#[test]
fn a010_later_unrelated_commits_do_not_hide_the_approval() {
    let r = Repo::approved_by_lead("", APPROVAL);
    // Reformatting and another key change by dev: the pin stays the lead's.
    let text = r.read("policy.toml").replace(
        "reason = \"orders lacked a note column in production\"",
        "reason   =   'orders lacked a note column in production (INC-1042)'",
    );
    r.write("policy.toml", &text);
    r.commit(DEV, "Reword the reason");
    assert_eq!(r.check().code, 0);
    // Re-pinning the content by dev is a new, unapproved pin.
    let text = r
        .read("policy.toml")
        .replace(&sha256(SCRIPT_TEXT.as_bytes()), &sha256(b"print('v2')\n"));
    r.write("policy.toml", &text);
    r.write(SCRIPT, "print('v2')\n");
    r.commit(DEV, "v2");
    assert_eq!(r.check().codes(), vec!["A010"]);
}

#[test]
fn a010_approval_not_committed_yet() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(
        "policy.toml",
        &policy("", &entry(&[("approved-by", None), ("approved-on", None)])),
    );
    r.commit(DEV, "Add the orders fix");
    r.write("policy.toml", &policy("", &entry(&[])));
    let run = r.check();
    assert_eq!(run.codes(), vec!["A010"], "{}", run.all());
    assert!(run.stdout.contains("not committed yet"), "{}", run.stdout);
}

#[test]
fn a010_policy_absent_from_history() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.commit(DEV, "Only the script");
    r.write("policy.toml", &policy("", &entry(&[])));
    let run = r.check();
    assert_eq!(run.codes(), vec!["A010"], "{}", run.all());
    assert!(
        run.stdout.contains("policy.toml is not committed"),
        "{}",
        run.stdout
    );
    // A repository without any commit at all: the same finding, not a crash.
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", &policy("", &entry(&[])));
    let run = r.check();
    assert_eq!(run.codes(), vec!["A010"], "{}", run.all());
}

#[test]
fn a010_require_signed() {
    let r = Repo::approved_by_lead("require-signed = true", APPROVAL);
    let run = r.check();
    assert_eq!(run.codes(), vec!["A010"], "{}", run.all());
    assert!(run.stdout.contains("not signed"), "{}", run.stdout);
}

#[test]
fn a010_shallow_clone_cannot_check() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.write("README.md", "later work\n");
    r.commit(DEV, "Unrelated later commit");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.path().display());
    let st = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url])
        .arg(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = std::process::Command::new(BIN)
        .args(["check", "--today", TODAY])
        .current_dir(clone.path().join("c"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("git fetch --unshallow"), "{stderr}");
    assert!(stderr.contains("fetch-depth: 0"), "{stderr}");
    // With the full history it passes.
    let full = std::process::Command::new("git")
        .args(["fetch", "-q", "--unshallow"])
        .current_dir(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(full.success());
    let out = std::process::Command::new(BIN)
        .args(["check", "--today", TODAY])
        .current_dir(clone.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn legacy_is_exempt_from_approval_but_not_from_its_deadline() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    let e = entry(&[
        ("status", Some("\"legacy\"")),
        ("ticket", None),
        ("author", None),
        ("approved-by", None),
        ("approved-on", None),
        ("rollback", None),
    ]);
    r.write("policy.toml", &policy("", &e));
    r.commit(DEV, "Baseline");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    assert_eq!(
        r.approve(&["check", "--today", "2026-02-01"]).codes(),
        vec!["A007"]
    );
}

#[test]
fn impossible_dates_are_configuration_errors() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(
        "policy.toml",
        &policy("", &entry(&[("approved-on", Some("2026-02-30"))])),
    );
    r.commit_as(DEV, LEAD, APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("2026-02-30"), "{}", run.stderr);
    let r = Repo::approved_by_lead("", APPROVAL);
    let run = r.approve(&["check", "--today", "2026-13-01"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("YYYY-MM-DD"), "{}", run.stderr);
}

#[test]
fn json_findings_point_at_the_policy_line() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    let text = policy("", &entry(&[("ticket", Some("\"nope\""))]));
    let header_line = text
        .lines()
        .position(|l| l == "[[emergency.script]]")
        .unwrap()
        + 1;
    r.write("policy.toml", &text);
    r.commit_as(DEV, LEAD, APPROVAL);
    let run = r.approve(&["check", "--today", TODAY, "--format", "json"]);
    assert_eq!(run.code, 1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["code"], "A004");
    assert_eq!(f["path"], "policy.toml");
    assert_eq!(f["line"], header_line as u64);
}

/// Long enough that the history is compared on several threads: the newest setter still wins.
#[test]
fn a010_long_history_finds_the_newest_setter() {
    let r = Repo::approved_by_lead("", APPROVAL);
    for i in 0..40 {
        let text = r.read("policy.toml");
        let text = text.replacen(
            "reason = \"orders lacked a note column in production",
            &format!("reason = \"orders lacked a note column in production ({i})"),
            1,
        );
        let text = text.replace(&format!("({}) ({i})", i.max(1) - 1), &format!("({i})"));
        r.write("policy.toml", &text);
        r.commit(DEV, &format!("Reword {i}"));
    }
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    // The developer re-approves in their own name halfway through a second long stretch.
    let text = r
        .read("policy.toml")
        .replace("approved-on = 2026-01-01", "approved-on = 2026-01-02");
    r.write("policy.toml", &text);
    r.commit(DEV, "Touch approved-on only");
    assert_eq!(r.check().code, 0, "approved-on is not part of the pin");
    let text = r.read("policy.toml").replace(
        "approved-by = \"lead@example.com\"",
        "approved-by = \"other@example.com\"",
    );
    r.write("policy.toml", &text);
    r.commit(DEV, "Switch approver");
    for i in 0..20 {
        r.write("notes.txt", &format!("{i}\n"));
        let text = r.read("policy.toml") + &format!("# note {i}\n");
        r.write("policy.toml", &text);
        r.commit(DEV, &format!("Note {i}"));
    }
    let run = r.check();
    assert!(run.codes().contains(&"A010".into()), "{}", run.all());
    assert!(
        run.stdout.contains("Switch approver"),
        "names the setter: {}",
        run.stdout
    );
}

#[test]
fn no_subcommand_means_check_and_report_shows_overdue_fixes() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let run = r.approve(&["--today", "2026-01-20"]);
    assert_eq!(run.codes(), vec!["A007"], "{}", run.all());
    let md = r.approve(&["report", "--format", "markdown", "--today", "2026-01-20"]);
    assert_eq!(md.code, 1, "the report fails like check: {}", md.all());
    assert!(md.stdout.contains("A007"), "{}", md.stdout);
    assert!(
        md.stdout.contains("**2026-01-10, overdue by 10 days**"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout
            .contains("1 active, 0 legacy, 0 converted, 0 retired · 1 overdue"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("| lead@example.com |"),
        "approver column: {}",
        md.stdout
    );
}
