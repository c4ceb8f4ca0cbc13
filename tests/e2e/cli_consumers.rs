//! The gates' real output accepted by the tools that consume it (issue 11): SARIF by the
//! SARIF 2.1.0 schema, JUnit by the Jenkins and Ant schemas, Markdown by GitHub's renderer,
//! for runs with findings, without findings and that could not check (exit 2).

use crate::support::approve::{APPROVAL, SCRIPT, TODAY};
use crate::support::consumers::*;
use crate::support::precommit::*;
use crate::support::repo::*;

/// Staged: a script whose name GitHub would autolink and issue-link (G001), a registered
/// script with a backtick in its name edited after approval (G002), and a clean script.
fn repo_with_hostile_names() -> Repo {
    let ticked = "ops/a`b_fix.py";
    let repo = Repo::with_policy(&policy(false, &registration(ticked, b"print(1)\n")));
    repo.write(ticked, b"print(2)\n");
    repo.write("www.evil.com_fix_#1.py", b"print(1)\n");
    repo.write("report.py", b"print(1)\n");
    repo.git(&["add", "-A"]);
    repo
}

/// The `<testcase>` lines of a JUnit document.
fn cases(xml: &str) -> Vec<&str> {
    xml.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("<testcase "))
        .collect()
}

#[test]
fn findings_validate_as_sarif_and_junit_with_one_case_per_check_and_subject() {
    let repo = repo_with_hostile_names();
    let sarif = repo.precommit(&["--format", "sarif"]);
    assert_eq!(sarif.code, 1, "{sarif:?}");
    assert_valid_sarif(&sarif.stdout);
    let doc = sarif.json();
    for result in doc["runs"][0]["results"].as_array().unwrap() {
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64() >= Some(1), "{result:#}");
        assert_eq!(
            result["partialFingerprints"]["migrationGate/v1"]
                .as_str()
                .map(str::len),
            Some(64),
            "{result:#}"
        );
    }

    let junit = repo.precommit(&["--format", "junit"]);
    assert_eq!(junit.code, 1, "{junit:?}");
    assert_valid_junit(&junit.stdout);
    let cases = cases(&junit.stdout);
    let g001 = r#"classname="G001 unregistered-emergency-script""#;
    // The clean script is a passing case of the check that judged it.
    assert!(
        cases
            .iter()
            .any(|c| c.contains(r#"name="report.py""#) && c.contains(g001) && c.ends_with("/>")),
        "{}",
        junit.stdout
    );
    assert!(
        cases
            .iter()
            .any(|c| c.contains(r#"name="www.evil.com_fix_#1.py""#)
                && c.contains(g001)
                && !c.ends_with("/>")),
        "{}",
        junit.stdout
    );
    assert!(
        cases.iter().any(|c| c.contains(r#"name="ops/a`b_fix.py""#)
            && c.contains(r#"classname="G002 approved-script-edited""#)),
        "{}",
        junit.stdout
    );
    assert!(!junit.stdout.contains(" line="), "{}", junit.stdout);
}

#[test]
fn findings_render_in_github_markdown_without_links_mentions_or_broken_commands() {
    let repo = repo_with_hostile_names();
    let run = repo.precommit(&["--format", "markdown"]);
    assert_eq!(run.code, 1, "{run:?}");
    let html = gfm(&run.stdout);
    assert!(!html.contains("<a "), "{}\n{html}", run.stdout);
    assert!(
        !html.contains("#1.py") || html.contains("#\u{200B}1.py"),
        "{html}"
    );
    // The suggested re-pin command is one code element with the backtick name inside.
    let command = html
        .split("<code>")
        .find(|c| c.starts_with("gate-approve register 'ops/"))
        .and_then(|c| c.split("</code>").next())
        .unwrap_or_else(|| panic!("no command in {html}"));
    assert_eq!(command, "gate-approve register 'ops/a`b_fix.py' --update");
    assert!(
        html.contains("<code>gate-approve register 'www.evil.com_fix_#1.py' --reason"),
        "{html}"
    );
    // Every row of the findings table has its five cells.
    let table = html.split("<tbody>").nth(1).unwrap();
    for row in table.split("<tr>").skip(1) {
        assert_eq!(row.matches("<td").count(), 5, "{row}");
    }
}

#[test]
fn a_clean_run_lists_its_passing_checks_in_valid_junit() {
    let repo = Repo::with_policy(&policy(false, ""));
    repo.write("report.py", b"print(1)\n");
    repo.git(&["add", "-A"]);
    let run = repo.precommit(&["--format", "junit"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_valid_junit(&run.stdout);
    assert!(run.stdout.contains(r#"failures="0""#), "{}", run.stdout);
    assert!(
        cases(&run.stdout)
            .iter()
            .any(|c| c.contains(r#"name="report.py""#)),
        "{}",
        run.stdout
    );
    let sarif = repo.precommit(&["--format", "sarif"]);
    assert_eq!(sarif.code, 0, "{sarif:?}");
    assert_valid_sarif(&sarif.stdout);
}

#[test]
fn exit_2_validates_in_sarif_and_junit_with_its_location() {
    let repo = Repo::with_policy("version = 1\nmystery = true\n");
    repo.git(&["add", "policy.toml"]);
    let sarif = repo.precommit(&["--all", "--format", "sarif"]);
    assert_eq!(sarif.code, 2, "{sarif:?}");
    assert_valid_sarif(&sarif.stdout);
    let junit = repo.precommit(&["--all", "--format", "junit"]);
    assert_eq!(junit.code, 2, "{junit:?}");
    assert_valid_junit(&junit.stdout);
    assert!(junit.stdout.contains("policy.toml:2:1"), "{}", junit.stdout);
    let md = repo.precommit(&["--all", "--format", "markdown"]);
    assert!(gfm(&md.stdout).contains("policy.toml:2:1"), "{}", md.stdout);
}

#[test]
fn gate_approve_output_validates_too() {
    let repo = Repo::approved_by_lead("", APPROVAL);
    for (format, validate) in [
        ("junit", assert_valid_junit as fn(&str)),
        ("sarif", assert_valid_sarif),
    ] {
        let run = repo.approve(&["check", "--today", TODAY, "--format", format]);
        assert_eq!(run.code, 0, "{run:?}");
        validate(&run.stdout);
        if format == "junit" {
            // Every per-entry rule is a passing case of the registered entry.
            let on_entry: Vec<&str> = cases(&run.stdout)
                .into_iter()
                .filter(|c| c.contains(&format!(r#"name="{SCRIPT}""#)) && c.ends_with("/>"))
                .collect();
            assert_eq!(on_entry.len(), 11, "{}", run.stdout);
            assert!(
                on_entry
                    .iter()
                    .any(|c| c.contains(r#"classname="A007 overdue""#))
            );
        }
    }
}

#[test]
fn gate_replay_junit_has_a_timed_case_per_migration_and_per_fix_check() {
    let repo = crate::support::alembic::crisis();
    let url = crate::support::db::server_url();
    let run = crate::support::replay::replay(
        repo.path(),
        &[
            "--backend",
            "url",
            "--database-url",
            &url,
            "--no-roundtrip",
            "--format",
            "junit",
        ],
    );
    // The crisis example registers no fix yet: the chain builds, the snapshot matches.
    assert_eq!(run.code, 0, "{}", run.all());
    assert_valid_junit(&run.stdout);
    let cases = cases(&run.stdout);
    let migrations = std::fs::read_dir(repo.path().join("alembic/versions"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "py")
        })
        .count();
    let upgrade: Vec<&&str> = cases
        .iter()
        .filter(|c| c.contains(r#"classname="R001"#))
        .collect();
    assert_eq!(upgrade.len(), migrations, "{}", run.stdout);
    for case in upgrade {
        assert!(case.contains("name=\"alembic/versions/"), "{case}");
        assert!(case.contains(" time=\""), "{case}");
    }
    for code in ["R002", "R003"] {
        assert!(
            cases
                .iter()
                .any(|c| c.contains(&format!(r#"classname="{code}"#))),
            "{code}: {}",
            run.stdout
        );
    }
}
