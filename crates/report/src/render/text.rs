//! `text`: for terminals, laid out like rustc / cargo-deny diagnostics.
//!
//! ```text
//! error[G001]: emergency_db_fix.py is an unregistered emergency script
//!   --> emergency_db_fix.py:1:1
//!   = help: turn it into a migration, or register it for approval
//! ```

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{one_line, summary_line};
use crate::{Report, Severity};

struct Palette {
    error: Style,
    warning: Style,
    note: Style,
    /// `-->` and `=`, the gutter rustc draws in blue.
    gutter: Style,
    message: Style,
    title: Style,
    ok: Style,
}

impl Palette {
    fn new(color: bool) -> Self {
        if !color {
            let plain = Style::new();
            return Palette {
                error: plain,
                warning: plain,
                note: plain,
                gutter: plain,
                message: plain,
                title: plain,
                ok: plain,
            };
        }
        let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into())).bold();
        Palette {
            error: fg(AnsiColor::BrightRed),
            warning: fg(AnsiColor::BrightYellow),
            note: fg(AnsiColor::BrightGreen),
            gutter: fg(AnsiColor::BrightBlue),
            message: Style::new().bold(),
            title: Style::new().bold(),
            ok: fg(AnsiColor::BrightGreen),
        }
    }

    fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Note => self.note,
        }
    }
}

/// `Style` renders nothing when it is empty, so plain output carries no escape codes at all.
fn paint(style: Style, text: &str) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// `quiet` leaves out the closing summary line (`--quiet`: findings only).
pub(super) fn render(
    report: &Report,
    out: &mut dyn Write,
    color: bool,
    quiet: bool,
) -> io::Result<()> {
    let p = Palette::new(color);

    for f in &report.findings {
        let sev = p.severity(f.severity);
        writeln!(
            out,
            "{}{}",
            paint(sev, &format!("{}[{}]", f.severity.as_str(), f.code)),
            paint(
                p.message,
                &format!(": {}", indent_rest(&clean(&f.message), "  "))
            )
        )?;
        if let Some(loc) = f.location() {
            writeln!(
                out,
                "  {} {}",
                paint(p.gutter, "-->"),
                clean(&one_line(&loc))
            )?;
        }
        if !f.help.is_empty() {
            writeln!(
                out,
                "  {} help: {}",
                paint(p.gutter, "="),
                indent_rest(&clean(&f.help), "          ")
            )?;
        }
        writeln!(out)?;
    }

    for s in &report.sections {
        let title = clean(&one_line(&s.title));
        // The rule under the title marks the section in plain text too, where bold is lost.
        writeln!(out, "{}", paint(p.title, &title))?;
        writeln!(out, "{}", "-".repeat(title.chars().count()))?;
        let body = clean(&s.text);
        let body = body.trim_end_matches('\n');
        if !body.is_empty() {
            writeln!(out, "{body}")?;
        }
        writeln!(out)?;
    }

    if quiet {
        return Ok(());
    }
    let summary = summary_line(report);
    let style = if report.exit_code() == 0 {
        p.ok
    } else {
        p.error
    };
    writeln!(out, "{}", paint(style, &clean(&summary)))
}

/// Indent every line after the first, so a multi-line message stays under its header.
fn indent_rest(s: &str, indent: &str) -> String {
    s.trim_end_matches('\n')
        .replace('\n', &format!("\n{indent}"))
}

/// Replace control characters (other than newline and tab) with U+FFFD: a file name or a
/// database error message must not be able to move the cursor or recolour the terminal.
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}
