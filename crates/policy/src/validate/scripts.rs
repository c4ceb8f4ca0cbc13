//! `[[emergency.script]]`: the registry, one entry per emergency script, each checked on its
//! own so one bad entry does not hide the problems of the others.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Checker, Problem, find, type_name};
use crate::model::{Script, ScriptStatus};

pub(super) const SCRIPT_KEYS: &[&str] = &[
    "path",
    "sha256",
    "reason",
    "ticket",
    "author",
    "approved-by",
    "approved-on",
    "convert-by",
    "status",
    "converted-in",
    "applied-after",
    "applied-on",
    "args",
    "run",
    "sql",
    "rollback",
];

/// The first entry that registered each path (normalised without `./`).
type Seen = BTreeMap<String, Range<usize>>;

impl Checker<'_> {
    pub(super) fn scripts(&mut self, v: &Spanned<DeValue<'_>>) -> Vec<Script> {
        let DeValue::Array(entries) = v.get_ref() else {
            self.push(
                Problem::at(
                    v.span(),
                    format!(
                        "`emergency.script`: expected an array of tables, found {}",
                        type_name(v.get_ref())
                    ),
                    "expected `[[emergency.script]]`",
                )
                .note("each registry entry is its own `[[emergency.script]]` table (two brackets)"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        // path -> span of the first entry that registered it
        let mut seen = Seen::new();
        for e in entries.iter() {
            let DeValue::Table(t) = e.get_ref() else {
                self.wrong_type("emergency.script[]", "a table", e);
                continue;
            };
            if let Some(s) = self.script(e.span(), t, &mut seen) {
                out.push(s);
            }
        }
        out
    }

    fn script(&mut self, header: Range<usize>, t: &DeTable<'_>, seen: &mut Seen) -> Option<Script> {
        self.unknown_keys(t, "[[emergency.script]]", SCRIPT_KEYS);
        let line = self.line(&header);
        let mut key_lines = BTreeMap::new();
        for (k, _) in t.iter() {
            key_lines.insert(k.get_ref().to_string(), self.line(&k.span()));
        }
        let opt = |this: &mut Self, k: &str| -> Option<String> {
            let (_, v) = find(t, k)?;
            this.string(&field(k), v)
        };
        let path = self.script_path(header, t, seen);
        let sha256 = find(t, "sha256").and_then(|(_, v)| self.sha256(v));
        let approved_on =
            find(t, "approved-on").and_then(|(_, v)| self.date(&field("approved-on"), v));
        let convert_by =
            find(t, "convert-by").and_then(|(_, v)| self.date(&field("convert-by"), v));
        let status = find(t, "status")
            .and_then(|(_, v)| self.status(v))
            .unwrap_or_default();
        let sql = find(t, "sql").and_then(|(_, v)| self.repo_path(&field("sql"), v));
        let applied_on =
            find(t, "applied-on").and_then(|(_, v)| self.date(&field("applied-on"), v));
        let args = find(t, "args")
            .and_then(|(_, v)| self.strings(&field("args"), v))
            .map(|l| l.into_iter().map(Spanned::into_inner).collect())
            .unwrap_or_default();
        let run = opt(self, "run");
        if run.is_some() && sql.is_some() {
            self.run_and_sql(t);
        }
        let script = Script {
            path: path?,
            sha256,
            reason: opt(self, "reason"),
            ticket: opt(self, "ticket"),
            author: opt(self, "author"),
            approved_by: opt(self, "approved-by"),
            approved_on,
            convert_by,
            status,
            converted_in: opt(self, "converted-in"),
            applied_after: opt(self, "applied-after"),
            applied_on,
            args,
            run,
            sql,
            rollback: opt(self, "rollback"),
            line,
            key_lines,
        };
        Some(script)
    }

    /// `path`: required, inside the repository, registered once.
    fn script_path(
        &mut self,
        header: Range<usize>,
        t: &DeTable<'_>,
        seen: &mut Seen,
    ) -> Option<String> {
        let Some((_, v)) = find(t, "path") else {
            self.push(
                Problem::at(
                    header,
                    "`[[emergency.script]]` entry has no `path`",
                    "missing `path`",
                )
                .note("add `path = \"the_script.py\"`, relative to the repository root"),
            );
            return None;
        };
        let p = self.repo_path(&field("path"), v)?;
        if p.trim().is_empty() {
            self.push(Problem::at(
                v.span(),
                "`emergency.script.path` is empty",
                "empty path",
            ));
            return None;
        }
        let norm = p.trim_start_matches("./").to_string();
        if let Some(first) = seen.get(&norm) {
            let first_line = self.line(first);
            let mut prob = Problem::at(
                v.span(),
                format!("`{norm}` is registered twice; the first entry is at line {first_line}"),
                "registered again here",
            )
            .note("merge the two entries into one");
            prob.secondary = Some((first.clone(), "first registered here".into()));
            self.push(prob);
        } else {
            seen.insert(norm.clone(), v.span());
        }
        Some(norm)
    }

    /// `sha256`: 64 hexadecimal characters, kept lowercase.
    fn sha256(&mut self, v: &Spanned<DeValue<'_>>) -> Option<String> {
        let s = self.string(&field("sha256"), v)?;
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            // sha256sum prints lowercase; comparing against computed hashes needs one case
            return Some(s.to_ascii_lowercase());
        }
        let found = if s.chars().count() == 64 {
            "non-hexadecimal characters".to_string()
        } else {
            format!("{} characters", s.chars().count())
        };
        self.push(
            Problem::at(
                v.span(),
                format!(
                    "`emergency.script.sha256` must be 64 hexadecimal characters, found {found}"
                ),
                "not a sha256",
            )
            .note("use the 64-character hash printed by `sha256sum <file>`"),
        );
        None
    }

    fn status(&mut self, v: &Spanned<DeValue<'_>>) -> Option<ScriptStatus> {
        let opts = [
            ("active", ScriptStatus::Active),
            ("legacy", ScriptStatus::Legacy),
            ("converted", ScriptStatus::Converted),
            ("retired", ScriptStatus::Retired),
        ];
        self.choice(&field("status"), v, &opts)
    }

    /// An entry applies its fix one way: both `run` and `sql` is reported at the `sql` key.
    fn run_and_sql(&mut self, t: &DeTable<'_>) {
        let Some((k, _)) = find(t, "sql") else {
            return;
        };
        self.push(
            Problem::at(
                k.span(),
                "`[[emergency.script]]` entry sets both `run` and `sql`; set only one",
                "second way to apply the fix",
            )
            .note("`run` is a command, `sql` a SQL file; the replay gate applies exactly one"),
        );
    }
}

/// The dotted name of an entry's key, as problems quote it.
fn field(key: &str) -> String {
    format!("emergency.script.{key}")
}
