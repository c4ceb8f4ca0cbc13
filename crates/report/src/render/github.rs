//! `github`: GitHub Actions workflow commands, one annotation per finding.
//!
//! `::error file=PATH,line=L,col=C,title=G001 unregistered-emergency-script::message%0Ahelp: ...`
//! Escaping follows `@actions/core` (`toolkit/packages/core/src/command.ts`). The Markdown
//! summary for `$GITHUB_STEP_SUMMARY` is the `markdown` format; the CLI appends it.
//!
//! GitHub shows at most 10 error, 10 warning and 10 notice annotations per step (and 50 per
//! job); past that it drops them silently. So at most [`ANNOTATIONS_PER_LEVEL`] of each are
//! written, and one notice says how many more there are and where to read them.

use std::io::{self, Write};

use super::{plural, summary_line};
use crate::{Finding, Report, Severity};

/// Annotations of one level GitHub shows per step.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let counts = report.counts();
    let counts = [counts.0, counts.1, counts.2];
    // When anything is left out, one notice is kept for the line that says so.
    let limits = if counts.iter().any(|&n| n > ANNOTATIONS_PER_LEVEL) {
        [
            ANNOTATIONS_PER_LEVEL,
            ANNOTATIONS_PER_LEVEL,
            ANNOTATIONS_PER_LEVEL - 1,
        ]
    } else {
        [ANNOTATIONS_PER_LEVEL; 3]
    };
    let dropped = [0, 1, 2].map(|i| counts[i].saturating_sub(limits[i]));
    let mut written = [0; 3];
    for f in &report.findings {
        let level = f.severity as usize;
        if written[level] < limits[level] {
            written[level] += 1;
            annotate(f, out)?;
        }
    }
    if let Some(line) = dropped_notice(report.tool, dropped) {
        writeln!(out, "{line}")?;
    }
    // A plain line so the log shows the verdict. It is one line and starts with the tool
    // name, so nothing in the subject can turn it into a workflow command.
    writeln!(out, "{}", summary_line(report))
}

/// `::notice title=...::12 more findings ...` when any finding was not annotated.
fn dropped_notice(tool: &str, [errors, warnings, notes]: [usize; 3]) -> Option<String> {
    let total = errors + warnings + notes;
    if total == 0 {
        return None;
    }
    let counts: Vec<String> = [(errors, "error"), (warnings, "warning"), (notes, "note")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, word)| plural(*n, word))
        .collect();
    let title = format!("{tool}: {} not annotated", plural(total, "more finding"));
    let message = format!(
        "{} ({}): GitHub shows {ANNOTATIONS_PER_LEVEL} annotations of each level per step. Every finding is in the job summary and in --format text, json or sarif.",
        plural(total, "more finding"),
        counts.join(", ")
    );
    Some(format!(
        "::notice title={}::{}",
        escape_property(&title),
        escape_data(&message)
    ))
}

/// One workflow command for one finding.
fn annotate(f: &Finding, out: &mut dyn Write) -> io::Result<()> {
    let command = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    };
    let mut props = Vec::new();
    if let Some(path) = &f.path {
        props.push(format!("file={}", escape_property(path)));
        if let Some(line) = f.line {
            props.push(format!("line={line}"));
            // A column without a line means nothing to the annotation UI.
            if let Some(col) = f.column {
                props.push(format!("col={col}"));
            }
        }
    }
    let title = format!("{} {}", f.code, f.code.name());
    props.push(format!("title={}", escape_property(&title)));

    let mut message = f.message.clone();
    if !f.help.is_empty() {
        message.push_str("\nhelp: ");
        message.push_str(&f.help);
    }
    writeln!(
        out,
        "::{command} {}::{}",
        props.join(","),
        escape_data(&message)
    )
}

/// Escape a command's message (`escapeData` in `@actions/core`). Other control characters
/// become U+FFFD so a message cannot recolour or rewrite the job log.
pub(crate) fn escape_data(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect::<String>()
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value (`escapeProperty` in `@actions/core`): also `:` and `,`, which
/// would otherwise end the value.
pub(crate) fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
