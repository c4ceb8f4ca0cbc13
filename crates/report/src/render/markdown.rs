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

/// Gates write commands and names as code spans (`gate-approve register ...`, with a longer
/// fence when the text holds backticks: [`code`]). Spans are found by CommonMark's rule (a
/// run of N backticks closes at the next run of exactly N) and become `<code>` with escaped
/// content, so they read as code on GitHub while the text inside still cannot break the
/// table; a backtick run without its match is escaped literally.
fn with_code(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            plain.push(chars[i]);
            i += 1;
            continue;
        }
        let run = backtick_run(&chars, i);
        match closing_run(&chars, i + run, run) {
            Some(close) => {
                out.push_str(&escape_inline(&plain));
                plain.clear();
                let content: String = chars[i + run..close].iter().collect();
                let content = escape(strip_pad(&content), Context::Code);
                out.push_str(&format!("<code>{content}</code>"));
                i = close + run;
            }
            None => {
                plain.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out.push_str(&escape_inline(&plain));
    out
}

/// Length of the backtick run starting at `at`.
fn backtick_run(chars: &[char], at: usize) -> usize {
    chars[at..].iter().take_while(|&&c| c == '`').count()
}

/// Start of the next run of exactly `len` backticks at or after `from`.
fn closing_run(chars: &[char], from: usize, len: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let run = backtick_run(chars, j);
            if run == len {
                return Some(j);
            }
            j += run;
        } else {
            j += 1;
        }
    }
    None
}

/// CommonMark strips one space on each side of a span's content that has both (and is not
/// all spaces): what lets a span start or end with a backtick.
fn strip_pad(content: &str) -> &str {
    if content.len() >= 2
        && content.starts_with(' ')
        && content.ends_with(' ')
        && !content.trim().is_empty()
    {
        &content[1..content.len() - 1]
    } else {
        content
    }
}

/// `s` as a CommonMark code span for finding text (help commands with file names): the
/// fence is one backtick longer than the longest run inside, padded with a space when `s`
/// starts or ends with a backtick, so a name like ``a`b.py`` cannot end the span early.
/// Terminals show it as written; Markdown shows it as code.
pub fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Escape one line of text so GitHub renders it literally: no emphasis, code, link, HTML
/// or table cell break, no GFM autolink (`www.`, `https://`, `user@host`), no `@mention`
/// and no `#12` issue link (a zero-width space follows the `@` or `#`, as bots like Renovate
/// do).
pub fn escape_inline(s: &str) -> String {
    escape(s, Context::Text)
}

/// Where escaped text goes. GitHub links no mention or issue number inside `<code>`, so a
/// command there keeps its `@` and `#` as typed (copy-paste must work; an `@` gets an
/// invisible `<wbr>` against the email autolink); Markdown inside the tag is still parsed, so
/// the rest is escaped the same.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Text,
    Code,
}

fn escape(s: &str, context: Context) -> String {
    let text = context == Context::Text;
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' if text => out.push_str("@&#8203;"),
            // The email autolink still applies inside `<code>` (GitHub parses the tag's
            // content): an invisible `<wbr>` breaks `user@host` there and copies as nothing.
            '@' => out.push_str("@<wbr>"),
            // `#12` links an issue on GitHub.
            '#' if text && chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                out.push_str("#&#8203;")
            }
            // `|` ends a table cell even inside a code span; the rest would start emphasis,
            // code, links or strikethrough.
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // The autolink extension needs a literal `www.` or `://`.
            '.' if i >= 3 && chars[i - 3..i].iter().all(|w| w.eq_ignore_ascii_case(&'w')) => {
                out.push_str("\\.")
            }
            ':' if chars.get(i + 1..i + 3) == Some(&['/', '/'][..]) => out.push_str("\\:"),
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
