//! A run that could not check (exit code 2) rendered in every machine format, so CI shows an
//! annotation and a SARIF upload has a file. `text` is not rendered here: the binary prints
//! the error on stderr, as a terminal user expects.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::github::{ANNOTATIONS_PER_LEVEL, escape_data, escape_property};
use super::junit::{Suite, attr, text};
use super::markdown::escape_inline;
use super::sarif::{SARIF_SCHEMA, SARIF_VERSION, path_to_uri};
use super::{Format, JSON_VERSION};

/// The `code` a could-not-check problem carries in `json` findings and SARIF notifications.
/// Not a rule: no catalogue entry, never a finding of a check that ran.
pub const COULD_NOT_CHECK: &str = "could-not-check";

/// Why a gate could not check: the whole message, and one located problem per place when
/// the cause names places (a policy file with several errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// The binary, e.g. `gate-precommit`.
    pub tool: &'static str,
    /// The full error text (redacted by the caller), as printed on stderr.
    pub message: String,
    /// At least one entry; a cause without a place is one problem without a path.
    pub problems: Vec<Problem>,
}

/// One reason a gate could not check, with its place when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// Repository-relative (or as the user named it) path with `/` separators.
    pub path: Option<String>,
    /// 1-based.
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl Problem {
    fn location(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        Some(match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}"),
            (Some(l), None) => format!("{path}:{l}"),
            _ => path.to_string(),
        })
    }
}

/// Render `err` in `format`. `text` writes nothing (the error belongs on stderr).
pub fn render_error(err: &CheckError, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => Ok(()),
        Format::Json => json_doc(err, out),
        Format::Sarif => sarif_doc(err, out),
        Format::Junit => junit_doc(err, out),
        Format::Github => github_lines(err, out),
        Format::Markdown => markdown_block(err, out),
    }
}

/// The report shape (version, summary, findings) so consumers of `json` read it like any
/// report, plus `error` and `exit_code: 2`; each problem is an error finding with code
/// [`COULD_NOT_CHECK`].
fn json_doc(err: &CheckError, out: &mut dyn Write) -> io::Result<()> {
    let problems: Vec<Value> = err
        .problems
        .iter()
        .map(|p| {
            json!({
                "code": COULD_NOT_CHECK,
                "name": Value::Null,
                "severity": "error",
                "path": p.path,
                "line": p.line,
                "column": p.column,
                "message": p.message,
                "help": "",
            })
        })
        .collect();
    let doc = json!({
        "version": JSON_VERSION,
        "tool": err.tool,
        "subject": "could not check",
        "summary": { "errors": problems.len(), "warnings": 0, "notes": 0, "passed": false },
        "findings": problems,
        "sections": [],
        "error": { "message": err.message },
        "exit_code": 2,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// A run without results whose invocation failed, one notification per problem.
fn sarif_doc(err: &CheckError, out: &mut dyn Write) -> io::Result<()> {
    let notifications: Vec<Value> = err
        .problems
        .iter()
        .map(|p| {
            let mut n = Map::new();
            n.insert("level".into(), json!("error"));
            n.insert("message".into(), json!({ "text": p.message }));
            n.insert("descriptor".into(), json!({ "id": COULD_NOT_CHECK }));
            if let Some(path) = &p.path {
                let mut physical = Map::new();
                physical.insert(
                    "artifactLocation".into(),
                    json!({ "uri": path_to_uri(path) }),
                );
                if let Some(line) = p.line {
                    let mut region = Map::new();
                    region.insert("startLine".into(), json!(line));
                    if let Some(col) = p.column {
                        region.insert("startColumn".into(), json!(col));
                    }
                    physical.insert("region".into(), Value::Object(region));
                }
                n.insert(
                    "locations".into(),
                    json!([{ "physicalLocation": Value::Object(physical) }]),
                );
            }
            Value::Object(n)
        })
        .collect();
    let doc = json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": { "driver": {
                "name": err.tool,
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "version": env!("CARGO_PKG_VERSION"),
            } },
            "invocations": [{
                "executionSuccessful": false,
                "exitCode": 2,
                "toolExecutionNotifications": notifications,
            }],
            "results": [],
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// One test case in error (not failure: the check did not run), with every problem and its
/// `path:line:col` in the error text and the suite log. The suite has the shape of a report's
/// (see `junit`), so the same schemas accept it.
fn junit_doc(err: &CheckError, out: &mut dyn Write) -> io::Result<()> {
    let first = err
        .problems
        .first()
        .map_or(err.message.as_str(), |p| &p.message);
    let body: Vec<String> = err
        .problems
        .iter()
        .map(|p| match p.location() {
            Some(loc) => format!("{loc}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    let suite = Suite {
        tool: err.tool,
        subject: "could not check",
        tests: 1,
        failures: 0,
        errors: 1,
        time: Duration::ZERO,
        started: SystemTime::now(),
    };
    suite.open(out)?;
    writeln!(
        out,
        r#"    <testcase name="could not check" classname="{}" time="0.000">"#,
        attr(err.tool)
    )?;
    writeln!(
        out,
        r#"      <error message="{}" type="{COULD_NOT_CHECK}">{}</error>"#,
        attr(first),
        text(&body.join("\n"))
    )?;
    writeln!(out, "    </testcase>")?;
    suite.close(out, &err.message)
}

/// `::error file=...,line=...,col=...,title=...::message`, one per problem, at most GitHub's
/// limit per step; a notice counts the rest.
fn github_lines(err: &CheckError, out: &mut dyn Write) -> io::Result<()> {
    let left_out = err.problems.len().saturating_sub(ANNOTATIONS_PER_LEVEL);
    for p in err.problems.iter().take(ANNOTATIONS_PER_LEVEL) {
        let mut props = Vec::new();
        if let Some(path) = &p.path {
            props.push(format!("file={}", escape_property(path)));
            if let Some(line) = p.line {
                props.push(format!("line={line}"));
                if let Some(col) = p.column {
                    props.push(format!("col={col}"));
                }
            }
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("{} could not check", err.tool))
        ));
        writeln!(
            out,
            "::error {}::{}",
            props.join(","),
            escape_data(&p.message)
        )?;
    }
    if left_out > 0 {
        writeln!(
            out,
            "::notice title={}::{}",
            escape_property(&format!(
                "{}: {left_out} more problems not annotated",
                err.tool
            )),
            escape_data(&format!(
                "GitHub shows {ANNOTATIONS_PER_LEVEL} error annotations per step; every problem is on stderr and in --format json or sarif."
            ))
        )?;
    }
    writeln!(out, "{}: could not check (exit 2)", err.tool)
}

/// A heading and one list item per problem, escaped so no message can inject Markdown.
fn markdown_block(err: &CheckError, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### {}: could not check\n", escape_inline(err.tool))?;
    for p in &err.problems {
        match p.location() {
            Some(loc) => writeln!(
                out,
                "- **{}**: {}",
                escape_inline(&loc),
                escape_inline(&p.message)
            )?,
            None => writeln!(out, "- {}", escape_inline(&p.message))?,
        }
    }
    writeln!(
        out,
        "\nThe gate exited with code 2: no check ran, so nothing passed."
    )
}
