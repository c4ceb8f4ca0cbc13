//! `--output FORMAT=FILE`, and exit 2 rendered in every format: real binaries, real git
//! repositories, each document read back by a real parser (serde_json, Python's XML parser).

use crate::support::precommit::*;
use crate::support::repo::*;
#[allow(unused_imports)]
use crate::support::run::PRECOMMIT as BIN;
use crate::support::run::*;
use std::path::Path;
use std::process::Command;

/// A repository whose staged changes hold one unregistered emergency script (G001, exit 1).
fn repo_with_g001() -> Repo {
    let repo = Repo::with_policy(&policy(false, ""));
    repo.write("emergency_fix.py", b"print(1)\n");
    repo.git(&["add", "emergency_fix.py", "policy.toml"]);
    repo
}

/// A policy with an unknown key at line 2, column 1.
fn repo_with_broken_policy() -> Repo {
    let repo = Repo::with_policy("version = 1\nmystery = true\n");
    repo.git(&["add", "policy.toml"]);
    repo
}

/// Parse XML with Python's standard library: a consumer this code did not write. Returns
/// the `(tag, attributes)` of every element, in document order.
fn parse_xml(xml: &str) -> Vec<(String, serde_json::Value)> {
    let script = "import sys, json, xml.etree.ElementTree as ET\n\
                  root = ET.fromstring(sys.stdin.read())\n\
                  print(json.dumps([[e.tag, e.attrib, e.text or ''] for e in root.iter()]))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not well-formed XML:\n{xml}\n{}",
        Run::from(out)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.into_iter()
        .map(|e| {
            let mut attrs = e[1].clone();
            attrs["#text"] = e[2].clone();
            (e[0].as_str().unwrap().to_string(), attrs)
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn output_writes_each_extra_format_in_the_same_run() {
    let repo = repo_with_g001();
    let out = repo.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let sarif = out.join("gate.sarif");
    let junit = out.join("gate.xml");
    let md = out.join("gate.md");
    let run = repo.precommit(&[
        "--format".to_string(),
        "json".to_string(),
        format!("--output=sarif={}", sarif.display()),
        "--output".to_string(),
        format!("junit={}", junit.display()),
        "--output".to_string(),
        format!("markdown={}", md.display()),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.findings("G001").len(), 1, "{run:?}");

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{doc:#}");
    assert_eq!(results[0]["ruleId"], "G001");

    let elements = parse_xml(&std::fs::read_to_string(&junit).unwrap());
    assert!(
        elements
            .iter()
            .any(|(tag, a)| tag == "failure" && a["type"] == "G001"),
        "{elements:?}"
    );
    assert!(std::fs::read_to_string(&md).unwrap().contains("G001"));
    // Atomic writes leave no temp files behind.
    assert_eq!(files_in(&out), ["gate.md", "gate.sarif", "gate.xml"]);
}

#[test]
fn a_bad_output_value_is_exit_2_naming_the_flag_and_nothing_is_written() {
    let repo = repo_with_g001();
    let out = repo.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let good = out.join("good.json");
    let missing_folder = repo.tmp.path().join("no-such-folder").join("gate.sarif");
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("sarif".into(), vec!["--output", "FORMAT=FILE"]),
        ("x=y".into(), vec!["--output", "unknown format `x`"]),
        ("sarif=".into(), vec!["--output", "names no file"]),
        (
            format!("sarif={}", missing_folder.display()),
            vec!["--output", "no-such-folder", "does not exist"],
        ),
        (
            format!("json={}", out.display()),
            vec!["--output", "is a folder"],
        ),
    ];
    for (value, needles) in cases {
        let run = repo.precommit(&[
            format!("--output=json={}", good.display()),
            format!("--output={value}"),
        ]);
        assert_eq!(run.code, 2, "--output {value}: {run:?}");
        for n in needles {
            assert!(
                run.stderr.contains(n),
                "--output {value}: want {n:?}: {run:?}"
            );
        }
        assert!(!run.stdout.contains("G001"), "no check ran: {run:?}");
        assert!(!good.exists(), "--output {value}: nothing is written");
        assert!(!missing_folder.exists());
    }
}

#[cfg(unix)]
#[test]
fn an_unwritable_output_folder_is_exit_2_before_any_check() {
    use std::os::unix::fs::PermissionsExt as _;
    let repo = repo_with_g001();
    let locked = repo.tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores permissions; the check is meaningless there.
    if tempfile::NamedTempFile::new_in(&locked).is_ok() {
        return;
    }
    let target = locked.join("gate.sarif");
    let run = repo.precommit(&[
        "--format".to_string(),
        "json".to_string(),
        format!("--output=sarif={}", target.display()),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--output sarif="), "{run:?}");
    assert!(
        run.stderr.contains(&target.display().to_string()),
        "{run:?}"
    );
    // The JSON on stdout reports the error, not a verdict.
    let doc = run.json();
    assert_eq!(doc["exit_code"], 2);
    assert!(run.findings("G001").is_empty());
    assert!(!target.exists());
}

#[test]
fn a_broken_policy_is_exit_2_in_json_naming_policy_line_and_column() {
    let repo = repo_with_broken_policy();
    let run = repo.precommit(&["--all", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(doc["summary"]["passed"], false);
    let problems = run.findings("could-not-check");
    let located = problems
        .iter()
        .find(|p| p["line"] == 2)
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(located["path"], "policy.toml");
    assert_eq!(located["column"], 1);
    assert!(located["message"].as_str().unwrap().contains("mystery"));
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mystery")
    );
    // stderr keeps the compiler-style diagnostic.
    assert!(run.stderr.contains("policy.toml:2:1"), "{run:?}");
}

#[test]
fn a_broken_policy_is_exit_2_in_sarif_with_a_failed_invocation() {
    let repo = repo_with_broken_policy();
    let run = repo.precommit(&["--all", "--format", "sarif"]);
    assert_eq!(run.code, 2, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["version"], "2.1.0");
    let invocation = &doc["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false, "{doc:#}");
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    let note = notes
        .iter()
        .find(|n| n["message"]["text"].as_str().unwrap().contains("mystery"))
        .unwrap_or_else(|| panic!("{doc:#}"));
    let physical = &note["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], "policy.toml");
    assert_eq!(physical["region"]["startLine"], 2);
    assert_eq!(physical["region"]["startColumn"], 1);
    assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn a_broken_policy_is_exit_2_in_junit_github_and_markdown() {
    let repo = repo_with_broken_policy();

    let run = repo.precommit(&["--all", "--format", "junit"]);
    assert_eq!(run.code, 2, "{run:?}");
    let elements = parse_xml(&run.stdout);
    let cases: Vec<_> = elements.iter().filter(|(t, _)| t == "testcase").collect();
    assert_eq!(cases.len(), 1, "{elements:?}");
    let error = elements
        .iter()
        .find(|(t, _)| t == "error")
        .unwrap_or_else(|| panic!("{elements:?}"));
    assert!(
        error.1["#text"]
            .as_str()
            .unwrap()
            .contains("policy.toml:2:1"),
        "{error:?}"
    );
    assert!(
        elements
            .iter()
            .any(|(t, a)| t == "testsuite" && a["errors"] == "1")
    );

    let run = repo.precommit(&["--all", "--format", "github"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("::error file=policy.toml,line=2,col=1,")
                && l.contains("mystery")),
        "{run:?}"
    );

    let run = repo.precommit(&["--all", "--format", "markdown"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("could not check"), "{run:?}");
    assert!(run.stdout.contains("policy.toml:2:1"), "{run:?}");

    // text keeps the error on stderr only.
    let run = repo.precommit(&["--all"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains("policy.toml:2:1"), "{run:?}");
}

#[test]
fn a_broken_policy_reaches_every_output_file_too() {
    let repo = repo_with_broken_policy();
    let out = repo.tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = repo.precommit(&[
        "--all".to_string(),
        format!("--output=sarif={}", out.join("gate.sarif").display()),
        format!("--output=json={}", out.join("gate.json").display()),
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("gate.sarif")).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("gate.json")).unwrap()).unwrap();
    assert_eq!(json["exit_code"], 2);
}

#[test]
fn gate_approve_renders_its_exit_2_too() {
    let repo = repo_with_broken_policy();
    let run = Run::from(
        repo.cmd(env!("CARGO_BIN_EXE_gate-approve"))
            .args(["check", "--format", "json", "--today", "2026-01-01"])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["tool"], "gate-approve");
    assert!(
        run.findings("could-not-check")
            .iter()
            .any(|p| p["path"] == "policy.toml" && p["line"] == 2 && p["column"] == 1),
        "{doc:#}"
    );
}
