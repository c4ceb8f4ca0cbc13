//! `json`: the stable, documented machine format (schema in the crate README).
//!
//! The shape is built here field by field instead of serialising `Report` directly, so a
//! refactor of the Rust types cannot silently change what scripts parse. Bump `version` on
//! any incompatible change; adding fields is compatible.

use std::io::{self, Write};

use serde::Serialize;

use crate::{Code, Report, Severity};

/// Version of the JSON shape, the first key of every document.
pub const JSON_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    tool: &'a str,
    subject: &'a str,
    summary: Summary,
    findings: Vec<JsonFinding<'a>>,
    sections: Vec<JsonSection<'a>>,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
    /// No error findings: the gate passed (exit code 0).
    passed: bool,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: Code,
    /// The rule's kebab-case name. (Always set since codes are typed; the schema keeps
    /// `null` allowed for readers of older documents.)
    name: &'static str,
    severity: Severity,
    path: Option<&'a str>,
    /// The registry entry the finding is about; the key is left out when there is none, so
    /// documents without entries are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<&'a str>,
    line: Option<u32>,
    column: Option<u32>,
    message: &'a str,
    help: &'a str,
}

#[derive(Serialize)]
struct JsonSection<'a> {
    title: &'a str,
    data: &'a serde_json::Value,
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let (errors, warnings, notes) = report.counts();
    let doc = Doc {
        version: JSON_VERSION,
        tool: report.tool,
        subject: &report.subject,
        summary: Summary {
            errors,
            warnings,
            notes,
            passed: errors == 0,
        },
        findings: report
            .findings
            .iter()
            .map(|f| JsonFinding {
                code: f.code,
                name: f.code.name(),
                severity: f.severity,
                path: f.path.as_deref(),
                entry: f.entry.as_deref(),
                line: f.line,
                column: f.column,
                message: &f.message,
                help: &f.help,
            })
            .collect(),
        sections: report
            .sections
            .iter()
            .map(|s| JsonSection {
                title: &s.title,
                data: &s.data,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
