//! One renderer per format, each in its own module, all behind [`render`] / [`render_with`].

use std::fmt;
use std::io::{self, Write};

use crate::Report;

mod error;
mod github;
mod json;
mod junit;
mod markdown;
mod sarif;
mod text;

pub use error::{COULD_NOT_CHECK, CheckError, Problem, render_error};
pub use github::ANNOTATIONS_PER_LEVEL;
pub use json::JSON_VERSION;
pub use markdown::code as markdown_code;
/// Markdown escaping for gates that write their own sections (tables, lists).
pub use markdown::escape_cell as markdown_escape_cell;
pub use markdown::escape_inline as markdown_escape;
pub use sarif::{FINGERPRINT_KEY, SARIF_SCHEMA, SARIF_VERSION, fingerprint};

/// `--format` values shared by every binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Github,
    Sarif,
    Junit,
}

impl Format {
    /// Every format, in the order the CLI documents them.
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Github,
        Format::Sarif,
        Format::Junit,
    ];

    /// The `--format` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Github => "github",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "text" => Format::Text,
            "json" => Format::Json,
            "markdown" => Format::Markdown,
            "github" => Format::Github,
            "sarif" => Format::Sarif,
            "junit" => Format::Junit,
            other => {
                return Err(format!(
                    "unknown format `{other}`; expected text, json, markdown, github, sarif or junit"
                ));
            }
        })
    }
}

/// How to render, beyond the format. Only `text` looks at these today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderOptions {
    /// Emit ANSI colours in `text`. Off by default: files, pipes and tests get plain text.
    pub color: bool,
    /// Leave out the closing summary line in `text` (`--quiet`: findings only).
    pub quiet: bool,
}

impl RenderOptions {
    /// No colour: what [`render`] uses.
    pub fn plain() -> Self {
        RenderOptions::default()
    }

    /// Colour exactly when stdout is a terminal that supports it and the user did not opt out
    /// (`NO_COLOR`, `CLICOLOR=0`, `TERM=dumb`); `CLICOLOR_FORCE` forces it on. The binaries
    /// use this for stdout.
    pub fn for_stdout() -> Self {
        let choice = anstream::AutoStream::choice(&io::stdout());
        RenderOptions {
            color: choice != anstream::ColorChoice::Never,
            quiet: false,
        }
    }

    pub fn color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
}

/// Render `report` in `format` to `out`, without colour.
pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    render_with(report, format, out, &RenderOptions::plain())
}

/// Render `report` in `format` to `out` with explicit options (colour for `text`).
pub fn render_with(
    report: &Report,
    format: Format,
    out: &mut dyn Write,
    options: &RenderOptions,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, out, options.color, options.quiet),
        Format::Json => json::render(report, out),
        Format::Markdown => markdown::render(report, out),
        Format::Github => github::render(report, out),
        Format::Sarif => sarif::render(report, out),
        Format::Junit => junit::render(report, out),
    }
}

/// `gate-precommit: 2 errors, 1 warning (staged changes)` or `gate-precommit: ok (staged changes)`:
/// the closing line of `text` and `github`, and the Markdown heading.
pub fn summary_line(report: &Report) -> String {
    format!(
        "{}: {} ({})",
        report.tool,
        summary_counts(report),
        one_line(&report.subject)
    )
}

/// `ok`, `ok, 1 warning`, `2 errors, 1 warning, 3 notes`. Zero counts are left out; "ok" is
/// said whenever there is no error, because only errors fail a gate.
pub(crate) fn summary_counts(report: &Report) -> String {
    let (errors, warnings, notes) = report.counts();
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(plural(errors, "error"));
    } else {
        parts.push("ok".to_string());
    }
    if warnings > 0 {
        parts.push(plural(warnings, "warning"));
    }
    if notes > 0 {
        parts.push(plural(notes, "note"));
    }
    parts.join(", ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Collapse line breaks so a value fits on one line (summary lines, titles).
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
