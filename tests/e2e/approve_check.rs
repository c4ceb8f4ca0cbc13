//! `gate-approve check`: each of A001–A012 and G005 firing and not firing, on real git
//! repositories.

use crate::support::approve::*;
use crate::support::repo::*;
use crate::support::run::*;
use crate::support::sha256_hex;

/// The reference case: everything in order, approval committed by the lead with the trailer.
#[test]
fn approved_entry_passes() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.text_codes().is_empty(), "{}", run.all());
}

/// Commit an entry with `over` as the lead with a proper trailer, then check.
fn committed(over: &[(&str, Option<&str>)], governance_extra: &str) -> Run {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", policy(governance_extra, &entry(over)));
    r.commit_all_as(DEV, LEAD, APPROVAL);
    r.check()
}

#[test]
fn a001_missing_fields() {
    let run = committed(&[("ticket", None), ("reason", Some("\"  \""))], "");
    assert_eq!(run.code, 1);
    assert!(run.text_codes().contains(&"A001".into()), "{}", run.all());
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
    assert!(run.text_codes().contains(&"A002".into()), "{}", run.all());

    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    let text =
        policy("", &entry(&[])).replace("approvers = [\"lead@example.com\"]", "approvers = []");
    r.write("policy.toml", &text);
    r.commit_all_as(DEV, LEAD, APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.text_codes().contains(&"A002".into()), "{}", run.all());
    assert!(run.stdout.contains("empty"), "{}", run.stdout);
}

#[test]
fn a003_self_approval_only_under_four_eyes() {
    let run = committed(&[("author", Some("\"lead@example.com\""))], "");
    assert!(run.text_codes().contains(&"A003".into()), "{}", run.all());
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    let text = policy("", &entry(&[("author", Some("\"lead@example.com\""))]))
        .replace("four-eyes = true", "four-eyes = false");
    r.write("policy.toml", &text);
    r.commit_all_as(DEV, LEAD, APPROVAL);
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn a004_ticket_format() {
    let run = committed(&[("ticket", Some("\"JIRA-7\""))], "");
    assert_eq!(run.text_codes(), vec!["A004"], "{}", run.all());
}

#[test]
fn a005_edited_script_and_a006_missing_script() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.write(SCRIPT, "print('edited after approval')\n");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A005"], "{}", run.all());
    assert!(
        run.stdout.contains(&format!("--> {SCRIPT}")),
        "points at the script: {}",
        run.stdout
    );

    std::fs::remove_file(r.path(SCRIPT)).unwrap();
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A006"], "{}", run.all());
}

#[test]
fn a007_deadline() {
    let r = Repo::approved_by_lead("", APPROVAL);
    // convert-by = 2026-01-10: the day itself is still in time.
    assert_eq!(r.approve(&["check", "--today", "2026-01-10"]).code, 0);
    let run = r.approve(&["check", "--today", "2026-01-13"]);
    assert_eq!(run.text_codes(), vec!["A007"], "{}", run.all());
    assert!(run.stdout.contains("overdue by 3 days"), "{}", run.stdout);
    // GATE_TODAY works the same way.
    let out = gate_command(APPROVE)
        .current_dir(r.root.as_path())
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
            policy(
                "",
                &entry(&[
                    ("status", Some("\"converted\"")),
                    ("converted-in", Some(&format!("\"{rev}\""))),
                ]),
            ),
        );
        r.commit_all_by(DEV, "Converted");
        // The script is gone and the deadline passed: neither matters once converted.
        let run = r.approve(&["check", "--today", "2027-01-01"]);
        assert_eq!(run.text_codes(), codes, "{}", run.all());
    }
}

#[test]
fn a009_deadline_beyond_window() {
    let run = committed(&[("convert-by", Some("2026-02-01"))], "");
    assert_eq!(run.text_codes(), vec!["A009"], "{}", run.all());
    assert!(
        run.stdout.contains("2026-01-15"),
        "says the limit: {}",
        run.stdout
    );
}

#[test]
fn a011_rollback_required() {
    let run = committed(&[("rollback", None)], "");
    assert_eq!(run.text_codes(), vec!["A011"], "{}", run.all());
    let run = committed(&[("rollback", None)], "require-rollback = false");
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn a010_trailer_missing() {
    let r = Repo::approved_by_lead("", "Approve the orders fix\n\nLooks fine to me.\n");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A010"], "{}", run.all());
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
    assert_eq!(r.check().text_codes(), vec!["A010"]);
}

#[test]
fn a010_prose_mention_does_not_count() {
    let r = Repo::approved_by_lead(
        "",
        "Approve the orders fix\n\nAs agreed, I will add Approved-by: lead@example.com later.\n",
    );
    assert_eq!(r.check().text_codes(), vec!["A010"]);
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
    r.write("policy.toml", policy("", &entry(&[])));
    // The developer types the lead's approval and the trailer and commits it themselves.
    r.commit_all_by(DEV, APPROVAL);
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A010"], "{}", run.all());
    assert!(
        run.stdout.contains("committed by dev@example.com"),
        "{}",
        run.stdout
    );
}

#[test]
fn a010_later_unrelated_commits_do_not_hide_the_approval() {
    let r = Repo::approved_by_lead("", APPROVAL);
    // Reformatting and another key change by dev: the pin stays the lead's (no A010), but
    // the entry changed without an approval (A012).
    let text = r.read("policy.toml").replace(
        "reason = \"orders lacked a note column in production\"",
        "reason   =   'orders lacked a note column in production (INC-1042)'",
    );
    r.write("policy.toml", &text);
    r.commit_all_by(DEV, "Reword the reason");
    assert_eq!(r.check().text_codes(), vec!["A012"], "{}", r.check().all());
    // Re-pinning the content by dev is a new, unapproved pin.
    let text = r.read("policy.toml").replace(
        &sha256_hex(SCRIPT_TEXT.as_bytes()),
        &sha256_hex(b"print('v2')\n"),
    );
    r.write("policy.toml", &text);
    r.write(SCRIPT, "print('v2')\n");
    r.commit_all_by(DEV, "v2");
    assert_eq!(r.check().text_codes(), vec!["A010"]);
}

#[test]
fn a010_approval_not_committed_yet() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(
        "policy.toml",
        policy("", &entry(&[("approved-by", None), ("approved-on", None)])),
    );
    r.commit_all_by(DEV, "Add the orders fix");
    r.write("policy.toml", policy("", &entry(&[])));
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A010"], "{}", run.all());
    assert!(run.stdout.contains("not committed yet"), "{}", run.stdout);
}

#[test]
fn a010_policy_absent_from_history() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.commit_all_by(DEV, "Only the script");
    r.write("policy.toml", policy("", &entry(&[])));
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A010"], "{}", run.all());
    assert!(
        run.stdout.contains("policy.toml is not committed"),
        "{}",
        run.stdout
    );
    // A repository without any commit at all: the same finding, not a crash.
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", policy("", &entry(&[])));
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A010"], "{}", run.all());
}

#[test]
fn a010_require_signed() {
    let r = Repo::approved_by_lead("require-signed = true", APPROVAL);
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A010"], "{}", run.all());
    assert!(run.stdout.contains("not signed"), "{}", run.stdout);
}

#[test]
fn a010_shallow_clone_cannot_check() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.write("README.md", "later work\n");
    r.commit_all_by(DEV, "Unrelated later commit");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.root.as_path().display());
    let st = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", &url])
        .arg(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = gate_command(APPROVE)
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
    let out = gate_command(APPROVE)
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
    r.write("policy.toml", policy("", &e));
    r.commit_all_by(DEV, "Baseline");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    assert_eq!(
        r.approve(&["check", "--today", "2026-02-01"]).text_codes(),
        vec!["A007"]
    );
}

#[test]
fn impossible_dates_are_configuration_errors() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(
        "policy.toml",
        policy("", &entry(&[("approved-on", Some("2026-02-30"))])),
    );
    r.commit_all_as(DEV, LEAD, APPROVAL);
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
    r.commit_all_as(DEV, LEAD, APPROVAL);
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
        r.commit_all_by(LEAD, &format!("Reword {i}\n\n{LEAD_TRAILER}"));
    }
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    // The developer re-approves in their own name halfway through a second long stretch.
    let text = r
        .read("policy.toml")
        .replace("approved-on = 2026-01-01", "approved-on = 2026-01-02");
    r.write("policy.toml", &text);
    r.commit_all_by(DEV, "Touch approved-on only");
    let run = r.check();
    assert_eq!(
        run.text_codes(),
        vec!["A012"],
        "approved-on is not part of the pin, but an entry field: {}",
        run.all()
    );
    let text = r.read("policy.toml").replace(
        "approved-by = \"lead@example.com\"",
        "approved-by = \"other@example.com\"",
    );
    r.write("policy.toml", &text);
    r.commit_all_by(DEV, "Switch approver");
    for i in 0..20 {
        r.write("notes.txt", format!("{i}\n"));
        let text = r.read("policy.toml") + &format!("# note {i}\n");
        r.write("policy.toml", &text);
        r.commit_all_by(DEV, &format!("Note {i}"));
    }
    let run = r.check();
    assert!(run.text_codes().contains(&"A010".into()), "{}", run.all());
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
    assert_eq!(run.text_codes(), vec!["A007"], "{}", run.all());
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
    // Escaped text autolinks nothing: a zero-width space follows the `@` (no mailto link).
    assert!(
        md.stdout.contains("| lead@&#8203;example.com |"),
        "approver column: {}",
        md.stdout
    );
}

/// Issue 13: the report linked findings to registry rows by searching messages for
/// `` `path` ``, so an A010 about one entry whose commit subject names another entry showed
/// up in both rows. Findings now carry their entry as data.
#[test]
fn report_links_a_finding_to_its_entry_not_to_entries_its_message_names() {
    const OTHER: &str = "fix_refunds.py";
    const OTHER_TEXT: &str = "print(\"UPDATE refunds SET state = 'open'\")\n";
    let other = |over: &[(&str, Option<&str>)]| {
        let sha = format!("\"{}\"", sha256_hex(OTHER_TEXT.as_bytes()));
        let mut over = over.to_vec();
        over.push(("sha256", Some(&sha)));
        entry(&over).replace(SCRIPT, OTHER)
    };
    let unapproved = [("approved-by", None), ("approved-on", None)];
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(OTHER, OTHER_TEXT);
    r.write(
        "policy.toml",
        policy("", &(entry(&unapproved) + &other(&unapproved))),
    );
    r.commit_all_by(DEV, "Add the orders and refunds fixes");
    r.write(
        "policy.toml",
        policy("", &(entry(&[]) + &other(&unapproved))),
    );
    r.commit_all_by(LEAD, APPROVAL);
    // The lead approves the second fix without the trailer, naming the first in the subject.
    r.write("policy.toml", policy("", &(entry(&[]) + &other(&[]))));
    r.commit_all_by(LEAD, &format!("Same review as `{SCRIPT}`"));

    let check = r.check();
    assert!(
        check.text_codes().contains(&"A010".into()),
        "{}",
        check.all()
    );
    assert!(
        check.stdout.contains(&format!("`{SCRIPT}`")),
        "a finding about {OTHER} names {SCRIPT}: {}",
        check.stdout
    );
    let json = r.approve(&["report", "--format", "json", "--today", TODAY]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("report --format json parses ({e}): {}", json.all()));
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .filter(|f| f["code"] == "A010")
            .all(|f| f["entry"] == OTHER),
        "{}",
        json.stdout
    );
    let rows = doc["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Emergency fixes")
        .expect("the registry section")["data"]
        .as_array()
        .unwrap()
        .clone();
    let codes_of = |path: &str| {
        rows.iter()
            .find(|row| row["path"] == path)
            .unwrap_or_else(|| panic!("a row for {path}: {rows:?}"))["findings"]
            .clone()
    };
    assert_eq!(codes_of(SCRIPT), serde_json::json!([]), "{rows:?}");
    assert!(
        codes_of(OTHER)
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "A010"),
        "{rows:?}"
    );
}

// Whatever relaxes a gate is an approval recorded in git (A012, G005, four-eyes from git).
// Each attack below passed every gate before A012; each legitimate flow still passes.

const NEW_SCRIPT: &str = "emergency_new.py";
const NEW_TEXT: &str = "print('DROP TABLE audit_log')\n";

/// A hand-written registry entry for `NEW_SCRIPT` with the given status lines.
fn new_entry(status_lines: &str) -> String {
    format!(
        "\n[[emergency.script]]\npath = \"{NEW_SCRIPT}\"\nsha256 = \"{}\"\nreason = \"legacy\"\n{status_lines}",
        sha256_hex(NEW_TEXT.as_bytes())
    )
}

/// The A012 lines of a run.
fn a012_lines(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("error[A012]"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a012_legacy_retired_or_baseline_entry_added_after_adoption() {
    for status in [
        "status = \"legacy\"\nconvert-by = 2099-12-31\n",
        "status = \"retired\"\n",
    ] {
        let r = Repo::approved_by_lead("", APPROVAL);
        r.write(NEW_SCRIPT, NEW_TEXT);
        r.write("policy.toml", &(r.read("policy.toml") + &new_entry(status)));
        r.commit_all_by(DEV, "Register the new script");
        let run = r.check();
        assert_eq!(run.code, 1, "{}", run.all());
        let lines = a012_lines(&run);
        assert_eq!(lines.len(), 1, "{}", run.all());
        assert!(
            lines[0].contains(&format!("added the registry entry `{NEW_SCRIPT}`"))
                && lines[0].contains(&r.short("HEAD"))
                && lines[0].contains("by dev@example.com")
                && lines[0].contains("not in governance.approvers"),
            "names the entry, the commit, its author and why: {}",
            run.all()
        );
        assert!(
            run.stdout
                .contains("lead@example.com) commits it themselves"),
            "says what to do: {}",
            run.stdout
        );
    }
    // `gate-approve baseline` after the adoption writes legacy entries: the same change.
    let r = Repo::approved_by_lead("", APPROVAL);
    r.write(NEW_SCRIPT, NEW_TEXT);
    let run = r.approve(&["baseline", "--today", TODAY, "--convert-by", "2099-12-31"]);
    assert_eq!(run.code, 0, "{}", run.all());
    r.commit_all_by(DEV, "Baseline again");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    // Approved by the lead, the same entry passes.
    r.git_by(DEV, &["reset", "-q", "--soft", "HEAD~1"]);
    r.commit_approved("Baseline again");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
}

#[test]
fn a012_approved_entry_flipped_to_legacy_with_a_new_sha() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let edited = format!("{SCRIPT_TEXT}print('DROP TABLE audit_log')\n");
    r.write(SCRIPT, &edited);
    let flipped = entry(&[
        ("status", Some("\"legacy\"")),
        (
            "sha256",
            Some(&format!("\"{}\"", sha256_hex(edited.as_bytes()))),
        ),
        ("approved-by", None),
        ("approved-on", None),
    ]);
    r.write("policy.toml", policy("", &flipped));
    r.commit_all_by(DEV, "Tidy the registry");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(
        run.stdout.contains(&format!(
            "changed the registry entry `{SCRIPT}` (approved-by, approved-on, sha256, status)"
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn a012_dates_edited_to_escape_a007() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let late = ["check", "--today", "2026-01-20"];
    assert_eq!(r.approve(&late).text_codes(), vec!["A007"]);
    r.edit_policy("approved-on = 2026-01-01", "approved-on = 2026-01-19");
    r.edit_policy("convert-by = 2026-01-10", "convert-by = 2026-01-30");
    r.commit_all_by(DEV, "Dates");
    let run = r.approve(&late);
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
}

#[test]
fn a012_run_and_rollback_set_to_true() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.edit_policy(
        &format!("rollback = \"python3 {SCRIPT} --rollback\""),
        "rollback = \"true\"\nrun = \"true\"",
    );
    r.commit_all_by(DEV, "Make replay green");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
}

#[test]
fn a012_ignore_widened_together_with_a_new_script() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.edit_policy(
        "scope = [\".\"]   # the repository root",
        "scope = [\".\"]   # the repository root\nignore = [\"*.py\"]",
    );
    r.write(NEW_SCRIPT, NEW_TEXT);
    r.commit_all_by(DEV, "Ignore python files");
    // The hook in CI no longer sees the script; the approval check names the key.
    assert_eq!(r.run(PRECOMMIT, &["--all"]).code, 0);
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(run.stdout.contains("`emergency.ignore`"), "{}", run.stdout);
    // Removing the key again is a change as well: only an approver settles it.
    r.edit_policy("\nignore = [\"*.py\"]", "");
    r.commit_approved("Back to the full scope");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
}

#[test]
fn a012_developer_adds_themselves_to_approvers_and_self_approves() {
    let r = Repo::approved_by_lead("", APPROVAL);
    r.edit_policy(
        "approvers = [\"lead@example.com\"]",
        "approvers = [\"lead@example.com\", \"dev@example.com\"]",
    );
    r.write(NEW_SCRIPT, NEW_TEXT);
    let e = new_entry(
        "status = \"active\"\nticket = \"INC-7\"\nauthor = \"intern@example.com\"\napproved-by = \"dev@example.com\"\napproved-on = 2026-01-02\nconvert-by = 2026-01-10\nrollback = \"true\"\n",
    );
    r.write("policy.toml", &(r.read("policy.toml") + &e));
    r.commit_all_by(DEV, "Add me\n\nApproved-by: dev@example.com");
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    let lines = a012_lines(&run);
    assert!(
        lines.iter().any(|l| l.contains("`governance.approvers`")
            && l.contains("not in governance.approvers of its parent (lead@example.com)")),
        "the approvers that count are the parent's: {}",
        run.all()
    );
    assert!(
        run.stdout.contains("says author = intern@example.com"),
        "git says dev wrote it: {}",
        run.stdout
    );
    // A lead adding a second lead is the legitimate way.
    let r = Repo::approved_by_lead("", APPROVAL);
    r.edit_policy(
        "approvers = [\"lead@example.com\"]",
        "approvers = [\"lead@example.com\", \"lea@example.com\"]",
    );
    r.commit_approved("Lea joins the leads");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
}

#[test]
fn a003_git_author_decides_not_the_typed_author() {
    // The lead wrote the script, typed the developer as author and approved it.
    let r = Repo::new();
    r.write("policy.toml", policy("", ""));
    r.commit_all_by(DEV, "Adopt the gate");
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", policy("", &entry(&[])));
    r.commit_approved("Approve the orders fix");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A003", "A003"], "{}", run.all());
    assert!(
        run.stdout.contains(
            "says author = dev@example.com, but git says it was written by lead@example.com"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("who wrote it according to git"),
        "{}",
        run.stdout
    );
    // The developer wrote it, the lead approves: passes (the usual flow).
    assert_eq!(Repo::approved_by_lead("", APPROVAL).check().code, 0);
}

#[test]
fn a012_crafted_merge_restoring_a_revoked_approval() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let approving = r.head();
    // The lead revokes the approval.
    r.write(
        "policy.toml",
        policy("", &entry(&[("approved-by", None), ("approved-on", None)])),
    );
    r.commit_approved("Revoke the orders fix");
    assert_eq!(r.check().text_codes(), vec!["A001"]);
    // The developer crafts a merge whose second parent is the old approving commit and whose
    // tree is that commit's.
    let tree = format!("{approving}^{{tree}}");
    let merge = r
        .git_by(
            DEV,
            &[
                "commit-tree",
                &tree,
                "-p",
                "HEAD",
                "-p",
                &approving,
                "-m",
                "Merge",
            ],
        )
        .trim()
        .to_string();
    r.git_by(DEV, &["reset", "-q", "--hard", &merge]);
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(
        run.stdout.contains(&r.short(&merge)),
        "the merge itself is judged: {}",
        run.stdout
    );
}

/// Main moves on while a branch adds a fix (that the lead approves on the branch when
/// `approved_on_branch`); `merger` merges it with a merge commit.
fn merged_branch(approved_on_branch: bool, merger: &str, message: &str) -> Repo {
    let r = Repo::new();
    r.write("policy.toml", policy("", ""));
    r.commit_all_by(DEV, "Adopt the gate");
    r.git_by(DEV, &["checkout", "-q", "-b", "fix"]);
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(
        "policy.toml",
        policy("", &entry(&[("approved-by", None), ("approved-on", None)])),
    );
    r.commit_all_by(DEV, "Add the orders fix");
    if approved_on_branch {
        r.write("policy.toml", policy("", &entry(&[])));
        r.commit_all_by(LEAD, APPROVAL);
    }
    r.git_by(DEV, &["checkout", "-q", "main"]);
    r.write("README.md", "main moves on\n");
    r.commit_all_by(DEV, "Docs");
    r.git_by(merger, &["merge", "-q", "--no-ff", "fix", "-m", message]);
    r
}

#[test]
fn merge_commits_of_an_approved_branch_pass() {
    // Whoever merges: the approval on the branch is what the merge brings in, so the check
    // of the pull request and the check after the merge agree.
    for (merger, message) in [
        (DEV, "Merge branch 'fix'".to_string()),
        (LEAD, format!("Merge branch 'fix'\n\n{LEAD_TRAILER}")),
    ] {
        let r = merged_branch(true, merger, &message);
        let run = r.check();
        assert_eq!(run.code, 0, "merged by {merger}: {}", run.all());
    }
    // A branch the lead did not approve: the developer's merge brings in an unapproved
    // change (named by the branch commit that made it) ...
    let r = merged_branch(false, DEV, "Merge branch 'fix'");
    let run = r.check();
    assert!(run.text_codes().contains(&"A012".into()), "{}", run.all());
    assert!(run.stdout.contains(&r.short("HEAD^2")), "{}", run.stdout);
    // ... while the lead's merge commit with the trailer approves what it brings in (A012),
    // though A001 still wants the entry's approved-by.
    let r = merged_branch(
        false,
        LEAD,
        &format!("Merge branch 'fix'\n\n{LEAD_TRAILER}"),
    );
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A001"], "{}", run.all());
}

#[test]
fn approved_flows_pass_update_convert_retire() {
    let migration = "revision = \"ab12cd34ef56\"\ndown_revision = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n";
    let r = Repo::approved_by_lead("", APPROVAL);
    // Update: the developer re-pins (the approval is cleared), the lead approves.
    r.write(SCRIPT, "print('v2')\n");
    let run = r.approve(&["register", SCRIPT, "--update", "--today", TODAY]);
    assert_eq!(run.code, 0, "{}", run.all());
    r.commit_all_by(DEV, "v2 of the orders fix");
    assert!(r.check().text_codes().contains(&"A001".into()));
    let run = r.approve(&[
        "register",
        SCRIPT,
        "--update",
        "--approver",
        LEAD,
        "--today",
        TODAY,
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    r.commit_approved("Approve v2");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    // Convert: the migration lands, the lead marks the fix converted.
    r.write("alembic/versions/ab12cd34ef56_orders_note.py", migration);
    r.commit_all_by(DEV, "The orders note becomes a migration");
    r.edit_policy(
        "status = \"active\"",
        "status = \"converted\"\nconverted-in = \"ab12cd34ef56\"",
    );
    r.commit_approved("Converted");
    let lock = r.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    r.commit_all_by(DEV, "Lock the release");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    // Retire: approved as well.
    r.edit_policy("status = \"converted\"", "status = \"retired\"");
    r.commit_approved("Retired");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
}

#[test]
fn baseline_at_adoption_passes() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(NEW_SCRIPT, NEW_TEXT);
    r.commit_all_by(DEV, "The crisis");
    r.write("policy.toml", policy("", ""));
    let run = r.approve(&["baseline", "--today", TODAY]);
    assert_eq!(run.code, 0, "{}", run.all());
    r.commit_all_by(DEV, "Adopt Migration Gate");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

/// A released migration locked at the adoption.
fn released() -> Repo {
    let r = Repo::new();
    r.write(
        "alembic/versions/ab12cd34ef56_orders_note.py",
        "revision = \"ab12cd34ef56\"\ndown_revision = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n",
    );
    r.write("policy.toml", policy("", ""));
    let lock = r.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    r.commit_all_by(DEV, "Adopt the gate");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    r
}

#[test]
fn g005_lockfile_removed_or_re_pinned() {
    // `git rm migrations.lock`, alone.
    let r = released();
    r.git_by(DEV, &["rm", "-q", "migrations.lock"]);
    r.commit_all_by(DEV, "Drop the lockfile");
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("error[G005]") && run.stdout.contains("migrations.lock is missing"),
        "{}",
        run.stdout
    );
    // Edit the released migration, remove the lockfile in one commit and write a new one in
    // the next: the new lockfile re-pins the released entry.
    let r = released();
    r.write(
        "alembic/versions/ab12cd34ef56_orders_note.py",
        "revision = \"ab12cd34ef56\"\ndown_revision = None\n\ndef upgrade():\n    op.execute('DROP TABLE audit_log')\n\ndef downgrade():\n    pass\n",
    );
    r.git_by(DEV, &["rm", "-q", "migrations.lock"]);
    r.commit_all_by(DEV, "Drop the lockfile");
    assert_eq!(r.run(REPLAY, &["lock"]).code, 0);
    r.commit_all_by(DEV, "Lock again");
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("error[G005]")
            && run.stdout.contains("re-pinned or removed 1 entry")
            && run.stdout.contains("ab12cd34ef56"),
        "{}",
        run.stdout
    );
    // The same amendment committed by the lead with the trailer is approved.
    r.git_by(DEV, &["reset", "-q", "--soft", "HEAD~2"]);
    r.commit_approved("Amend the released migration");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    // Edit, `rm migrations.lock; gate-replay lock` and commit it all at once: a re-pin.
    let r = released();
    r.write(
        "alembic/versions/ab12cd34ef56_orders_note.py",
        "revision = \"ab12cd34ef56\"\ndown_revision = None\n\ndef upgrade():\n    op.execute('DROP TABLE x')\n\ndef downgrade():\n    pass\n",
    );
    std::fs::remove_file(r.path("migrations.lock")).unwrap();
    assert_eq!(r.run(REPLAY, &["lock"]).code, 0);
    r.commit_all_by(DEV, "Quietly amend");
    let run = r.check();
    assert!(
        run.stdout.contains("error[G005]") && run.stdout.contains(&r.short("HEAD")),
        "{}",
        run.all()
    );
    // A new release (a new line) needs no approval.
    let r = released();
    r.write(
        "alembic/versions/cd34ef56ab12_more.py",
        "revision = \"cd34ef56ab12\"\ndown_revision = \"ab12cd34ef56\"\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n",
    );
    assert_eq!(r.run(REPLAY, &["lock"]).code, 0);
    r.commit_all_by(DEV, "Release cd34");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

/// Without any approved entry (nothing for A010 to find), a shallow clone still cannot show
/// who changed the governed settings: exit 2, never a pass.
#[test]
fn a012_shallow_clone_cannot_check() {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", policy("", ""));
    r.commit_all_by(DEV, "Adopt the gate");
    r.edit_policy("four-eyes = true", "four-eyes = false");
    r.commit_all_by(DEV, "No more four eyes");
    r.write("README.md", "later work\n");
    r.commit_all_by(DEV, "Unrelated later commit");
    assert_eq!(r.check().text_codes(), vec!["A012"], "{}", r.check().all());
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.root.as_path().display());
    let st = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "2", &url])
        .arg(clone.path().join("c"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = gate_command(APPROVE)
        .args(["check", "--today", TODAY])
        .current_dir(clone.path().join("c"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("A012") && stderr.contains("git fetch --unshallow"),
        "{stderr}"
    );
}
