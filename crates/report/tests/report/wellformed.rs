//! The machine formats parse back (serde_json, quick-xml) to exactly what went in, and the
//! text formats keep their structure whatever the finding text contains.

use crate::common;
use gate_report::{Code, Finding, Format, RenderOptions, Report, Severity, render, render_with};
use quick_xml::events::Event;
use serde_json::Value;

fn rendered(report: &Report, format: Format) -> String {
    let mut out = Vec::new();
    render(report, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------- json

pub fn check_json(report: &Report) {
    let out = rendered(report, Format::Json);
    let v: Value = serde_json::from_str(&out).expect("json output parses");
    assert_eq!(v["version"], 1);
    assert_eq!(v["tool"], report.tool);
    assert_eq!(v["subject"], report.subject.as_str());
    let (e, w, n) = report.counts();
    assert_eq!(v["summary"]["errors"], e);
    assert_eq!(v["summary"]["warnings"], w);
    assert_eq!(v["summary"]["notes"], n);
    assert_eq!(v["summary"]["passed"], e == 0);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), report.findings.len());
    for (j, f) in findings.iter().zip(&report.findings) {
        assert_eq!(j["code"], f.code.as_str());
        assert_eq!(j["name"], f.code.name());
        assert_eq!(j["severity"], f.severity.as_str());
        assert_eq!(j["path"].as_str(), f.path.as_deref());
        // `entry` is an optional key: absent (not null) when the finding has none.
        assert_eq!(
            j.get("entry")
                .map(|e| e.as_str().expect("entry is a string")),
            f.entry.as_deref()
        );
        assert_eq!(j["line"].as_u64(), f.line.map(u64::from));
        assert_eq!(j["column"].as_u64(), f.column.map(u64::from));
        assert_eq!(j["message"], f.message.as_str());
        assert_eq!(j["help"], f.help.as_str());
    }
    let sections = v["sections"].as_array().unwrap();
    assert_eq!(sections.len(), report.sections.len());
    for (j, s) in sections.iter().zip(&report.sections) {
        assert_eq!(j["title"], s.title.as_str());
        assert_eq!(j["data"], s.data);
    }
}

#[test]
fn json_parses_back_for_every_fixture() {
    for (_, report) in common::all() {
        check_json(&report);
    }
}

// ---------------------------------------------------------------- sarif

/// The parts of the SARIF 2.1.0 schema a consumer relies on, checked by hand (the schema
/// cannot be downloaded here): required properties, enums, index consistency, URI syntax.
pub fn check_sarif(report: &Report) {
    let out = rendered(report, Format::Sarif);
    let log: Value = serde_json::from_str(&out).expect("sarif output parses");
    assert_eq!(
        log["version"], "2.1.0",
        "sarifLog.version is required and fixed"
    );
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = log["runs"].as_array().expect("sarifLog.runs is required");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(
        driver["name"], report.tool,
        "toolComponent.name is required"
    );
    let info = driver["informationUri"].as_str().unwrap();
    assert!(
        info.starts_with("https://") || info.starts_with("http://"),
        "informationUri must be an absolute URI, got {info:?}"
    );
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), gate_report::rules::RULES.len());
    for rule in rules {
        assert!(rule["id"].is_string(), "reportingDescriptor.id is required");
        for key in ["shortDescription", "fullDescription", "help"] {
            assert!(
                rule[key]["text"].as_str().is_some_and(|t| !t.is_empty()),
                "multiformatMessageString.text is required ({key} of {})",
                rule["id"]
            );
        }
        let level = rule["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(["none", "note", "warning", "error"].contains(&level));
    }
    let results = run["results"].as_array().expect("results array");
    assert_eq!(results.len(), report.findings.len());
    for (r, f) in results.iter().zip(&report.findings) {
        assert_eq!(r["ruleId"], f.code.as_str());
        // Every code is in the catalogue (the type has no other values), so every result
        // has a ruleIndex.
        let index = r["ruleIndex"].as_u64().expect("ruleIndex for a known rule") as usize;
        assert_eq!(
            rules[index]["id"],
            f.code.as_str(),
            "ruleIndex must point at ruleId"
        );
        let level = r["level"].as_str().unwrap();
        assert_eq!(level, f.severity.as_str());
        let text = r["message"]["text"].as_str().expect("result.message.text");
        assert!(text.starts_with(&f.message));
        match &f.path {
            None => assert!(r.get("locations").is_none()),
            Some(path) => {
                let phys = &r["locations"][0]["physicalLocation"];
                let uri = phys["artifactLocation"]["uri"].as_str().unwrap();
                assert_valid_relative_uri(uri);
                assert_eq!(percent_decode(uri), *path);
                let base = phys["artifactLocation"]["uriBaseId"].as_str().unwrap();
                assert!(run["originalUriBaseIds"].get(base).is_some());
                match f.line {
                    // A whole-file finding is placed on line 1 (GitHub needs a start line).
                    None => {
                        assert_eq!(phys["region"]["startLine"], 1);
                        assert!(phys["region"].get("startColumn").is_none());
                    }
                    Some(line) => {
                        assert_eq!(phys["region"]["startLine"], line);
                        assert!(line >= 1);
                        assert_eq!(
                            phys["region"]["startColumn"].as_u64(),
                            f.column.map(u64::from)
                        );
                    }
                }
            }
        }
    }
}

/// RFC 3986 relative reference without a scheme: only unreserved, sub-delims, `:@/` and
/// percent-escapes, and no `:` in the first segment.
fn assert_valid_relative_uri(uri: &str) {
    let bytes = uri.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            assert!(
                i + 2 < bytes.len()
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit(),
                "bad percent-escape in {uri:?}"
            );
            i += 3;
            continue;
        }
        assert!(
            b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b),
            "{uri:?} has a character a URI cannot carry: {:?}",
            b as char
        );
        i += 1;
    }
    let first = uri.split('/').next().unwrap();
    assert!(!first.contains(':'), "{uri:?} would be read as a scheme");
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn sarif_has_the_required_structure_for_every_fixture() {
    for (_, report) in common::all() {
        check_sarif(&report);
    }
}

// ---------------------------------------------------------------- junit

#[derive(Debug, Default)]
struct JunitCase {
    name: String,
    classname: String,
    failure_message: Option<String>,
    failure_type: Option<String>,
    body: String,
}

/// Parse JUnit XML with quick-xml, failing on any syntax error or wrong nesting.
fn parse_junit(xml: &str) -> (Vec<(String, String)>, Vec<JunitCase>, String) {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut suite_attrs = Vec::new();
    let mut cases: Vec<JunitCase> = Vec::new();
    let mut log = String::new();
    let attrs = |e: &quick_xml::events::BytesStart| -> Vec<(String, String)> {
        e.attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    a.key.as_ref().to_string(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("attribute value unescapes")
                        .into_owned(),
                )
            })
            .collect()
    };
    let get = |attrs: &[(String, String)], k: &str| {
        attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    loop {
        let event = reader
            .read_event()
            .expect("junit output is well-formed XML");
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.name().as_ref().to_string();
                let parent = stack.last().map(String::as_str);
                let expected_parent = match name.as_str() {
                    "testsuites" => None,
                    "testsuite" => Some("testsuites"),
                    "properties" => Some("testsuite"),
                    "property" => Some("properties"),
                    "testcase" | "system-out" | "system-err" => Some("testsuite"),
                    "failure" => Some("testcase"),
                    other => panic!("unexpected element <{other}>"),
                };
                assert_eq!(parent, expected_parent, "<{name}> nested wrongly");
                let a = attrs(e);
                match name.as_str() {
                    "testsuite" => suite_attrs = a,
                    "testcase" => cases.push(JunitCase {
                        name: get(&a, "name").expect("testcase name"),
                        classname: get(&a, "classname").expect("testcase classname"),
                        ..Default::default()
                    }),
                    "failure" => {
                        let case = cases.last_mut().unwrap();
                        case.failure_message = get(&a, "message");
                        case.failure_type = get(&a, "type");
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => match stack.last().map(String::as_str) {
                Some("failure") => cases.last_mut().unwrap().body.push_str(&t.xml10_content()),
                Some("system-out") => log.push_str(&t.xml10_content()),
                _ => {}
            },
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().expect("valid char ref") {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .expect("only predefined entities")
                        .to_string(),
                };
                match stack.last().map(String::as_str) {
                    Some("failure") => cases.last_mut().unwrap().body.push_str(&c),
                    Some("system-out") => log.push_str(&c),
                    _ => {}
                }
            }
            Event::Eof => break,
            Event::Decl(_) => {}
            other => panic!("unexpected XML event {other:?}"),
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    (suite_attrs, cases, log)
}

/// XML 1.0 cannot carry most control characters; the renderer substitutes U+FFFD.
fn xml_visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// The renderer's case name: the subject, or "repository" when there is none.
fn case_name(subject: Option<&str>) -> String {
    subject
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("repository")
        .to_string()
}

/// One test case per check and subject (listed or found), named without lines; error
/// findings fail their case with message, location and help; the suite log has everything.
pub fn check_junit(report: &Report) {
    let out = rendered(report, Format::Junit);
    let (suite, cases, log) = parse_junit(&out);
    let get = |k: &str| suite.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("name").as_deref(), Some(report.tool));
    assert_eq!(get("tests"), Some(cases.len().to_string()));
    let failing = cases.iter().filter(|c| c.failure_message.is_some()).count();
    assert_eq!(get("failures"), Some(failing.to_string()));
    let mut keys: Vec<(String, String)> = report
        .checks
        .iter()
        .map(|c| (c.code.to_string(), case_name(Some(&c.subject))))
        .chain(
            report
                .findings
                .iter()
                .map(|f| (f.code.to_string(), case_name(f.subject()))),
        )
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        assert_eq!(
            cases.len(),
            1,
            "a run without checks is one passing test case"
        );
        assert!(cases[0].failure_message.is_none());
        return;
    }
    assert_eq!(cases.len(), keys.len(), "one case per check and subject");
    for f in &report.findings {
        let subject = case_name(f.subject());
        let case = cases
            .iter()
            .find(|c| c.classname.starts_with(f.code.as_str()) && c.name == xml_visible(&subject))
            .unwrap_or_else(|| panic!("no case for {} on {subject}", f.code));
        assert!(!case.name.contains(&format!(":{}", f.line.unwrap_or(0))) || f.line.is_none());
        assert!(
            log.contains(&xml_visible(&f.message)),
            "log lacks {:?}",
            f.message
        );
        if f.severity == Severity::Error {
            assert_eq!(case.failure_type.as_deref(), Some(f.code.as_str()));
            assert!(
                case.body.contains(&xml_visible(&f.message)),
                "{:?}",
                case.body
            );
            assert!(case.body.contains(&xml_visible(&f.help)));
            if let Some(loc) = f.location() {
                assert!(
                    case.body.contains(&xml_visible(&loc)),
                    "location in the failure"
                );
            }
        }
    }
    for case in &cases {
        let fails = report.findings.iter().any(|f| {
            f.severity == Severity::Error
                && case.classname.starts_with(f.code.as_str())
                && case.name == xml_visible(&case_name(f.subject()))
        });
        assert_eq!(
            case.failure_message.is_some(),
            fails,
            "only errors fail: {}",
            case.name
        );
    }
}

#[test]
fn junit_parses_back_for_every_fixture() {
    for (_, report) in common::all() {
        check_junit(&report);
    }
}

// ---------------------------------------------------------------- github

/// Single-pass decoder for the escapes `@actions/core` writes.
fn unescape_github(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i..i + 3).unwrap_or("");
        let c = match code {
            "%25" => '%',
            "%0D" => '\r',
            "%0A" => '\n',
            "%3A" => ':',
            "%2C" => ',',
            _ => panic!("{s:?} has an unescaped % at {i}"),
        };
        out.push(c);
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// What the github renderer shows of a value: control characters other than line breaks
/// and tabs become U+FFFD.
fn github_visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && !"\t\r\n".contains(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

pub fn check_github(report: &Report) {
    let out = rendered(report, Format::Github);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        report.findings.len() + 1,
        "one line per finding plus the summary"
    );
    for (line, f) in lines.iter().zip(&report.findings) {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let rest = line
            .strip_prefix(&format!("::{command} "))
            .unwrap_or_else(|| panic!("{line:?} is not a ::{command} command"));
        let (props, data) = rest.split_once("::").expect("properties::message");
        let props: Vec<(&str, String)> = props
            .split(',')
            .map(|p| {
                let (k, v) = p.split_once('=').expect("key=value");
                (k, unescape_github(v))
            })
            .collect();
        let prop = |k: &str| props.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(prop("file"), f.path.as_deref().map(github_visible));
        assert_eq!(
            prop("line"),
            f.path.as_ref().and(f.line).map(|l| l.to_string())
        );
        assert!(prop("title").unwrap().starts_with(f.code.as_str()));
        let message = unescape_github(data);
        let sane = github_visible(&f.message);
        assert!(message.starts_with(&sane), "{message:?} vs {sane:?}");
    }
    assert!(!lines.last().unwrap().starts_with("::"));
}

#[test]
fn github_commands_carry_every_field_for_every_fixture() {
    for (_, report) in common::all() {
        check_github(&report);
    }
}

// ---------------------------------------------------------------- markdown

/// Cells of a GFM table row, split the way cmark-gfm does: `\x` is one escaped character.
fn gfm_cells(row: &str) -> Vec<String> {
    let inner = row
        .trim()
        .strip_prefix('|')
        .unwrap()
        .strip_suffix('|')
        .unwrap();
    let mut cells = vec![String::new()];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let cell = cells.last_mut().unwrap();
                cell.push(c);
                if let Some(n) = chars.next() {
                    cell.push(n);
                }
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

pub fn check_markdown(report: &Report) {
    let out = rendered(report, Format::Markdown);
    let heading = out.lines().next().unwrap();
    let errors = report.counts().0;
    assert!(heading.starts_with(if errors > 0 { "## ❌ " } else { "## ✅ " }));
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("| Severity |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    if report.findings.is_empty() {
        assert!(rows.is_empty());
        assert!(out.contains("No findings."));
        return;
    }
    assert_eq!(
        rows.len(),
        report.findings.len() + 2,
        "header, rule, one row per finding"
    );
    for row in &rows[2..] {
        let cells = gfm_cells(row);
        assert_eq!(cells.len(), 5, "row {row:?} has {} cells", cells.len());
        for cell in &cells {
            // Inside a code span `<` is literal text, not HTML.
            if cell.trim().starts_with('`') {
                continue;
            }
            let without_br = cell
                .replace("<br>", "")
                .replace("<wbr>", "")
                .replace("<code>", "")
                .replace("</code>", "");
            assert!(!without_br.contains('<'), "raw HTML in {cell:?}");
        }
    }
}

#[test]
fn markdown_table_keeps_five_cells_for_every_fixture() {
    for (_, report) in common::all() {
        check_markdown(&report);
    }
}

// ---------------------------------------------------------------- text

#[test]
fn plain_text_has_no_escape_codes_and_neutralises_hostile_ones() {
    for (_, report) in common::all() {
        let out = rendered(&report, Format::Text);
        assert!(
            !out.contains('\u{1b}'),
            "plain text must not carry ANSI codes:\n{out}"
        );
    }
    let odd = rendered(&common::odd(), Format::Text);
    assert!(odd.contains("\u{FFFD}[31mRED"));
}

#[test]
fn colour_is_opt_in() {
    let report = common::mixed();
    let mut coloured = Vec::new();
    render_with(
        &report,
        Format::Text,
        &mut coloured,
        &RenderOptions::plain().color(true),
    )
    .unwrap();
    let coloured = String::from_utf8(coloured).unwrap();
    assert!(coloured.contains("\u{1b}["));
    // Colour must not change the words: strip SGR sequences and compare with plain.
    let mut stripped = String::new();
    let mut chars = coloured.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n == 'm' {
                    break;
                }
            }
        } else {
            stripped.push(c);
        }
    }
    assert_eq!(stripped, rendered(&report, Format::Text));
}

#[test]
fn text_summary_line_says_ok_or_counts() {
    assert!(
        rendered(&common::empty(), Format::Text).ends_with("gate-precommit: ok (staged changes)\n")
    );
    let mut r = Report::new("gate-precommit", "staged changes");
    r.findings = vec![
        Finding::new(Code::G001, "a"),
        Finding::new(Code::G002, "b"),
        Finding::new(Code::R005, "c"),
    ];
    assert!(
        rendered(&r, Format::Text)
            .ends_with("gate-precommit: 2 errors, 1 warning (staged changes)\n")
    );
    r.findings.retain(|f| f.severity != Severity::Error);
    assert!(
        rendered(&r, Format::Text).ends_with("gate-precommit: ok, 1 warning (staged changes)\n")
    );
}

#[test]
fn format_names_round_trip() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        assert_eq!(f.to_string(), f.as_str());
    }
    let err = "xml".parse::<Format>().unwrap_err();
    assert!(err.contains("expected text, json"), "{err}");
}

// ---------------------------------------------------------------- generated reports

pub(crate) mod generated {
    use super::*;
    use proptest::prelude::*;

    /// Text drawn mostly from the characters each format must escape.
    pub(crate) fn hostile() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                3 => proptest::sample::select(vec![
                    "|", "`", "``", "<", ">", "&", "\\", "%", ":", ",", "\n", "\r", "\r\n", "\t",
                    "*", "_", "[", "]", "~", "#", "::", "%0A", "&#10;", "]]>", "\"", "'", "\u{1b}[1m",
                    "\u{0}", "\u{7f}", "\u{85}", "é", "数据", "🚀", " ", "<script>", "--",
                    "www.", "https://", "@", "#1", "a@b.io",
                ])
                .prop_map(str::to_string),
                2 => "[a-zA-Z0-9 ./-]{1,8}",
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    fn finding() -> impl Strategy<Value = Finding> {
        (
            proptest::sample::select(Code::ALL),
            proptest::sample::select(vec![Severity::Error, Severity::Warning, Severity::Note]),
            proptest::option::of(hostile().prop_filter("non-empty path", |p| !p.is_empty())),
            proptest::option::of(hostile()),
            proptest::option::of(1u32..100_000),
            proptest::option::of(1u32..500),
            hostile(),
            hostile(),
        )
            .prop_map(
                |(code, severity, path, entry, line, column, message, help)| Finding {
                    code,
                    severity,
                    path,
                    entry,
                    line,
                    column,
                    message,
                    help,
                },
            )
    }

    pub(crate) fn report() -> impl Strategy<Value = Report> {
        (hostile(), proptest::collection::vec(finding(), 0..6)).prop_map(|(subject, findings)| {
            let mut r = Report::new("gate-precommit", subject);
            r.findings = findings;
            r
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_format_stays_well_formed(r in report()) {
            check_json(&r);
            check_sarif(&r);
            check_junit(&r);
            check_github(&r);
            check_markdown(&r);
        }
    }
}
