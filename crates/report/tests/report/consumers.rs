//! Every format checked by the tools that consume it, not by our own reading of a spec: the
//! SARIF 2.1.0 JSON schema (Python `jsonschema`), the Jenkins and Ant JUnit schemas
//! (`xmllint --schema`) and GitHub's Markdown (`cmark-gfm` with the GFM extensions). The
//! schemas are in tests/schemas/ (origins in its README). A missing validator fails the
//! test with the package to install (ci/setup.sh installs them); nothing is skipped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use gate_report::{
    CheckError, Code, Finding, Format, Problem, Report, Severity, fingerprint, render, render_error,
};

use crate::common;

fn schemas() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/schemas")
}

fn rendered(report: &Report, format: Format) -> String {
    let mut out = Vec::new();
    render(report, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn rendered_error(err: &CheckError, format: Format) -> String {
    let mut out = Vec::new();
    render_error(err, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Run `program args` with `input` on stdin; (success, stdout, stderr). Panics with `hint`
/// when the program is not installed.
fn run(program: &str, args: &[&str], input: &str, hint: &str) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for this test ({hint}): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Two error documents: a policy error with file:line:col, and one without a place.
fn errors() -> Vec<CheckError> {
    vec![
        CheckError {
            tool: "gate-precommit",
            message: "policy.toml:3:9: unknown key `scop`".into(),
            problems: vec![Problem {
                message: "unknown key `scop` in [emergency] <b>|".into(),
                path: Some("policy.toml".into()),
                line: Some(3),
                column: Some(9),
            }],
        },
        CheckError {
            tool: "gate-replay",
            message: "cannot connect to the database".into(),
            problems: vec![Problem {
                message: "cannot connect to the database".into(),
                path: None,
                line: None,
                column: None,
            }],
        },
    ]
}

/// Validate JSON documents with the SARIF schema through Python's `jsonschema`.
fn assert_sarif_valid(docs: &[String]) {
    let script = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft4Validator(schema)
bad = []
for i, doc in enumerate(json.load(sys.stdin)):
    for e in validator.iter_errors(json.loads(doc)):
        bad.append(f"document {i}: {list(e.absolute_path)}: {e.message}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
"#;
    let schema = schemas().join("sarif-schema-2.1.0.json");
    let input = serde_json::to_string(docs).unwrap();
    let (ok, stdout, stderr) = run(
        "python3",
        &["-c", script, schema.to_str().unwrap()],
        &input,
        "python3 with jsonschema: pip install -r ci/requirements.txt",
    );
    assert!(
        !stderr.contains("No module named"),
        "python3 has no jsonschema (pip install -r ci/requirements.txt): {stderr}"
    );
    assert!(ok, "SARIF schema violations:\n{stdout}{stderr}");
}

#[test]
fn sarif_of_every_report_and_error_validates_against_the_sarif_schema() {
    let mut docs: Vec<String> = common::all()
        .iter()
        .map(|(_, r)| rendered(r, Format::Sarif))
        .collect();
    docs.extend(errors().iter().map(|e| rendered_error(e, Format::Sarif)));
    assert_sarif_valid(&docs);
    // The validator rejects what the schema forbids: a result without a message.
    let mut bad: serde_json::Value = serde_json::from_str(&docs[2]).unwrap();
    bad["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    let script_fails = std::panic::catch_unwind(|| assert_sarif_valid(&[bad.to_string()]));
    assert!(
        script_fails.is_err(),
        "the validator must reject a broken log"
    );
}

fn xmllint(xml: &str, xsd: &str) -> (bool, String) {
    let xsd = schemas().join(xsd);
    let (ok, _, stderr) = run(
        "xmllint",
        &["--noout", "--schema", xsd.to_str().unwrap(), "-"],
        xml,
        "Debian package libxml2-utils",
    );
    (ok, stderr)
}

#[test]
fn junit_of_every_report_and_error_validates_against_the_jenkins_and_ant_schemas() {
    let mut docs: Vec<(String, String)> = common::all()
        .iter()
        .map(|(name, r)| (name.to_string(), rendered(r, Format::Junit)))
        .collect();
    for (i, e) in errors().iter().enumerate() {
        docs.push((format!("error {i}"), rendered_error(e, Format::Junit)));
    }
    for xsd in ["junit-10.xsd", "ant-junit.xsd"] {
        for (name, xml) in &docs {
            let (ok, stderr) = xmllint(xml, xsd);
            assert!(ok, "{name} is not valid against {xsd}:\n{stderr}\n{xml}");
        }
        // And the schema does reject what it forbids: a `file` attribute on a test case.
        let bad = docs[2]
            .1
            .replacen("<testcase ", r#"<testcase file="x.py" "#, 1);
        assert!(!xmllint(&bad, xsd).0, "{xsd} must reject testcase/@file");
    }
}

#[test]
fn junit_cases_are_stable_per_check_and_subject_with_passing_checks_listed() {
    let xml = rendered(&common::hostile(), Format::Junit);
    // Three checks ran (two G001, one G002); the G001 on the hostile name and the G002 fail.
    assert!(xml.contains(r#"tests="3" failures="2""#), "{xml}");
    assert!(xml.contains(
        r#"<testcase name="ops/clean.sh" classname="G001 unregistered-emergency-script" time="0.000"/>"#
    ));
    // Moving the finding to another line changes nothing in the case's identity.
    let mut moved = common::hostile();
    let www = moved
        .findings
        .iter_mut()
        .find(|f| f.code == Code::G001)
        .unwrap();
    www.line = Some(40);
    let names = |xml: &str| -> Vec<String> {
        xml.lines()
            .filter(|l| l.trim_start().starts_with("<testcase "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(names(&xml), names(&rendered(&moved, Format::Junit)));
    assert!(rendered(&moved, Format::Junit).contains("--&gt; www.evil.com_#1.py:40"));
}

/// GitHub's renderer with the extensions github.com uses. Raw HTML is kept (`--unsafe`),
/// as GitHub keeps the tags its sanitizer allows (`<code>`, `<br>`): an injected tag would
/// show up here.
fn gfm(markdown: &str) -> String {
    let (ok, html, stderr) = run(
        "cmark-gfm",
        &[
            "--unsafe",
            "-e",
            "table",
            "-e",
            "autolink",
            "-e",
            "strikethrough",
            "-e",
            "tagfilter",
        ],
        markdown,
        "Debian package cmark-gfm",
    );
    assert!(ok, "cmark-gfm failed: {stderr}");
    html
}

/// Cells per row of every table in `html`.
fn table_shapes(html: &str) -> Vec<Vec<usize>> {
    html.split("<table>")
        .skip(1)
        .map(|table| {
            let table = table.split("</table>").next().unwrap();
            table
                .split("<tr>")
                .skip(1)
                .map(|row| row.matches("<td").count() + row.matches("<th").count())
                .collect()
        })
        .collect()
}

#[test]
fn markdown_tables_keep_their_shape_in_github_markdown() {
    for (name, report) in common::all() {
        let html = gfm(&rendered(&report, Format::Markdown));
        let shapes = table_shapes(&html);
        if report.findings.is_empty() {
            assert!(shapes.is_empty() || name == "sections", "{name}: {html}");
            continue;
        }
        let findings = &shapes[0];
        assert_eq!(findings.len(), report.findings.len() + 1, "{name}: {html}");
        assert!(
            findings.iter().all(|&cells| cells == 5),
            "{name}: {findings:?}\n{html}"
        );
    }
}

#[test]
fn hostile_names_make_no_link_mention_html_or_broken_code_in_github_markdown() {
    let markdown = rendered(&common::hostile(), Format::Markdown);
    let html = gfm(&markdown);
    assert!(
        !html.contains("<a "),
        "an autolink fired:\n{markdown}\n{html}"
    );
    assert!(!html.contains("<img"), "raw HTML got through:\n{html}");
    assert!(!html.contains("@admin"), "a mention would fire:\n{html}");
    assert!(html.contains("@\u{200B}admin"), "{html}");
    assert!(
        !html.contains("#1.py") || html.contains("#\u{200B}1.py"),
        "{html}"
    );
    // The suggested commands are whole code spans, backticks in the name included.
    assert!(
        html.contains("<code>gate-approve register 'a`b ``c.py' --update</code>"),
        "{markdown}\n{html}"
    );
    assert!(
        html.contains("<code>gate-approve register www.evil.com_#1.py</code>")
            || html.contains("<code>gate-approve register www.evil.com_#\u{200B}1.py</code>"),
        "{markdown}\n{html}"
    );
    // The location column is a code span too, even with backticks in the path.
    assert!(html.contains("<code>a`b ``c.py</code>"), "{html}");
    assert_eq!(table_shapes(&html), vec![vec![5, 5, 5]]);
}

#[test]
fn an_email_inside_a_code_span_is_no_link() {
    // Found by the generated reports below: GitHub's email autolink fires inside `<code>`.
    let mut r = Report::new("gate-precommit", "");
    r.findings.push(Finding::new(
        Code::G001,
        "run ``a@b.io`` and `lead@example.com`",
    ));
    let html = gfm(&rendered(&r, Format::Markdown));
    assert!(!html.contains("<a "), "{html}");
    assert!(html.contains("<code>a@<wbr>b.io</code>"), "{html}");
    assert!(
        html.contains("<code>lead@<wbr>example.com</code>"),
        "{html}"
    );
}

#[test]
fn the_markdown_of_an_error_renders_its_location_as_text() {
    for e in errors() {
        let html = gfm(&rendered_error(&e, Format::Markdown));
        assert!(!html.contains("<b>"), "{html}");
        if let Some(p) = &e.problems[0].path {
            assert!(html.contains(&format!("{p}:3:9")), "{html}");
        }
    }
}

fn many(errors: usize, warnings: usize, notes: usize) -> Report {
    let mut r = Report::new("gate-replay", "many fixes");
    for (n, severity) in [
        (errors, Severity::Error),
        (warnings, Severity::Warning),
        (notes, Severity::Note),
    ] {
        for i in 0..n {
            r.findings.push(
                Finding::new(Code::F001, format!("fix {i} is not idempotent"))
                    .severity(severity)
                    .at(format!("fixes/{i:02}.sql"))
                    .line(1),
            );
        }
    }
    r
}

#[test]
fn github_annotations_stop_at_githubs_limits_and_count_the_rest() {
    let out = rendered(&many(25, 15, 12), Format::Github);
    let count = |prefix: &str| out.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("::error "), 10, "{out}");
    assert_eq!(count("::warning "), 10, "{out}");
    // Nine notes and the notice that counts what was left out.
    assert_eq!(count("::notice "), 10, "{out}");
    let notice = out
        .lines()
        .find(|l| l.contains("not annotated"))
        .expect("a notice counts what was not annotated");
    assert!(
        notice.contains("23 more findings (15 errors, 5 warnings, 3 notes)"),
        "{notice}"
    );
    assert!(out.ends_with("gate-replay: 25 errors, 15 warnings, 12 notes (many fixes)\n"));

    // At the limit exactly, everything is annotated and nothing is said about it.
    let out = rendered(&many(10, 10, 10), Format::Github);
    assert_eq!(out.lines().filter(|l| l.starts_with("::")).count(), 30);
    assert!(!out.contains("not annotated"));
}

#[test]
fn fingerprints_ignore_lines_and_timings_but_not_the_place_or_the_rule() {
    let at = |path: &str, line: u32, msg: &str| {
        Finding::new(Code::G001, msg.to_string())
            .at(path)
            .line(line)
    };
    let base = fingerprint(&at(
        "ops/fix.py",
        12,
        "it runs DDL (line 12) outside the chain",
    ));
    assert_eq!(base.len(), 64);
    assert_eq!(
        base,
        fingerprint(&at(
            "ops/fix.py",
            40,
            "it runs DDL (line 40) outside the chain"
        ))
    );
    assert_ne!(
        base,
        fingerprint(&at(
            "ops/other.py",
            12,
            "it runs DDL (line 12) outside the chain"
        ))
    );
    assert_ne!(
        base,
        fingerprint(&at(
            "ops/fix.py",
            12,
            "it runs a DROP (line 12) outside the chain"
        ))
    );
    let slow = |ms: &str| {
        fingerprint(
            &Finding::new(Code::R005, format!("0003 took {ms} (slow-ms = 5000)")).at("a.py"),
        )
    };
    assert_eq!(slow("7412 ms"), slow("9100 ms"));
    let sarif: serde_json::Value =
        serde_json::from_str(&rendered(&common::mixed(), Format::Sarif)).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(
        result["partialFingerprints"]["migrationGate/v1"],
        fingerprint(&common::mixed().findings[0])
    );
}

mod generated {
    use super::*;
    use crate::wellformed::generated::report;
    use proptest::prelude::*;

    proptest! {
        // Each case runs the consumers as processes: fewer cases than the in-process checks.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Hostile text anywhere (`www.`, `https://`, `@`, `#1`, backticks, pipes, HTML):
        /// GitHub's renderer still sees one table row of five cells per finding, no link and
        /// no tag but `<code>`, `<br>` and `<wbr>`; JUnit stays valid against both schemas.
        #[test]
        fn generated_reports_stay_valid_for_the_consumers(r in report()) {
            let html = gfm(&rendered(&r, Format::Markdown));
            prop_assert!(!html.contains("<a "), "{}", html);
            let tags = html
                .split('<')
                .skip(1)
                .filter_map(|t| t.split(['>', ' ']).next())
                .filter(|t| !t.starts_with('/'))
                .filter(|t| !["h2", "p", "strong", "table", "thead", "tbody", "tr", "th", "td",
                              "code", "br", "br/", "br /", "wbr"].contains(t))
                .map(str::to_string)
                .collect::<Vec<_>>();
            prop_assert!(tags.is_empty(), "tags {:?} in {}", tags, html);
            if !r.findings.is_empty() {
                let shapes = table_shapes(&html);
                prop_assert_eq!(shapes.len(), 1, "{}", html);
                prop_assert_eq!(shapes[0].len(), r.findings.len() + 1, "{}", html);
                prop_assert!(shapes[0].iter().all(|&cells| cells == 5), "{}", html);
            }
            let xml = rendered(&r, Format::Junit);
            for xsd in ["junit-10.xsd", "ant-junit.xsd"] {
                let (ok, stderr) = xmllint(&xml, xsd);
                prop_assert!(ok, "{}: {}\n{}", xsd, stderr, xml);
            }
        }
    }
}

#[test]
fn github_annotations_of_an_error_stop_at_the_limit_too() {
    let problems = (1..=12)
        .map(|line| Problem {
            message: format!("problem {line}"),
            path: Some("policy.toml".into()),
            line: Some(line),
            column: Some(1),
        })
        .collect();
    let err = CheckError {
        tool: "gate-precommit",
        message: "12 problems".into(),
        problems,
    };
    let out = rendered_error(&err, Format::Github);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("::error ")).count(),
        10,
        "{out}"
    );
    assert!(
        out.contains("::notice title=gate-precommit%3A 2 more problems not annotated::"),
        "{out}"
    );
}
