use serde::Serialize;

use crate::Code;

/// How bad a finding is. Only `Error` fails a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One problem a gate found: a stable rule code, where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule code (`G001`, `C003`, `R001`, `F002`, `A010`, ...); see [`crate::rules`].
    pub code: Code,
    pub severity: Severity,
    /// Repository-relative path with `/` separators, when the finding has a place.
    pub path: Option<String>,
    /// The `[[emergency.script]]` entry the finding is about (its `path` as registered), when
    /// it is about one. Data, so reports can group findings by entry without reading messages.
    pub entry: Option<String>,
    /// 1-based line, when there is one.
    pub line: Option<u32>,
    /// 1-based column, when there is one.
    pub column: Option<u32>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The next step that fixes it, in one line: the catalogue's unless the check set one
    /// specific to the case.
    pub help: String,
}

impl Finding {
    /// A finding with the rule's default severity and help (see [`crate::rules::RULES`]).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.severity(),
            path: None,
            entry: None,
            line: None,
            column: None,
            message: message.into(),
            help: code.help().to_string(),
        }
    }

    /// The registry entry (its `path` in `[[emergency.script]]`) the finding is about.
    pub fn entry(mut self, entry: impl Into<String>) -> Self {
        self.entry = Some(entry.into());
        self
    }

    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }

    pub fn column(mut self, column: u32) -> Self {
        self.column = Some(column);
        self
    }

    /// Replaces the catalogue's help with one specific to the case (a command with the file
    /// name, the value to set).
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// What the finding is about, without a line: its registry entry, else its path. The
    /// subject of the JUnit test case it fails ([`crate::CheckRun::subject`]).
    pub fn subject(&self) -> Option<&str> {
        self.entry.as_deref().or(self.path.as_deref())
    }

    /// `path:line:col` as far as known, for text output and annotations.
    pub fn location(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        Some(match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}"),
            (Some(l), None) => format!("{path}:{l}"),
            _ => path.to_string(),
        })
    }
}
