//! `github`: GitHub Actions workflow commands, one annotation per finding.
//!
//! `::error file=PATH,line=L,col=C,title=G001 unregistered-emergency-script::message%0Ahelp: ...`
//! Escaping follows `@actions/core` (`toolkit/packages/core/src/command.ts`). The Markdown
//! summary for `$GITHUB_STEP_SUMMARY` is the `markdown` format; the CLI appends it.

use std::io::{self, Write};

use super::summary_line;
use crate::{Report, Severity};

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for f in &report.findings {
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
        )?;
    }
    // A plain line so the log shows the verdict. It is one line and starts with the tool
    // name, so nothing in the subject can turn it into a workflow command.
    writeln!(out, "{}", summary_line(report))
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
