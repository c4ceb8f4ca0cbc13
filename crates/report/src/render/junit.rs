//! `junit`: JUnit XML for CI systems that show test results (GitLab, Jenkins, Azure, the
//! many JUnit report actions).
//!
//! Valid against both schemas CI tools read JUnit with: Jenkins' `junit-10.xsd` (xunit
//! plugin) and the Apache Ant JUnit schema (tests/schemas/ has both; the tests run
//! `xmllint --schema` on every shape). Together they allow no `file`/`line` attributes, no
//! `system-out` inside a test case, and require `time`, `timestamp`, `hostname`, `package`,
//! `id` and the suite's `properties`, `system-out` and `system-err`.
//!
//! One test case per check and subject, so a CI history tracks the same case from run to run:
//! `classname` is the check (`G001 unregistered-emergency-script`), `name` the subject (the
//! file, registry entry, fix or revision), never a line number. Passing checks are listed
//! (from [`Report::checks`]); a check with error findings fails, with every finding and its
//! `path:line:col` in the failure text. Warnings and notes pass, because only errors fail a
//! gate and a JUnit viewer must agree with the exit code; their text is in the suite's
//! `system-out` with everything else found.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quick_xml::escape::escape;

use crate::{Code, Finding, Report, Severity};

/// The test case name of findings that have neither an entry nor a path.
const WHOLE_RUN: &str = "repository";

/// One test case being assembled: its findings and measured time.
#[derive(Default)]
struct Case<'a> {
    findings: Vec<&'a Finding>,
    time: Option<Duration>,
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let cases = cases(report);
    let failures = cases
        .values()
        .filter(|c| c.findings.iter().any(|f| f.severity == Severity::Error))
        .count();
    let case_time: Duration = cases.values().filter_map(|c| c.time).sum();
    let suite = Suite {
        tool: report.tool,
        subject: &report.subject,
        tests: cases.len().max(1),
        failures,
        errors: 0,
        time: report.duration.unwrap_or(case_time),
        started: report.started.unwrap_or(UNIX_EPOCH),
    };
    suite.open(out)?;
    if cases.is_empty() {
        // No check listed and nothing found: one passing case, so the suite is never empty.
        writeln!(
            out,
            r#"    <testcase name="no findings" classname="{}" time="0.000"/>"#,
            attr(report.tool)
        )?;
    }
    for ((code, subject), case) in &cases {
        write_case(out, *code, subject, case)?;
    }
    let log: Vec<String> = report.findings.iter().map(details).collect();
    suite.close(out, &log.join("\n"))
}

/// Every (check, subject) the report lists or a finding names, in code and subject order.
fn cases(report: &Report) -> BTreeMap<(Code, &str), Case<'_>> {
    let mut cases: BTreeMap<(Code, &str), Case<'_>> = BTreeMap::new();
    for c in &report.checks {
        let case = cases
            .entry((c.code, case_name(Some(&c.subject))))
            .or_default();
        case.time = match (case.time, c.time) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    for f in &report.findings {
        cases
            .entry((f.code, case_name(f.subject())))
            .or_default()
            .findings
            .push(f);
    }
    cases
}

/// The test case name for a subject: [`WHOLE_RUN`] when there is none (or it is blank).
fn case_name(subject: Option<&str>) -> &str {
    subject
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(WHOLE_RUN)
}

fn write_case(out: &mut dyn Write, code: Code, subject: &str, case: &Case<'_>) -> io::Result<()> {
    let classname = attr(&format!("{code} {}", code.name()));
    let name = attr(subject);
    let time = seconds(case.time.unwrap_or_default());
    let errors: Vec<&Finding> = case
        .findings
        .iter()
        .copied()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let Some(first) = errors.first() else {
        return writeln!(
            out,
            r#"    <testcase name="{name}" classname="{classname}" time="{time}"/>"#
        );
    };
    writeln!(
        out,
        r#"    <testcase name="{name}" classname="{classname}" time="{time}">"#
    )?;
    let message = if errors.len() == 1 {
        first.message.clone()
    } else {
        format!("{} ({} findings)", first.message, errors.len())
    };
    let body: Vec<String> = errors.iter().map(|f| details(f)).collect();
    writeln!(
        out,
        r#"      <failure message="{}" type="{}">{}</failure>"#,
        attr(&message),
        attr(code.as_str()),
        text(&body.join("\n\n"))
    )?;
    writeln!(out, "    </testcase>")
}

/// The attributes both schemas require of a suite, and its opening and closing.
pub(super) struct Suite<'a> {
    pub tool: &'a str,
    pub subject: &'a str,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub time: Duration,
    pub started: SystemTime,
}

impl Suite<'_> {
    /// The XML declaration, `<testsuites>`, `<testsuite>` and its `<properties>`.
    pub fn open(&self, out: &mut dyn Write) -> io::Result<()> {
        let Suite {
            tests,
            failures,
            errors,
            ..
        } = *self;
        let tool = attr(self.tool);
        let time = seconds(self.time);
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        // The Ant schema allows no attribute on `<testsuites>`: the counts are the suite's.
        writeln!(out, "<testsuites>")?;
        // `package` and `id` are what the Ant schema requires of a suite inside
        // `<testsuites>`; `hostname` is "localhost" as it says to use when not determined
        // (a report must not carry the machine's name).
        writeln!(
            out,
            r#"  <testsuite name="{tool}" package="{tool}" id="0" tests="{tests}" failures="{failures}" errors="{errors}" skipped="0" time="{time}" timestamp="{}" hostname="localhost">"#,
            timestamp(self.started)
        )?;
        writeln!(out, "    <properties>")?;
        writeln!(
            out,
            r#"      <property name="subject" value="{}"/>"#,
            attr(self.subject)
        )?;
        writeln!(out, "    </properties>")
    }

    /// The suite's `system-out` (the full log of what was found) and `system-err`, both
    /// required by the Ant schema, then the closing tags.
    pub fn close(&self, out: &mut dyn Write, log: &str) -> io::Result<()> {
        writeln!(out, "    <system-out>{}</system-out>", text(log))?;
        writeln!(out, "    <system-err></system-err>")?;
        writeln!(out, "  </testsuite>")?;
        writeln!(out, "</testsuites>")
    }
}

/// The full text of a finding: the failure body and the suite log.
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

/// Seconds with millisecond precision: `1.250` (both schemas' decimal forms accept it).
pub(super) fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `2026-12-07T08:44:53`: UTC without a zone, the only form the Ant schema accepts.
pub(super) fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00");
        // 2000-02-29 (leap day) 12:34:56 UTC and 2026-12-31 23:59:59 UTC.
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(timestamp(at(951_827_696)), "2000-02-29T12:34:56");
        assert_eq!(timestamp(at(1_798_761_599)), "2026-12-31T23:59:59");
    }
}
