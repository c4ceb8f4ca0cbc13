//! `junit`: JUnit XML for CI systems that show test results (GitLab, Jenkins, Azure, the
//! many JUnit report actions).
//!
//! One `<testsuite>` per run, one `<testcase>` per finding. Error findings carry a
//! `<failure>`; warnings and notes are passing test cases whose text is in `<system-out>`,
//! because only errors fail a gate and a JUnit viewer must agree with the exit code. A run
//! without findings is a single passing test case, so the suite is never empty.

use std::io::{self, Write};

use quick_xml::escape::escape;

use super::one_line;
use crate::{Finding, Report, Severity};

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let (errors, _, _) = report.counts();
    let tests = report.findings.len().max(1);
    let tool = attr(report.tool);

    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="{tool}" tests="{tests}" failures="{errors}" errors="0">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{tool}" tests="{tests}" failures="{errors}" errors="0" skipped="0">"#
    )?;
    writeln!(out, "    <properties>")?;
    writeln!(
        out,
        r#"      <property name="subject" value="{}"/>"#,
        attr(&report.subject)
    )?;
    writeln!(out, "    </properties>")?;

    if report.findings.is_empty() {
        writeln!(
            out,
            r#"    <testcase name="{}" classname="{tool}"/>"#,
            attr(&format!("{}: no findings", one_line(&report.subject)))
        )?;
    }
    for f in &report.findings {
        let classname = attr(&format!("{}.{}", report.tool, f.code));
        let name = attr(&case_name(f));
        let file = f
            .path
            .as_deref()
            .map(|p| format!(r#" file="{}""#, attr(p)))
            .unwrap_or_default();
        let line = f
            .line
            .map(|l| format!(r#" line="{l}""#))
            .unwrap_or_default();
        writeln!(
            out,
            r#"    <testcase name="{name}" classname="{classname}"{file}{line}>"#
        )?;
        let body = text(&details(f));
        match f.severity {
            Severity::Error => writeln!(
                out,
                r#"      <failure message="{}" type="{}">{body}</failure>"#,
                attr(&f.message),
                attr(f.code.as_str())
            )?,
            Severity::Warning | Severity::Note => {
                writeln!(out, "      <system-out>{body}</system-out>")?
            }
        }
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// `G001 unregistered-emergency-script at emergency_db_fix.py:1`: unique enough to tell
/// cases apart in a CI test list.
fn case_name(f: &Finding) -> String {
    let mut name = format!("{} {}", f.code, f.code.name());
    if let Some(loc) = f.location() {
        name.push_str(" at ");
        name.push_str(&loc);
    }
    name
}

/// The full text of a finding, for the failure body.
fn details(f: &Finding) -> String {
    let mut s = format!("{}[{}]: {}", f.severity.as_str(), f.code, f.message);
    if let Some(loc) = f.location() {
        s.push_str("\n  --> ");
        s.push_str(&loc);
    }
    if !f.help.is_empty() {
        s.push_str("\n  = help: ");
        s.push_str(&f.help);
    }
    s
}

/// Characters XML 1.0 cannot carry at all, even escaped, become U+FFFD.
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Element text. A raw `\r` would be read back as `\n`, so it is a character reference.
pub(super) fn text(s: &str) -> String {
    escape(xml_chars(s)).replace('\r', "&#13;")
}

/// Attribute value. Parsers normalise raw tabs and line breaks in attributes to spaces, so
/// they are written as character references to survive the round trip.
pub(super) fn attr(s: &str) -> String {
    escape(xml_chars(s))
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
}
