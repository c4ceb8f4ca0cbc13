//! `sarif`: SARIF 2.1.0 for GitHub code scanning and other static-analysis dashboards.
//!
//! The driver lists the whole rule catalogue, so `ruleIndex` is the index into
//! [`crate::rules::RULES`] and dashboards can show what/why/how-to-fix for every code.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::rules::RULES;
use crate::{Report, Severity};

pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const SARIF_VERSION: &str = "2.1.0";

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.name,
                "shortDescription": { "text": r.what },
                "fullDescription": { "text": r.why },
                "help": { "text": r.fix, "markdown": r.fix },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();

    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = Map::new();
            result.insert("ruleId".into(), json!(f.code));
            result.insert("ruleIndex".into(), json!(f.code.index()));
            result.insert("level".into(), json!(level(f.severity)));
            let mut text = f.message.clone();
            if !f.help.is_empty() {
                text.push_str("\nhelp: ");
                text.push_str(&f.help);
            }
            result.insert("message".into(), json!({ "text": text }));
            if let Some(path) = &f.path {
                let mut physical = Map::new();
                physical.insert(
                    "artifactLocation".into(),
                    json!({ "uri": path_to_uri(path), "uriBaseId": "%SRCROOT%" }),
                );
                // SARIF requires a region to have a start line (or offset); a column alone
                // is not a region.
                if let Some(line) = f.line {
                    let mut region = Map::new();
                    region.insert("startLine".into(), json!(line));
                    if let Some(col) = f.column {
                        region.insert("startColumn".into(), json!(col));
                    }
                    physical.insert("region".into(), Value::Object(region));
                }
                result.insert(
                    "locations".into(),
                    json!([{ "physicalLocation": Value::Object(physical) }]),
                );
            }
            Value::Object(result)
        })
        .collect();

    let doc = json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {
                "driver": {
                    "name": report.tool,
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "originalUriBaseIds": {
                "%SRCROOT%": { "description": { "text": "The root of the checked repository." } }
            },
            "automationDetails": { "description": { "text": report.subject } },
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A repository-relative path as a relative URI reference: everything outside RFC 3986
/// unreserved characters and `/` is percent-encoded byte by byte (spaces, `,`, `%`, `#`,
/// `?`, non-ASCII), so `my dir/fix,v2.py` becomes `my%20dir/fix%2Cv2.py`.
pub(crate) fn path_to_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
