//! `markdown`: what reviewers read in a pull request and in `$GITHUB_STEP_SUMMARY`.
//!
//! Finding text comes from file names, database errors and policy values, so every cell is
//! escaped: it must neither break the table nor inject HTML. Section Markdown is written by
//! the gates themselves and is inserted as is.

use std::io::{self, Write};

use super::{one_line, summary_counts};
use crate::{Report, Severity};

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let (errors, warnings, notes) = report.counts();
    let status = if errors > 0 { "❌" } else { "✅" };
    writeln!(
        out,
        "## {status} {}: {}",
        escape_inline(report.tool),
        summary_counts(report)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "**Checked:** {} · **Errors:** {errors} · **Warnings:** {warnings} · **Notes:** {notes}",
        escape_inline(&one_line(&report.subject))
    )?;
    writeln!(out)?;

    if report.findings.is_empty() {
        writeln!(out, "No findings.")?;
        writeln!(out)?;
    } else {
        writeln!(out, "| Severity | Rule | Location | Message | Fix |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for f in &report.findings {
            let severity = match f.severity {
                Severity::Error => "🔴 error",
                Severity::Warning => "🟡 warning",
                Severity::Note => "🔵 note",
            };
            let rule = format!(
                "{} {}",
                code_span(f.code.as_str()),
                escape_inline(f.code.name())
            );
            let location = f.location().map(|l| code_span(&l)).unwrap_or_default();
            writeln!(
                out,
                "| {severity} | {rule} | {location} | {} | {} |",
                escape_cell(&f.message),
                escape_cell(&f.help)
            )?;
        }
        writeln!(out)?;
    }

    for s in &report.sections {
        writeln!(out, "### {}", escape_inline(&one_line(&s.title)))?;
        writeln!(out)?;
        let body = s.markdown.trim_end_matches('\n');
        if !body.is_empty() {
            writeln!(out, "{body}")?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Escape text for a GitHub table cell: Markdown punctuation is backslash-escaped, `<`, `>`
/// and `&` become entities (so `<script>` shows as text), line breaks become `<br>`.
pub fn escape_cell(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let s = s.trim_matches('\n');
    s.split('\n')
        .map(with_code)
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Gates write commands and names in backticks (`gate-approve register ...`). Balanced single
/// backticks become `<code>` with escaped content, so they read as code on GitHub while the
/// text inside still cannot break the table; anything else is escaped literally.
fn with_code(line: &str) -> String {
    let ticks = line.matches('`').count();
    if ticks == 0 || ticks % 2 == 1 || line.contains("``") {
        return escape_inline(line);
    }
    line.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape_inline(part))
            } else {
                escape_inline(part)
            }
        })
        .collect()
}

/// Escape one line of text so GitHub renders it literally.
pub fn escape_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // `|` ends a table cell even inside a code span; the rest would start emphasis,
            // code, links or strikethrough.
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A code span that survives any content: the fence is one backtick longer than the longest
/// backtick run inside, `|` is escaped (GFM splits cells before parsing spans) and line
/// breaks become spaces.
pub(crate) fn code_span(s: &str) -> String {
    // GFM splits cells before spans are parsed and treats `\\|` as an escaped backslash plus
    // a cell boundary, while backslashes inside a span cannot be escaped: plain text instead.
    if s.contains('\\') {
        return escape_inline(s);
    }
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = s.replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick needs a space so the fence stays separate.
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}
