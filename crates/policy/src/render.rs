//! Compiler-style rendering of policy problems (codespan-reporting, no colour: the binaries
//! decide about colour when they print).

use std::path::Path;

use codespan_reporting::diagnostic::{Diagnostic as Rich, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};

use crate::validate::{Lines, Problem};
use crate::{Diagnostic, PolicyError};

pub(crate) fn invalid(text: &str, file: &Path, problems: Vec<Problem>) -> PolicyError {
    let name = file.display().to_string();
    let source = SimpleFile::new(name.as_str(), text);
    let config = Config::default();
    let mut rendered = String::new();
    let lines = Lines::new(text);
    let mut diagnostics = Vec::with_capacity(problems.len());
    for p in &problems {
        let (line, column) = match &p.span {
            Some(s) => {
                let (l, c) = lines.line_col(s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let mut message = p.message.clone();
        for n in &p.notes {
            message.push_str("; ");
            message.push_str(n);
        }
        diagnostics.push(Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            message,
        });

        let mut rich = Rich::error().with_message(&p.message);
        let mut labels = Vec::new();
        if let Some(span) = &p.span {
            labels.push(Label::primary((), span.clone()).with_message(&p.label));
        }
        if let Some((span, msg)) = &p.secondary {
            labels.push(Label::secondary((), span.clone()).with_message(msg));
        }
        let mut notes = p.notes.clone();
        if p.span.is_none() {
            // Without a label codespan would not name the file at all.
            notes.insert(0, format!("in {name}"));
        }
        rich = rich.with_labels(labels).with_notes(notes);
        match term::emit_into_string(&config, &source, &rich) {
            Ok(s) => rendered.push_str(&s),
            // Only fails on a span outside the text, which would be our bug; keep the message.
            Err(_) => rendered.push_str(&format!(
                "error: {}\n\n",
                diagnostics
                    .last()
                    .map_or(String::new(), ToString::to_string)
            )),
        }
    }
    let n = diagnostics.len();
    rendered.push_str(&format!(
        "error: {name} has {n} problem{}; the policy was not loaded",
        if n == 1 { "" } else { "s" }
    ));
    PolicyError::Invalid {
        diagnostics,
        rendered,
    }
}
