//! `gate-approve register` and `baseline` on real repositories: comments survive, bad paths
//! and double registrations are refused, and a repository with many scripts adopts the gate
//! in one commit.

use std::path::Path;

use crate::support::approve::*;
use crate::support::repo::*;
use crate::support::run::*;
use crate::support::{copy_tree, sha256_hex};

fn base_repo() -> Repo {
    let r = Repo::new();
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write("policy.toml", policy("", ""));
    r.commit_all_by(DEV, "Policy");
    r
}

#[test]
fn register_appends_and_keeps_the_rest_byte_for_byte() {
    let r = base_repo();
    let before = r.read("policy.toml");
    let run = r.approve(&[
        "register",
        SCRIPT,
        "--reason",
        "orders lacked a note column",
        "--ticket",
        "INC-7",
        "--today",
        "2026-01-01",
        "--rollback",
        "python3 fix_orders.py --rollback",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("next:"),
        "says the next step: {}",
        run.stdout
    );
    let after = r.read("policy.toml");
    assert_eq!(
        without_entries(&after),
        before,
        "text outside the new entry changed"
    );
    let added = after.split("[[emergency.script]]").nth(1).unwrap();
    assert!(added.contains(&format!("path = \"{SCRIPT}\"")), "{added}");
    assert!(added.contains(&format!(
        "sha256 = \"{}\"",
        sha256_hex(SCRIPT_TEXT.as_bytes())
    )));
    assert!(added.contains("author = \"dev@example.com\""), "{added}");
    assert!(added.contains("convert-by = 2026-01-15"), "{added}");
    assert!(!added.contains("approved-by"), "{added}");
    // Registered but not approved: A001 names the missing approval.
    let run = r.approve(&["check", "--today", "2026-01-02"]);
    assert_eq!(run.text_codes(), vec!["A001"], "{}", run.all());
    assert!(run.stdout.contains("`approved-by`"), "{}", run.stdout);
}

#[test]
fn register_with_approver_then_lead_commit_passes() {
    let r = base_repo();
    let run = r.approve(&[
        "register",
        SCRIPT,
        "--reason",
        "r",
        "--ticket",
        "INC-7",
        "--approver",
        LEAD,
        "--today",
        "2026-01-01",
        "--rollback",
        "python3 fix_orders.py --rollback",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(r.read("policy.toml").contains("approved-on = 2026-01-01"));
    r.commit_all_as(DEV, LEAD, APPROVAL);
    let run = r.approve(&["check", "--today", "2026-01-02"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn register_twice_is_refused_and_update_clears_the_approval() {
    let r = Repo::approved_by_lead("", APPROVAL);
    let run = r.approve(&["register", SCRIPT, "--reason", "again", "--ticket", "INC-8"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("--update"), "{}", run.stderr);

    r.write(SCRIPT, "print('v2')\n");
    let before = r.read("policy.toml");
    let run = r.approve(&[
        "register",
        SCRIPT,
        "--update",
        "--applied-after",
        "ab12",
        "--run",
        "python3 fix_orders.py",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let after = r.read("policy.toml");
    assert!(after.contains(&sha256_hex(b"print('v2')\n")));
    assert!(!after.contains("approved-by"), "{after}");
    assert!(!after.contains("approved-on"), "{after}");
    assert!(after.contains("applied-after = \"ab12\""), "{after}");
    assert!(after.contains("run = \"python3 fix_orders.py\""), "{after}");
    // Everything before the entry is untouched.
    let head = before.split("[[emergency.script]]").next().unwrap();
    assert!(after.starts_with(head));
    let run = r.check();
    assert!(run.text_codes().contains(&"A001".into()), "{}", run.all());
}

#[test]
fn register_refuses_paths_outside_the_repository_and_missing_files() {
    let r = base_repo();
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "print(1)\n").unwrap();
    let parent_rel = format!(
        "../{}",
        outside.path().file_name().unwrap().to_string_lossy()
    );
    let copy = r
        .root
        .parent()
        .unwrap()
        .join(outside.path().file_name().unwrap());
    std::fs::write(&copy, "x").unwrap();
    for p in [
        outside.path().to_str().unwrap(),
        parent_rel.as_str(),
        "nope.py",
    ] {
        let run = r.approve(&["register", p, "--reason", "r", "--ticket", "INC-1"]);
        assert_eq!(run.code, 2, "{p}: {}", run.all());
        assert!(
            run.stderr.contains("outside the repository") || run.stderr.contains("does not exist"),
            "{p}: {}",
            run.stderr
        );
    }
    let _ = std::fs::remove_file(copy);
    assert_eq!(r.read("policy.toml"), policy("", ""), "nothing written");
}

#[test]
fn register_refuses_bad_ticket_and_unlisted_approver() {
    let r = base_repo();
    let run = r.approve(&["register", SCRIPT, "--reason", "r", "--ticket", "JIRA-1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("governance.ticket"), "{}", run.stderr);
    let run = r.approve(&[
        "register",
        SCRIPT,
        "--reason",
        "r",
        "--ticket",
        "INC-1",
        "--approver",
        "x@example.com",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("governance.approvers"),
        "{}",
        run.stderr
    );
}

#[test]
fn baseline_of_the_crisis_example_passes_until_the_deadline() {
    let r = Repo::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/crisis");
    copy_tree(&example, &r.root);
    // The adoption is the commit that first adds policy.toml, with the baseline (A012).
    let policy_text = r.read("policy.toml");
    std::fs::remove_file(r.path("policy.toml")).unwrap();
    r.commit_all_by(DEV, "The crisis");
    r.write("policy.toml", &policy_text);
    assert_eq!(
        r.run(PRECOMMIT, &["--all"]).code,
        1,
        "the crisis fails G001 first"
    );
    let before = r.read("policy.toml");
    let run = r.approve(&["baseline", "--today", "2026-03-01"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let after = r.read("policy.toml");
    assert_eq!(
        without_entries(&after),
        before,
        "baseline changed existing text"
    );
    for s in [
        "emergency_enum_fix.py",
        "emergency_db_fix.py",
        "fix_zebra_admin_access.py",
        "production_schema_repair.py",
        "deploy_emergency_database_fix.py",
    ] {
        assert!(
            after.contains(&format!("path = \"{s}\"")),
            "{s} registered:\n{after}"
        );
    }
    assert!(after.contains("status = \"legacy\""));
    assert!(after.contains("convert-by = 2026-03-15"));
    // Triage of the enum fix (printed by baseline, recomputed by report): DDL on userrole,
    // and the comment "No IF NOT EXISTS" is no guard.
    let line = run
        .stdout
        .lines()
        .skip_while(|l| !l.contains("emergency_enum_fix.py"))
        .nth(1)
        .unwrap();
    assert!(
        line.contains("ALTER TYPE") && line.contains("userrole"),
        "{line}"
    );
    assert!(!line.contains("IF NOT EXISTS"), "{line}");
    r.commit_all_by(DEV, "Adopt Migration Gate");
    let pre = r.run(PRECOMMIT, &["--all"]);
    assert_eq!(pre.code, 0, "{}", pre.all());
    assert_eq!(r.approve(&["check", "--today", "2026-03-15"]).code, 0);
    let late = r.approve(&["check", "--today", "2026-03-16"]);
    assert_eq!(late.code, 1);
    assert!(
        late.text_codes().iter().all(|c| c == "A007") && late.text_codes().len() >= 5,
        "{}",
        late.all()
    );

    // The lead's triage step: where production ran each fix, how to run and roll it back.
    let run = r.approve(&[
        "register",
        "emergency_enum_fix.py",
        "--update",
        "--applied-after",
        "6e7f8091a2b3",
        "--run",
        "python3 emergency_enum_fix.py",
        "--rollback",
        "python3 emergency_enum_fix.py --rollback",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        r.read("policy.toml")
            .contains("applied-after = \"6e7f8091a2b3\"")
    );
    // Run and rollback commands are what replay trusts: the lead commits them (A012).
    r.commit_approved("Triage");
    let md = r.approve(&["report", "--format", "markdown", "--today", "2026-03-05"]);
    assert_eq!(md.code, 0, "{}", md.all());
    assert!(md.stdout.contains("```mermaid"), "{}", md.stdout);
    assert!(md.stdout.contains("applied after"), "{}", md.stdout);
    assert!(md.stdout.contains("10 days left"), "{}", md.stdout);
    let json = r.approve(&["report", "--format", "json", "--today", "2026-03-05"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let summary = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Summary")
        .unwrap();
    assert_eq!(summary["data"]["days_to_next_deadline"], 10);
    assert!(summary["data"]["legacy"].as_u64().unwrap() >= 5);
}

#[test]
fn baseline_adopts_66_scripts_in_one_commit() {
    let r = Repo::new();
    let header = "# Adopted in one commit.\n".to_string() + &policy("", "");
    for i in 0..66 {
        let name = match i % 3 {
            0 => format!("emergency_fix_{i:02}.py"),
            1 => format!("hotfix_{i:02}.sql"),
            _ => format!("repair_{i:02}.py"),
        };
        r.write(
            &name,
            format!("-- fix {i}\nCREATE TABLE IF NOT EXISTS t{i} (id int);\nINSERT INTO t{i} VALUES (1) ON CONFLICT DO NOTHING;\n"),
        );
    }
    r.write("setup.py", "print('not a fix')\n");
    r.commit_all_by(DEV, "66 scripts");
    // The adoption is the commit that first adds policy.toml, with the baseline (A012).
    r.write("policy.toml", &header);
    assert_eq!(r.run(PRECOMMIT, &["--all"]).code, 1);
    let run = r.approve(&[
        "baseline",
        "--today",
        "2026-05-01",
        "--convert-by",
        "2026-06-30",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let text = r.read("policy.toml");
    assert_eq!(without_entries(&text), header);
    assert_eq!(text.matches("[[emergency.script]]").count(), 66);
    r.commit_all_by(DEV, "Adopt");
    assert_eq!(r.run(PRECOMMIT, &["--all"]).code, 0);
    assert_eq!(r.approve(&["check", "--today", "2026-06-30"]).code, 0);
    let late = r.approve(&["check", "--today", "2026-07-01"]);
    assert_eq!(late.text_codes().len(), 66);
    // Nothing left to register.
    let again = r.approve(&["baseline", "--today", "2026-05-01"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to register"));
    // A deadline in the past or an impossible date is refused.
    r.write("new_fix.py", "print(1)\n");
    for bad in ["2026-04-01", "2026-02-30"] {
        let run = r.approve(&["baseline", "--today", "2026-05-01", "--convert-by", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.all());
    }
}

/// The root of a real crisis repository: reports, results and notes named like scripts beside
/// the scripts, and one of the team's own scripts in a folder outside the default scope.
#[test]
fn baseline_registers_only_scripts_and_summarises_by_folder_and_type() {
    let r = Repo::new();
    r.write("policy.toml", policy("", ""));
    r.write(
        "emergency_report.md",
        "# Emergency report\n\nWe ran `ALTER TABLE users ADD status text` by hand.\n",
    );
    r.write(
        "fix_results.json",
        "{\"sql\": \"CREATE TABLE t (id int)\"}\n",
    );
    r.write("repair_notes.txt", "DROP TABLE sessions; then re-run.\n");
    r.write(
        "emergency_db_fix.py",
        "print('CREATE TABLE IF NOT EXISTS admin_audit (id int)')\n",
    );
    r.write("hotfix.sh", "psql -c 'ALTER TABLE users ADD x int'\n");
    r.write("fix_admin", "#!/bin/bash\npsql -c 'GRANT admin TO zebra'\n");
    r.write("database/production_schema_repair.py", "print(1)\n");
    r.write("database/README.md", "how we repair the schema\n");
    r.commit_all_by(DEV, "The crisis");

    let run = r.approve(&["baseline", "--today", "2026-03-01"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let text = r.read("policy.toml");
    let mut registered: Vec<&str> = text
        .split("[[emergency.script]]")
        .skip(1)
        .filter_map(|entry| entry.lines().find_map(|l| l.strip_prefix("path = \"")))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    registered.sort();
    assert_eq!(
        registered,
        ["emergency_db_fix.py", "fix_admin", "hotfix.sh"]
    );

    // The summary by folder and type, and the hint about the script outside scope.
    assert!(run.stdout.contains("by folder: ./ 3\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("by type: .py 1, .sh 1, no extension 1\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "1 more outside scope: database/production_schema_repair.py; widen emergency.scope to include it"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("registered 3 legacy scripts in policy.toml"),
        "{}",
        run.stdout
    );

    // Nothing left in scope; the hint stays until the scope is widened, in every format.
    r.commit_all_by(DEV, "Adopt");
    let again = r.approve(&["baseline", "--today", "2026-03-01", "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let v = again.json();
    assert!(
        v["subject"]
            .as_str()
            .unwrap()
            .contains("nothing to register"),
        "{v}"
    );
    let summary = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Summary")
        .unwrap_or_else(|| panic!("a Summary section: {v}"));
    assert_eq!(
        summary["data"]["outside_scope"],
        serde_json::json!(["database/production_schema_repair.py"])
    );
    let md = r.approve(&["baseline", "--today", "2026-03-01", "--format", "markdown"]);
    assert!(
        md.stdout
            .contains("1 more outside scope: database/production\\_schema\\_repair.py"),
        "{}",
        md.stdout
    );

    // Widened: the script is registered, and nothing is outside any more.
    r.write(
        "policy.toml",
        r.read("policy.toml")
            .replace("scope = [\".\"]", "scope = [\".\", \"database\"]"),
    );
    let wide = r.approve(&["baseline", "--today", "2026-03-01", "--format", "json"]);
    assert_eq!(wide.code, 0, "{}", wide.all());
    let v = wide.json();
    let registered = &v["sections"][0];
    assert_eq!(registered["title"], "Registered", "{v}");
    assert_eq!(
        registered["data"][0]["path"],
        "database/production_schema_repair.py"
    );
    assert!(!wide.stdout.contains("outside scope:"), "{}", wide.stdout);
    assert!(
        r.read("policy.toml")
            .contains("path = \"database/production_schema_repair.py\"")
    );
}

#[test]
fn baseline_with_extensions_py_registers_only_the_python_script() {
    let r = Repo::new();
    r.write(
        "policy.toml",
        policy("", "").replace(
            "scope = [\".\"]   # the repository root",
            "scope = [\".\"]   # the repository root\nextensions = [\"py\"]",
        ),
    );
    r.write("emergency_report.md", "# report\n");
    r.write("emergency_db_fix.py", "print(1)\n");
    r.write("hotfix.sh", "psql -c 'ALTER TABLE users ADD x int'\n");
    r.write("fix_admin", "#!/bin/bash\npsql -c 'GRANT admin TO zebra'\n");
    r.commit_all_by(DEV, "The crisis");
    let run = r.approve(&["baseline", "--today", "2026-03-01"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let text = r.read("policy.toml");
    assert_eq!(text.matches("[[emergency.script]]").count(), 1, "{text}");
    assert!(text.contains("path = \"emergency_db_fix.py\""), "{text}");
}

#[test]
fn baseline_names_at_most_five_scripts_outside_scope() {
    let r = Repo::new();
    r.write("policy.toml", policy("", ""));
    for i in 0..8 {
        r.write(format!("ops/repair_{i}.sql"), "select 1;\n");
    }
    r.write("ops/repair_report.md", "notes\n");
    r.commit_all_by(DEV, "Scripts elsewhere");
    let run = r.approve(&["baseline", "--today", "2026-03-01"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains(
            "8 more outside scope: ops/repair_0.sql, ops/repair_1.sql, ops/repair_2.sql, ops/repair_3.sql, ops/repair_4.sql and 3 more; widen emergency.scope to include them"
        ),
        "{}",
        run.stdout
    );
}

/// Regression: `register PATH --repo DIR` from another folder resolved PATH against the
/// current folder and failed.
#[test]
fn register_with_repo_resolves_a_relative_path_inside_the_repository() {
    let r = base_repo();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = gate_command(APPROVE)
        .args(["register", SCRIPT, "--reason", "r", "--ticket", "INC-7"])
        .arg("--repo")
        .arg(r.root.as_path())
        .args(["--today", "2026-01-01"])
        .current_dir(elsewhere.path())
        .env_remove("GATE_TODAY")
        .env_remove("GATE_POLICY")
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        r.read("policy.toml")
            .contains(&format!("path = \"{SCRIPT}\"")),
        "{}",
        run.all()
    );

    // Without --repo, a relative path is still read from the current folder.
    r.write("sub/fix_sub.py", "print(1)\n");
    let out = gate_command(APPROVE)
        .args([
            "register",
            "fix_sub.py",
            "--reason",
            "r",
            "--ticket",
            "INC-8",
        ])
        .current_dir(r.root.as_path().join("sub"))
        .env_remove("GATE_POLICY")
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(r.read("policy.toml").contains("path = \"sub/fix_sub.py\""));

    // A path that does not exist inside --repo says where it was looked for.
    let out = gate_command(APPROVE)
        .args(["register", "nope.py", "--reason", "r", "--ticket", "INC-9"])
        .arg("--repo")
        .arg(r.root.as_path())
        .current_dir(elsewhere.path())
        .env_remove("GATE_POLICY")
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("read from --repo"), "{}", run.stderr);
}
