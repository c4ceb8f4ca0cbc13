//! `sarif`: SARIF 2.1.0 for GitHub code scanning and other static-analysis dashboards.
//!
//! The driver lists the whole rule catalogue, so `ruleIndex` is the index into
//! [`crate::rules::RULES`] and dashboards can show what/why/how-to-fix for every code.
//!
//! Every result with a path has a region (line 1 for a finding about a whole file: GitHub
//! places no alert without a start line) and a `partialFingerprints` hash that ignores line
//! numbers and timings, so an alert survives lines moving above it. The log validates
//! against the SARIF 2.1.0 JSON schema (tests/schemas/sarif-schema-2.1.0.json).

use std::io::{self, Write};

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::rules::RULES;
use crate::{Finding, Report, Severity};

pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const SARIF_VERSION: &str = "2.1.0";
/// The key of our hash in `partialFingerprints`; bump the version if the hashed text changes.
pub const FINGERPRINT_KEY: &str = "migrationGate/v1";

/// The project's home, from the workspace manifest: the driver's `informationUri`.
pub(super) const HOME: &str = env!("CARGO_PKG_REPOSITORY");

/// Where each rule is documented: the rule table of docs/ARCHITECTURE.md (`explain CODE`
/// prints the same entry).
fn help_uri() -> String {
    format!("{HOME}/blob/main/docs/ARCHITECTURE.md#where-each-rule-lives")
}

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
                "helpUri": help_uri(),
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
                result.insert("locations".into(), json!([location(path, f)]));
            }
            result.insert(
                "partialFingerprints".into(),
                json!({ FINGERPRINT_KEY: fingerprint(f) }),
            );
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
                    "informationUri": HOME,
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

/// A physical location with a region: the finding's line and column, or line 1 for a
/// finding about the whole file (SARIF requires a region to have a start line; a column alone
/// is not one).
fn location(path: &str, f: &Finding) -> Value {
    let mut region = Map::new();
    region.insert("startLine".into(), json!(f.line.unwrap_or(1)));
    if let (Some(_), Some(col)) = (f.line, f.column) {
        region.insert("startColumn".into(), json!(col));
    }
    json!({ "physicalLocation": {
        "artifactLocation": { "uri": path_to_uri(path), "uriBaseId": "%SRCROOT%" },
        "region": Value::Object(region),
    } })
}

/// sha256 of the rule, the path, the entry and the message with line numbers and timings
/// taken out: the same finding hashes the same after lines move or a run is slower.
pub fn fingerprint(f: &Finding) -> String {
    let mut h = sha2::Sha256::new();
    for part in [
        f.code.as_str(),
        f.path.as_deref().unwrap_or(""),
        f.entry.as_deref().unwrap_or(""),
        &normalise(&f.message),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `line 12`, `lines 3-7`, `:12:5` and `1.5 s` / `340 ms` become placeholders.
fn normalise(message: &str) -> String {
    static LINES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(lines?|col(?:umn)?) \d+(?:[-–]\d+)?|:\d+(?::\d+)?\b").unwrap()
    });
    static TIMES: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b\d+(?:\.\d+)? ?(?:ms|s|min)\b").unwrap());
    let s = LINES.replace_all(message, |c: &regex::Captures<'_>| match c.get(1) {
        Some(word) => format!("{} #", word.as_str()),
        None => ":#".to_string(),
    });
    TIMES.replace_all(&s, "#").into_owned()
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
