//! One renderer per format. (Skeleton: the report issue fills these in.)

use std::io::{self, Write};

use crate::Report;

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

/// Render `report` in `format` to `out`.
pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        _ => {
            for f in &report.findings {
                let loc = f.location().unwrap_or_default();
                writeln!(
                    out,
                    "{}[{}] {}: {}",
                    f.severity.as_str(),
                    f.code,
                    loc,
                    f.message
                )?;
                if !f.help.is_empty() {
                    writeln!(out, "  help: {}", f.help)?;
                }
            }
            Ok(())
        }
    }
}
