//! One `Finding` type for every gate, and one renderer per output format.
//!
//! Checks never print: they return findings; the binary puts them in a [`Report`] and renders
//! it with [`render`] (or [`render_with`] and [`RenderOptions::for_stdout`] for colour on a
//! terminal). Data flows one way: policy + repository -> findings -> report -> exit code.
//!
//! The formats, the JSON schema and the rule table are documented in this crate's README.

mod code;
mod finding;
pub mod redact;
pub mod render;
pub mod rules;

pub use code::{Code, UnknownCode};
pub use finding::{Finding, Severity};
pub use render::fingerprint;
pub use render::{
    CheckError, Format, Problem, RenderOptions, render, render_error, render_with, summary_line,
};
pub use rules::{explain, rules_markdown_table};

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// Everything one run of one gate has to say.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The binary that produced it, e.g. `gate-precommit`.
    pub tool: &'static str,
    /// What was checked, in one line ("staged changes", "working tree", "13 migrations").
    pub subject: String,
    pub findings: Vec<Finding>,
    /// Which checks ran on which subjects, passing or not: JUnit shows one test case per
    /// entry (plus one per check and subject a finding names that is not listed here, so a
    /// gate that fills nothing still gets its failures). Sorted and deduplicated by
    /// [`Report::sort`].
    pub checks: Vec<CheckRun>,
    /// When the run started (`Report::new` sets it to now): JUnit's `timestamp`.
    pub started: Option<SystemTime>,
    /// How long the whole run took, when the gate measured it: JUnit's suite `time`.
    pub duration: Option<Duration>,
    /// Extra sections a gate adds (timings, the approval table, a Mermaid graph). Rendered in
    /// `text` and `markdown`, carried under `sections` in `json`.
    pub sections: Vec<Section>,
}

/// One check (a rule code) run on one subject: a file, a registry entry, a fix, a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRun {
    pub code: Code,
    /// What was checked, as findings of this check name it (their `entry`, else `path`);
    /// never a line number, so the test case is the same from run to run.
    pub subject: String,
    /// How long the check took, when the gate measured it.
    pub time: Option<Duration>,
}

impl CheckRun {
    pub fn new(code: Code, subject: impl Into<String>) -> Self {
        CheckRun {
            code,
            subject: subject.into(),
            time: None,
        }
    }

    pub fn time(mut self, time: Duration) -> Self {
        self.time = Some(time);
        self
    }
}

/// A titled block of extra output.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: String,
    /// Plain text for terminals.
    pub text: String,
    /// GitHub-flavoured Markdown for pull requests and `$GITHUB_STEP_SUMMARY`.
    pub markdown: String,
    /// Machine-readable form for `--format json`.
    pub data: serde_json::Value,
}

impl Report {
    pub fn new(tool: &'static str, subject: impl Into<String>) -> Self {
        Report {
            tool,
            subject: subject.into(),
            findings: Vec::new(),
            checks: Vec::new(),
            started: Some(SystemTime::now()),
            duration: None,
            sections: Vec::new(),
        }
    }

    /// Record that check `code` ran on `subject`.
    pub fn checked(&mut self, code: Code, subject: impl Into<String>) {
        self.checks.push(CheckRun::new(code, subject));
    }

    /// Counts of (errors, warnings, notes).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for f in &self.findings {
            match f.severity {
                Severity::Error => c.0 += 1,
                Severity::Warning => c.1 += 1,
                Severity::Note => c.2 += 1,
            }
        }
        c
    }

    /// `1` when at least one finding is an error, else `0`. (`2` is for runs that could not
    /// check at all; those never produce a report.)
    pub fn exit_code(&self) -> u8 {
        u8::from(self.findings.iter().any(|f| f.severity == Severity::Error))
    }

    /// A copy with every registered secret and URL password masked ([`redact`]): what the
    /// binaries render, so no format can leak one.
    pub fn redacted(&self) -> Report {
        let mut r = self.clone();
        r.subject = redact::redact(&r.subject);
        for f in &mut r.findings {
            f.message = redact::redact(&f.message);
            f.help = redact::redact(&f.help);
            f.path = f.path.as_deref().map(redact::redact);
            f.entry = f.entry.as_deref().map(redact::redact);
        }
        for c in &mut r.checks {
            c.subject = redact::redact(&c.subject);
        }
        for s in &mut r.sections {
            s.title = redact::redact(&s.title);
            s.text = redact::redact(&s.text);
            s.markdown = redact::redact(&s.markdown);
            redact::redact_json(&mut s.data);
        }
        r
    }

    /// Sort findings by path, line, code, and checks by code and subject (duplicates
    /// dropped), so every format is stable across runs.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            (a.path.as_deref(), a.line, a.code).cmp(&(b.path.as_deref(), b.line, b.code))
        });
        self.checks
            .sort_by(|a, b| (a.code, &a.subject).cmp(&(b.code, &b.subject)));
        self.checks
            .dedup_by(|b, a| a.code == b.code && a.subject == b.subject);
    }
}
