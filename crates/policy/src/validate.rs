//! Second phase of loading: walk the span-keeping TOML tree, check every key and value, and
//! collect every problem before failing (cargo-deny style), so the user fixes them in one go.
//!
//! This file holds what every section shares (the problem type, line lookup, unknown-key
//! suggestions, the checker); each `[section]` is checked in its own submodule, with its key
//! list beside it.

mod emergency;
mod governance;
mod migrations;
mod replay;
mod scripts;
mod values;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::model::Policy;

/// A problem with its byte span in the policy text; turned into a [`crate::Diagnostic`] and a
/// rendered excerpt by the caller.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub span: Option<Range<usize>>,
    pub message: String,
    /// Short text under the caret.
    pub label: String,
    pub notes: Vec<String>,
    /// Another place worth showing ("first registered here").
    pub secondary: Option<(Range<usize>, String)>,
}

impl Problem {
    fn at(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            span: Some(span),
            message: message.into(),
            label: label.into(),
            notes: Vec::new(),
            secondary: None,
        }
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

const TOP_KEYS: &[&str] = &["version", "migrations", "emergency", "governance", "replay"];

type Entry<'t, 'i> = (&'t Spanned<DeString<'i>>, &'t Spanned<DeValue<'i>>);

/// Byte offset -> 1-based line, by binary search over line starts: every key of every
/// registry entry records its line, so a scan from the start per key would be quadratic.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    /// 1-based (line, column in characters).
    pub(crate) fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let idx = self.starts.partition_point(|&s| s <= offset) - 1;
        let col = self.text[self.starts[idx]..offset].chars().count() + 1;
        (idx as u32 + 1, col as u32)
    }
}

/// Byte offset -> 1-based (line, column in characters), for a one-off lookup.
#[cfg(test)]
pub(crate) fn line_col(text: &str, offset: usize) -> (u32, u32) {
    Lines::new(text).line_col(offset)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(d) if d.time.is_none() => "a date",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(a) if !a.is_empty() && a.iter().all(|e| e.get_ref().is_table()) => {
            "an array of tables"
        }
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Levenshtein distance; the key lists are short, so the quadratic cost does not matter.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid name closest to `got`, if it is close enough to be a plausible typo.
/// snake_case is compared as kebab-case since that is the commonest slip.
fn closest<'a>(got: &str, valid: &[&'a str]) -> Option<&'a str> {
    let got = got.replace('_', "-").to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (distance(&got, v), *v))
        .filter(|(d, v)| *d <= (v.len() / 3).max(1) || v.starts_with(&got) && got.len() >= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn find<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<Entry<'t, 'i>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key)
}

fn quote_list(valid: &[&str]) -> String {
    valid
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Checker<'a> {
    lines: Lines<'a>,
    repo_root: &'a Path,
    /// Canonical repository root, resolved once; None when it does not exist (then only the
    /// lexical check applies).
    canonical_root: Option<std::path::PathBuf>,
    problems: Vec<Problem>,
    key_lines: BTreeMap<String, u32>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn line(&self, span: &Range<usize>) -> u32 {
        self.lines.line_col(span.start).0
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, name: &str, valid: &[&str]) {
        for (k, _) in table.iter() {
            let key = k.get_ref().as_ref();
            if valid.contains(&key) {
                continue;
            }
            // `name` is empty for the top level of the file
            let place = if name.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in {name}")
            };
            let (message, label) = match closest(key, valid) {
                Some(s) => (
                    format!("unknown key `{key}` {place}; did you mean `{s}`?"),
                    format!("did you mean `{s}`?"),
                ),
                None => (
                    format!("unknown key `{key}` {place}"),
                    "unknown key".to_string(),
                ),
            };
            self.push(
                Problem::at(k.span(), message, label)
                    .note(format!("valid keys {place}: {}", valid.join(", "))),
            );
        }
    }

    fn wrong_type(&mut self, what: &str, expected: &str, v: &Spanned<DeValue<'_>>) {
        let found = type_name(v.get_ref());
        self.push(Problem::at(
            v.span(),
            format!("`{what}`: expected {expected}, found {found}"),
            format!("expected {expected}"),
        ));
    }

    /// Look a key up in a table and remember its line under its dotted name.
    fn get<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        prefix: &str,
        key: &str,
    ) -> Option<&'t Spanned<DeValue<'i>>> {
        let (k, v) = find(table, key)?;
        if !prefix.is_empty() {
            let line = self.line(&k.span());
            self.key_lines.insert(format!("{prefix}.{key}"), line);
        }
        Some(v)
    }

    /// A table section such as `[migrations]`; absent means all defaults.
    fn section<'t, 'i>(
        &mut self,
        root: &'t DeTable<'i>,
        name: &str,
        valid: &[&str],
    ) -> Option<&'t DeTable<'i>> {
        let (_, v) = find(root, name)?;
        match v.get_ref() {
            DeValue::Table(t) => {
                self.unknown_keys(t, &format!("[{name}]"), valid);
                Some(t)
            }
            _ => {
                self.wrong_type(name, "a table", v);
                None
            }
        }
    }

    /// `version`: required, and 1 is the only one there is.
    fn version(&mut self, t: &DeTable<'_>) -> u32 {
        let Some((k, v)) = find(t, "version") else {
            self.push(Problem {
                span: None,
                message: "missing `version`: add `version = 1` at the top of the policy file"
                    .into(),
                label: String::new(),
                notes: Vec::new(),
                secondary: None,
            });
            return 1;
        };
        let line = self.line(&k.span());
        self.key_lines.insert("version".into(), line);
        if let Some(n) = self.integer("version", v, 0)
            && n != 1
        {
            self.push(Problem::at(
                v.span(),
                format!(
                    "unsupported policy `version` {n}: this Migration Gate understands version 1"
                ),
                "expected 1",
            ));
        }
        1
    }
}

/// Validate a parsed document. Returns the policy only when no problem was found.
pub(crate) fn validate(
    text: &str,
    root: &Spanned<DeTable<'_>>,
    file: &Path,
    repo_root: &Path,
) -> Result<Policy, Vec<Problem>> {
    let mut c = Checker {
        lines: Lines::new(text),
        repo_root,
        canonical_root: repo_root.canonicalize().ok(),
        problems: Vec::new(),
        key_lines: BTreeMap::new(),
    };
    let t = root.get_ref();
    c.unknown_keys(t, "", TOP_KEYS);
    let version = c.version(t);
    let migrations = c.migrations(t);
    let emergency = c.emergency(t);
    let governance = c.governance(t);
    let replay = c.replay(t);
    if !c.problems.is_empty() {
        let mut problems = c.problems;
        problems.sort_by_key(|p| p.span.as_ref().map_or((0, 0), |s| (s.start + 1, s.end)));
        return Err(problems);
    }
    Ok(Policy {
        version,
        migrations,
        emergency,
        governance,
        replay,
        file: file.to_path_buf(),
        key_lines: c.key_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::migrations::MIGRATIONS_KEYS;
    use super::*;

    #[test]
    fn closest_suggests_typos_and_snake_case() {
        assert_eq!(closest("max_heads", MIGRATIONS_KEYS), Some("max-heads"));
        assert_eq!(closest("lockfil", MIGRATIONS_KEYS), Some("lockfile"));
        assert_eq!(closest("frobnicate", MIGRATIONS_KEYS), None);
    }

    #[test]
    fn line_col_counts_characters() {
        let t = "a\nbé = 1\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, t.find('=').unwrap()), (2, 4));
    }
}
