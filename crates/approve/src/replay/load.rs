//! Reading one `gate-replay --format json` document: the stable JSON shape of gate-report
//! (version 1), validated before anything is joined, so a wrong file is an error naming it.

use std::path::{Path, PathBuf};

use gate_report::{Code, Finding, Severity};
use serde::Deserialize;
use serde_json::Value;

/// A `--replay FILE` that cannot be joined: exit 2, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ReplayFileError {
    #[error("--replay {}: cannot read it: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--replay {}:{line}:{column}: not valid JSON: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("--replay {}: {what}; pass the output of `gate-replay --format json` (or `--output json=FILE`)", path.display())]
    Shape { path: PathBuf, what: String },
    #[error("--replay {}: that gate-replay run could not check (exit 2): {error}; the replay has to run to completion before its findings can be joined", path.display())]
    CouldNotCheck { path: PathBuf, error: String },
    #[error("--replay: {fix} is verified in both {} and {}; each fix belongs to one shard: pass each shard's JSON once", first.display(), second.display())]
    FixInTwo {
        fix: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("--replay: {} and {} cannot be joined as shards: {what}; pass each shard of one `gate-replay --shard K/N` matrix once", first.display(), second.display())]
    NotOneRun {
        first: PathBuf,
        second: PathBuf,
        what: String,
    },
}

/// The parts of a gate-report JSON document the join reads.
#[derive(Debug, Deserialize)]
struct Doc {
    version: u32,
    tool: String,
    #[serde(default)]
    findings: Vec<DocFinding>,
    #[serde(default)]
    sections: Vec<DocSection>,
    #[serde(default)]
    error: Option<DocError>,
}

#[derive(Debug, Deserialize)]
struct DocError {
    message: String,
}

#[derive(Debug, Deserialize)]
struct DocFinding {
    code: String,
    severity: String,
    path: Option<String>,
    entry: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
    message: String,
    #[serde(default)]
    help: String,
}

#[derive(Debug, Deserialize)]
struct DocSection {
    title: String,
    data: Value,
}

/// One replay report, validated.
#[derive(Debug, Clone)]
pub struct ReplayFile {
    /// As the user named it (the report cites it so).
    pub path: PathBuf,
    pub findings: Vec<Finding>,
    /// Section data by title (`Shard`, `Emergency fixes`, `Production path`, `Replay timings`).
    pub sections: Vec<(String, Value)>,
}

impl ReplayFile {
    pub fn section(&self, title: &str) -> Option<&Value> {
        self.sections
            .iter()
            .find(|(t, _)| t == title)
            .map(|(_, v)| v)
    }

    /// Read and validate `path`.
    pub fn read(path: &Path) -> Result<ReplayFile, ReplayFileError> {
        let bytes = std::fs::read(path).map_err(|source| ReplayFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let shape = |what: String| ReplayFileError::Shape {
            path: path.to_path_buf(),
            what,
        };
        let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                ReplayFileError::Syntax {
                    path: path.to_path_buf(),
                    line: e.line(),
                    column: e.column(),
                    message: e.to_string(),
                }
            } else {
                shape(format!("not a gate report: {e}"))
            }
        })?;
        if doc.tool != "gate-replay" {
            return Err(shape(format!(
                "it is the report of `{}`, not of gate-replay",
                doc.tool
            )));
        }
        if doc.version != gate_report::render::JSON_VERSION {
            return Err(shape(format!(
                "JSON version {} (this gate-approve reads version {})",
                doc.version,
                gate_report::render::JSON_VERSION
            )));
        }
        if let Some(error) = doc.error {
            return Err(ReplayFileError::CouldNotCheck {
                path: path.to_path_buf(),
                error: error.message,
            });
        }
        let findings = doc
            .findings
            .into_iter()
            .map(|f| finding(f).map_err(&shape))
            .collect::<Result<_, _>>()?;
        Ok(ReplayFile {
            path: path.to_path_buf(),
            findings,
            sections: doc
                .sections
                .into_iter()
                .map(|s| (s.title, s.data))
                .collect(),
        })
    }
}

fn finding(f: DocFinding) -> Result<Finding, String> {
    let code: Code = f
        .code
        .parse()
        .map_err(|e| format!("finding {:?}: {e}", f.message))?;
    let severity = match f.severity.as_str() {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        "note" => Severity::Note,
        other => return Err(format!("finding {code}: unknown severity `{other}`")),
    };
    let mut out = Finding::new(code, f.message).severity(severity);
    if !f.help.is_empty() {
        out = out.help(f.help);
    }
    out.path = f.path;
    out.entry = f.entry;
    out.line = f.line;
    out.column = f.column;
    Ok(out)
}
