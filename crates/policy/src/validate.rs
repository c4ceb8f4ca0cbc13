//! Second phase of loading: walk the span-keeping TOML tree, check every key and value, and
//! collect every problem before failing (cargo-deny style), so the user fixes them in one go.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path};

use chrono::NaiveDate;
use regex::Regex;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::model::{
    Backend, DATABASE_URL_PLACEHOLDERS, DEFAULT_DATABASE_URL, DEFAULT_EXTENSIONS, DEFAULT_NAMES,
    Emergency, Governance, MAX_TIMEOUT_S, MergeMethod, MigrationKind, Migrations, Policy,
    RESERVED_ENV, Replay, Script, ScriptStatus, SqlNaming, parse_scope,
};

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
const MIGRATIONS_KEYS: &[&str] = &[
    "kind",
    "path",
    "config",
    "naming",
    "upgrade",
    "downgrade",
    "lockfile",
    "max-heads",
];
const EMERGENCY_KEYS: &[&str] = &["scope", "names", "ddl", "ignore", "extensions", "script"];
const SCRIPT_KEYS: &[&str] = &[
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
const GOVERNANCE_KEYS: &[&str] = &[
    "approvers",
    "ticket",
    "convert-within-days",
    "four-eyes",
    "trailer",
    "require-signed",
    "require-rollback",
    "merge-method",
];
const REPLAY_KEYS: &[&str] = &[
    "backend",
    "image",
    "python",
    "prelude",
    "roundtrip",
    "snapshot",
    "fixes",
    "slow-ms",
    "timeout-s",
    "database-url",
    "env",
];

/// Upper bound of `governance.convert-within-days`: 100 years.
pub(crate) const MAX_DAYS: u64 = 36_500;

pub(crate) const DEFAULT_IGNORE: &[&str] = &["setup.py", "conftest.py"];
pub(crate) const DEFAULT_TICKET: &str = "^(INC|OPS)-[0-9]+$";

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

/// The first line of a regex error that says what is wrong; the full error repeats the
/// pattern with its own caret, which is noise inside our excerpt.
fn regex_reason(e: &regex::Error) -> String {
    let full = e.to_string();
    full.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| full.lines().last().unwrap_or("").trim().to_string())
}

/// Whether a repository-relative path would leave the repository: absolute, a drive or
/// UNC prefix, or more `..` than folders.
fn escapes(path: &str) -> Option<&'static str> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Some("is absolute");
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Some("is absolute");
    }
    let mut depth: i64 = 0;
    for c in Path::new(path).components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Some("is absolute"),
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Some("leaves the repository through `..`");
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    None
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

    fn string(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(what, "a string", v);
                None
            }
        }
    }

    fn boolean(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(what, "a boolean (true or false)", v);
                None
            }
        }
    }

    /// An integer of at least `min` and at most `max`: every number the gates compute with
    /// stays far from overflow, so no value in the file can make a gate panic.
    fn integer_in(
        &mut self,
        what: &str,
        v: &Spanned<DeValue<'_>>,
        min: i64,
        max: u64,
        unit: &str,
    ) -> Option<u64> {
        let n = self.integer(what, v, min)?;
        if n > max {
            self.push(Problem::at(
                v.span(),
                format!("`{what}` must be at most {max}{unit}, found {n}"),
                format!("must be at most {max}"),
            ));
            return None;
        }
        Some(n)
    }

    /// An integer of at least `min`.
    fn integer(&mut self, what: &str, v: &Spanned<DeValue<'_>>, min: i64) -> Option<u64> {
        let DeValue::Integer(i) = v.get_ref() else {
            self.wrong_type(what, "an integer", v);
            return None;
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if n >= min => u64::try_from(n).ok(),
            Ok(n) => {
                self.push(Problem::at(
                    v.span(),
                    format!("`{what}` must be at least {min}, found {n}"),
                    format!("must be at least {min}"),
                ));
                None
            }
            Err(_) => {
                self.push(Problem::at(
                    v.span(),
                    format!("`{what}` is out of range"),
                    "out of range",
                ));
                None
            }
        }
    }

    /// An array of strings, each with its span; wrong-typed elements are reported and skipped.
    fn strings(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<Vec<Spanned<String>>> {
        let DeValue::Array(a) = v.get_ref() else {
            self.wrong_type(what, "an array of strings", v);
            return None;
        };
        let mut out = Vec::new();
        for e in a.iter() {
            if let Some(s) = self.string(&format!("{what}[]"), e) {
                out.push(Spanned::new(e.span(), s));
            }
        }
        Some(out)
    }

    fn choice<T: Copy>(
        &mut self,
        what: &str,
        v: &Spanned<DeValue<'_>>,
        options: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(what, v)?;
        if let Some((_, t)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*t);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let mut message = format!(
            "invalid value `{s}` for `{what}`: expected one of {}",
            quote_list(&names)
        );
        let mut label = format!("expected one of {}", names.join(" | "));
        if let Some(c) = closest(&s, &names) {
            message.push_str(&format!("; did you mean `{c}`?"));
            label = format!("did you mean `{c}`?");
        }
        self.push(Problem::at(v.span(), message, label));
        None
    }

    fn regex(&mut self, what: &str, pattern: &Spanned<String>) -> Option<Regex> {
        match Regex::new(pattern.get_ref()) {
            Ok(r) => Some(r),
            Err(e) => {
                let reason = regex_reason(&e);
                self.push(Problem::at(
                    pattern.span(),
                    format!(
                        "invalid regex `{}` in `{what}`: {reason}",
                        pattern.get_ref()
                    ),
                    reason,
                ));
                None
            }
        }
    }

    /// A path that must stay inside the repository.
    fn repo_path(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        let s = self.string(what, v)?;
        self.check_inside(what, &s, v.span());
        Some(s)
    }

    fn check_inside(&mut self, what: &str, s: &str, span: Range<usize>) -> bool {
        if let Some(why) = escapes(s) {
            self.push(
                Problem::at(
                    span,
                    format!("`{what}` = `{s}` {why}; paths are relative to the repository root and must stay inside it"),
                    "outside the repository",
                )
                .note("write the path relative to the folder that contains the repository's .git"),
            );
            return false;
        }
        // A symlink inside the repository can still point outside it; only checkable when the
        // path exists, which is fine: a missing file is reported by the gate that needs it.
        if let (Some(root), Ok(target)) =
            (&self.canonical_root, self.repo_root.join(s).canonicalize())
            && !target.starts_with(root)
        {
            self.push(Problem::at(
                span,
                format!(
                    "`{what}` = `{s}` resolves to {} through a symlink, outside the repository",
                    target.display()
                ),
                "outside the repository",
            ));
            return false;
        }
        true
    }

    fn date(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<NaiveDate> {
        let bad = |this: &mut Self, detail: String| {
            this.push(Problem::at(
                v.span(),
                format!("`{what}`: {detail}"),
                "expected a date like 2025-09-20",
            ));
            None
        };
        match v.get_ref() {
            DeValue::Datetime(d) if d.time.is_none() && d.offset.is_none() => {
                let day = d.date?;
                match NaiveDate::from_ymd_opt(
                    i32::from(day.year),
                    u32::from(day.month),
                    u32::from(day.day),
                ) {
                    Some(n) => Some(n),
                    None => bad(self, format!("{day} is not a calendar date")),
                }
            }
            DeValue::Datetime(d) => bad(
                self,
                format!(
                    "expected a date like 2025-09-20, found the date-time {d}; drop the time part"
                ),
            ),
            DeValue::String(s) => {
                let ok_shape = s.len() == 10
                    && s.bytes().enumerate().all(|(i, b)| {
                        if i == 4 || i == 7 {
                            b == b'-'
                        } else {
                            b.is_ascii_digit()
                        }
                    });
                match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(n) if ok_shape => Some(n),
                    _ if ok_shape => bad(self, format!("\"{s}\" is not a calendar date")),
                    _ => bad(
                        self,
                        format!("\"{s}\" is not a date in the form YYYY-MM-DD"),
                    ),
                }
            }
            _ => {
                self.wrong_type(what, "a date like 2025-09-20", v);
                None
            }
        }
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

    fn migrations(&mut self, root: &DeTable<'_>) -> Migrations {
        let mut m = Migrations {
            kind: MigrationKind::Alembic,
            path: "alembic/versions".into(),
            config: "alembic.ini".into(),
            naming: SqlNaming::GolangMigrate,
            upgrade: String::new(),
            downgrade: String::new(),
            lockfile: "migrations.lock".into(),
            max_heads: 1,
        };
        let Some(t) = self.section(root, "migrations", MIGRATIONS_KEYS) else {
            return m;
        };
        let p = "migrations";
        let mut kind_span = None;
        if let Some(v) = self.get(t, p, "kind") {
            kind_span = Some(v.span());
            let opts = [
                ("alembic", MigrationKind::Alembic),
                ("sql", MigrationKind::Sql),
                ("command", MigrationKind::Command),
            ];
            if let Some(k) = self.choice("migrations.kind", v, &opts) {
                m.kind = k;
            }
        }
        if let Some(v) = self.get(t, p, "path")
            && let Some(s) = self.repo_path("migrations.path", v)
        {
            m.path = s;
        }
        if let Some(v) = self.get(t, p, "config")
            && let Some(s) = self.repo_path("migrations.config", v)
        {
            m.config = s;
        }
        if let Some(v) = self.get(t, p, "naming") {
            let opts = [
                ("golang-migrate", SqlNaming::GolangMigrate),
                ("flyway", SqlNaming::Flyway),
                ("sqlx", SqlNaming::Sqlx),
                ("dbmate", SqlNaming::Dbmate),
                ("plain", SqlNaming::Plain),
            ];
            if let Some(n) = self.choice("migrations.naming", v, &opts) {
                m.naming = n;
            }
        }
        if let Some(v) = self.get(t, p, "upgrade")
            && let Some(s) = self.string("migrations.upgrade", v)
        {
            m.upgrade = s;
        }
        if let Some(v) = self.get(t, p, "downgrade")
            && let Some(s) = self.string("migrations.downgrade", v)
        {
            m.downgrade = s;
        }
        if let Some(v) = self.get(t, p, "lockfile")
            && let Some(s) = self.repo_path("migrations.lockfile", v)
        {
            m.lockfile = s;
        }
        if let Some(v) = self.get(t, p, "max-heads")
            && let Some(n) = self.integer_in("migrations.max-heads", v, 1, 1_000_000, "")
        {
            m.max_heads = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if m.kind == MigrationKind::Command
            && m.upgrade.trim().is_empty()
            && let Some(span) = kind_span
        {
            self.push(
                Problem::at(
                    span,
                    "`migrations.kind` = \"command\" needs `migrations.upgrade`, the command that migrates $DATABASE_URL to head",
                    "needs `upgrade`",
                )
                .note("example: upgrade = \"npx prisma migrate deploy\""),
            );
        }
        m
    }

    fn emergency(&mut self, root: &DeTable<'_>) -> Emergency {
        let t = self.section(root, "emergency", EMERGENCY_KEYS);
        let p = "emergency";
        let mut scope_strs: Vec<Spanned<String>> = Vec::new();
        let mut scope_given = false;
        let mut names: Option<Vec<Regex>> = None;
        let mut ddl = true;
        let mut ignore: Option<Vec<Spanned<String>>> = None;
        let mut extensions: Option<Vec<String>> = None;
        let mut scripts = Vec::new();
        if let Some(t) = t {
            if let Some(v) = self.get(t, p, "scope")
                && let Some(list) = self.strings("emergency.scope", v)
            {
                scope_given = true;
                scope_strs = list;
            }
            if let Some(v) = self.get(t, p, "names")
                && let Some(list) = self.strings("emergency.names", v)
            {
                names = Some(
                    list.iter()
                        .filter_map(|s| self.regex("emergency.names", s))
                        .collect(),
                );
            }
            if let Some(v) = self.get(t, p, "ddl")
                && let Some(b) = self.boolean("emergency.ddl", v)
            {
                ddl = b;
            }
            if let Some(v) = self.get(t, p, "ignore") {
                ignore = self.strings("emergency.ignore", v);
            }
            if let Some(v) = self.get(t, p, "extensions")
                && let Some(list) = self.strings("emergency.extensions", v)
            {
                extensions = Some(self.extensions(&list));
            }
            if let Some(v) = self.get(t, p, "script") {
                scripts = self.scripts(v);
            }
        }
        let mut scope = Vec::new();
        for s in &scope_strs {
            let raw = s.get_ref().trim();
            let dir = raw
                .strip_suffix("/**")
                .or_else(|| (raw == "**").then_some("."))
                .unwrap_or(raw);
            if dir.contains(['*', '?', '[']) {
                self.push(
                    Problem::at(
                        s.span(),
                        format!("`emergency.scope` entry `{raw}` is not a folder: only `dir` (that folder) or `dir/**` (and below) are supported"),
                        "not a folder",
                    )
                    .note("use `emergency.ignore` for file globs"),
                );
                continue;
            }
            if self.check_inside("emergency.scope", dir, s.span()) {
                scope.push(parse_scope(raw));
            }
        }
        if !scope_given {
            scope.push(parse_scope("."));
        }
        let names = names.unwrap_or_else(|| {
            DEFAULT_NAMES
                .iter()
                .map(|n| Regex::new(n).expect("built-in emergency name patterns compile"))
                .collect()
        });
        let ignore: Vec<Spanned<String>> = ignore.unwrap_or_else(|| {
            DEFAULT_IGNORE
                .iter()
                .map(|s| Spanned::new(0..0, (*s).to_string()))
                .collect()
        });
        let mut builder = globset::GlobSetBuilder::new();
        for g in &ignore {
            match globset::Glob::new(g.get_ref()) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(e) => self.push(Problem::at(
                    g.span(),
                    format!(
                        "invalid glob `{}` in `emergency.ignore`: {}",
                        g.get_ref(),
                        e.kind()
                    ),
                    e.kind().to_string(),
                )),
            }
        }
        let ignore_set = builder
            .build()
            .unwrap_or_else(|_| globset::GlobSet::empty());
        Emergency {
            scope,
            names,
            ddl,
            ignore: ignore.into_iter().map(Spanned::into_inner).collect(),
            ignore_set,
            extensions: extensions.unwrap_or_else(|| {
                DEFAULT_EXTENSIONS
                    .iter()
                    .map(|e| (*e).to_string())
                    .collect()
            }),
            scripts,
        }
    }

    /// `emergency.extensions`: bare extensions such as `py`; a leading dot is tolerated.
    fn extensions(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for e in list {
            let ext = e
                .get_ref()
                .trim()
                .trim_start_matches('.')
                .to_ascii_lowercase();
            if ext.is_empty() || ext.contains(['/', '*', '?', '.', ' ']) {
                self.push(
                    Problem::at(
                        e.span(),
                        format!(
                            "`emergency.extensions` entry `{}` is not a file extension",
                            e.get_ref()
                        ),
                        "expected an extension like \"py\"",
                    )
                    .note("write extensions without the dot or a glob: extensions = [\"py\", \"sql\"]"),
                );
                continue;
            }
            out.push(ext);
        }
        out
    }

    fn scripts(&mut self, v: &Spanned<DeValue<'_>>) -> Vec<Script> {
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
        let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
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

    fn script(
        &mut self,
        header: Range<usize>,
        t: &DeTable<'_>,
        seen: &mut BTreeMap<String, Range<usize>>,
    ) -> Option<Script> {
        self.unknown_keys(t, "[[emergency.script]]", SCRIPT_KEYS);
        let line = self.line(&header);
        let mut key_lines = BTreeMap::new();
        for (k, _) in t.iter() {
            key_lines.insert(k.get_ref().to_string(), self.line(&k.span()));
        }
        let w = |k: &str| format!("emergency.script.{k}");
        let opt = |this: &mut Self, k: &str| -> Option<String> {
            let (_, v) = find(t, k)?;
            this.string(&w(k), v)
        };

        let path = match find(t, "path") {
            None => {
                self.push(
                    Problem::at(
                        header.clone(),
                        "`[[emergency.script]]` entry has no `path`",
                        "missing `path`",
                    )
                    .note("add `path = \"the_script.py\"`, relative to the repository root"),
                );
                None
            }
            Some((_, v)) => match self.repo_path(&w("path"), v) {
                Some(p) if p.trim().is_empty() => {
                    self.push(Problem::at(
                        v.span(),
                        "`emergency.script.path` is empty",
                        "empty path",
                    ));
                    None
                }
                Some(p) => {
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
                None => None,
            },
        };

        let sha256 = find(t, "sha256").and_then(|(_, v)| {
            let s = self.string(&w("sha256"), v)?;
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                // sha256sum prints lowercase; comparing against computed hashes needs one case
                Some(s.to_ascii_lowercase())
            } else {
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
        });
        let approved_on = find(t, "approved-on").and_then(|(_, v)| self.date(&w("approved-on"), v));
        let convert_by = find(t, "convert-by").and_then(|(_, v)| self.date(&w("convert-by"), v));
        let status = find(t, "status")
            .and_then(|(_, v)| {
                let opts = [
                    ("active", ScriptStatus::Active),
                    ("legacy", ScriptStatus::Legacy),
                    ("converted", ScriptStatus::Converted),
                    ("retired", ScriptStatus::Retired),
                ];
                self.choice(&w("status"), v, &opts)
            })
            .unwrap_or_default();
        let sql = find(t, "sql").and_then(|(_, v)| self.repo_path(&w("sql"), v));
        let applied_on = find(t, "applied-on").and_then(|(_, v)| self.date(&w("applied-on"), v));
        let args = find(t, "args")
            .and_then(|(_, v)| self.strings(&w("args"), v))
            .map(|l| l.into_iter().map(Spanned::into_inner).collect())
            .unwrap_or_default();
        let run = opt(self, "run");
        if let (Some(_), Some((k, _))) = (&run, find(t, "sql"))
            && sql.is_some()
        {
            self.push(
                Problem::at(
                    k.span(),
                    "`[[emergency.script]]` entry sets both `run` and `sql`; set only one",
                    "second way to apply the fix",
                )
                .note("`run` is a command, `sql` a SQL file; the replay gate applies exactly one"),
            );
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

    fn governance(&mut self, root: &DeTable<'_>) -> Governance {
        let mut g = Governance {
            approvers: Vec::new(),
            ticket: Regex::new(DEFAULT_TICKET).expect("built-in ticket pattern compiles"),
            convert_within_days: 14,
            four_eyes: true,
            trailer: "Approved-by".into(),
            require_signed: false,
            require_rollback: true,
            merge_method: MergeMethod::Merge,
        };
        let Some(t) = self.section(root, "governance", GOVERNANCE_KEYS) else {
            return g;
        };
        let p = "governance";
        if let Some(v) = self.get(t, p, "approvers")
            && let Some(list) = self.strings("governance.approvers", v)
        {
            for a in list {
                if looks_like_email(a.get_ref()) {
                    g.approvers.push(a.into_inner());
                } else {
                    self.push(Problem::at(
                        a.span(),
                        format!(
                            "`governance.approvers` entry `{}` is not an email address",
                            a.get_ref()
                        ),
                        "expected an email like lead@example.com",
                    ).note("approvers are matched against the email in the commit trailer and the committer"));
                }
            }
        }
        if let Some(v) = self.get(t, p, "ticket")
            && let Some(s) = self.string("governance.ticket", v)
            && let Some(r) = self.regex("governance.ticket", &Spanned::new(v.span(), s))
        {
            g.ticket = r;
        }
        if let Some(v) = self.get(t, p, "convert-within-days")
            && let Some(n) = self.integer_in(
                "governance.convert-within-days",
                v,
                0,
                MAX_DAYS,
                " days (100 years)",
            )
        {
            g.convert_within_days = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(v) = self.get(t, p, "four-eyes")
            && let Some(b) = self.boolean("governance.four-eyes", v)
        {
            g.four_eyes = b;
        }
        if let Some(v) = self.get(t, p, "trailer")
            && let Some(s) = self.string("governance.trailer", v)
        {
            if s.is_empty() || s.contains([':', ' ', '\n']) {
                self.push(Problem::at(
                    v.span(),
                    format!("`governance.trailer` = \"{s}\" is not a trailer name; write it without colon or spaces, like \"Approved-by\""),
                    "not a trailer name",
                ));
            } else {
                g.trailer = s;
            }
        }
        if let Some(v) = self.get(t, p, "require-signed")
            && let Some(b) = self.boolean("governance.require-signed", v)
        {
            g.require_signed = b;
        }
        if let Some(v) = self.get(t, p, "require-rollback")
            && let Some(b) = self.boolean("governance.require-rollback", v)
        {
            g.require_rollback = b;
        }
        if let Some(m) = self.merge_method(t) {
            g.merge_method = m;
        }
        g
    }

    /// `governance.merge-method`: one of merge | squash | rebase.
    fn merge_method(&mut self, t: &DeTable<'_>) -> Option<MergeMethod> {
        let v = self.get(t, "governance", "merge-method")?;
        let opts = [
            ("merge", MergeMethod::Merge),
            ("squash", MergeMethod::Squash),
            ("rebase", MergeMethod::Rebase),
        ];
        self.choice("governance.merge-method", v, &opts)
    }

    fn replay(&mut self, root: &DeTable<'_>) -> Replay {
        let mut r = Replay {
            backend: Backend::Auto,
            image: "postgres:16-alpine".into(),
            python: "python3".into(),
            prelude: String::new(),
            roundtrip: true,
            snapshot: "schema.snapshot.json".into(),
            fixes: true,
            slow_ms: 5000,
            timeout_s: 900,
            database_url: DEFAULT_DATABASE_URL.into(),
            env: Vec::new(),
        };
        let Some(t) = self.section(root, "replay", REPLAY_KEYS) else {
            return r;
        };
        let p = "replay";
        if let Some(v) = self.get(t, p, "backend") {
            let opts = [
                ("auto", Backend::Auto),
                ("docker", Backend::Docker),
                ("local", Backend::Local),
                ("url", Backend::Url),
            ];
            if let Some(b) = self.choice("replay.backend", v, &opts) {
                r.backend = b;
            }
        }
        for (key, slot) in [
            ("image", &mut r.image),
            ("python", &mut r.python),
            ("prelude", &mut r.prelude),
        ] {
            if let Some(v) = self.get(t, p, key)
                && let Some(s) = self.string(&format!("replay.{key}"), v)
            {
                *slot = s;
            }
        }
        if let Some(v) = self.get(t, p, "snapshot")
            && let Some(s) = self.repo_path("replay.snapshot", v)
        {
            r.snapshot = s;
        }
        for (key, slot) in [("roundtrip", &mut r.roundtrip), ("fixes", &mut r.fixes)] {
            if let Some(v) = self.get(t, p, key)
                && let Some(b) = self.boolean(&format!("replay.{key}"), v)
            {
                *slot = b;
            }
        }
        if let Some(v) = self.get(t, p, "slow-ms")
            && let Some(n) =
                self.integer_in("replay.slow-ms", v, 0, MAX_TIMEOUT_S * 1000, " ms (7 days)")
        {
            r.slow_ms = n;
        }
        if let Some(v) = self.get(t, p, "timeout-s")
            && let Some(n) =
                self.integer_in("replay.timeout-s", v, 1, MAX_TIMEOUT_S, " seconds (7 days)")
        {
            r.timeout_s = n;
        }
        if let Some(v) = self.get(t, p, "database-url")
            && let Some(s) = self.string("replay.database-url", v)
            && self.database_url_template(&s, v.span())
        {
            r.database_url = s;
        }
        if let Some(v) = self.get(t, p, "env") {
            r.env = self.env_table(v);
        }
        r
    }

    /// `replay.database-url`: a URL with known `{placeholders}`, at least `{database}`.
    fn database_url_template(&mut self, s: &str, span: Range<usize>) -> bool {
        let mut ok = true;
        let mut rest = s;
        let mut names = Vec::new();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                self.push(Problem::at(
                    span.clone(),
                    "`replay.database-url` has a `{` without its `}`",
                    "unclosed placeholder",
                ));
                return false;
            };
            let name = &rest[open + 1..open + close];
            if !DATABASE_URL_PLACEHOLDERS.contains(&name) {
                ok = false;
                self.push(
                    Problem::at(
                        span.clone(),
                        format!("unknown placeholder `{{{name}}}` in `replay.database-url`"),
                        "unknown placeholder",
                    )
                    .note(format!(
                        "placeholders: {}",
                        DATABASE_URL_PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
            names.push(name.to_string());
            rest = &rest[open + close + 1..];
        }
        let scheme_ok = s.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        });
        if !scheme_ok {
            ok = false;
            self.push(
                Problem::at(
                    span.clone(),
                    "`replay.database-url` is not a URL (`scheme://...`)",
                    "expected a URL",
                )
                .note(format!(
                    "example: database-url = \"{}\"",
                    DEFAULT_DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://")
                )),
            );
        } else if s.starts_with("postgres://") {
            ok = false;
            self.push(
                Problem::at(span.clone(), "`replay.database-url` uses the scheme `postgres://`, which SQLAlchemy 2.x refuses", "write postgresql://")
                    .note("use postgresql:// (or postgresql+DRIVER://)"),
            );
        }
        if ok && !names.iter().any(|n| n == "database") {
            ok = false;
            self.push(
                Problem::at(span, "`replay.database-url` must contain `{database}`: the replay hands every run its own scratch database", "missing {database}"),
            );
        }
        ok
    }

    /// `replay.env`: a table of variable name -> string value.
    fn env_table(&mut self, v: &Spanned<DeValue<'_>>) -> Vec<(String, String)> {
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type("replay.env", "a table of NAME = \"value\"", v);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, val) in t.iter() {
            let name = k.get_ref().to_string();
            let valid_name = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                self.push(Problem::at(
                    k.span(),
                    format!("`replay.env` key `{name}` is not an environment variable name"),
                    "expected letters, digits and _",
                ));
                continue;
            }
            if RESERVED_ENV.contains(&name.as_str()) {
                self.push(
                    Problem::at(
                        k.span(),
                        format!("`replay.env` may not set `{name}`: the replay sets it to the scratch database"),
                        "set by the replay",
                    )
                    .note("to change the driver or URL form, set `replay.database-url`"),
                );
                continue;
            }
            if let Some(s) = self.string(&format!("replay.env.{name}"), val) {
                if let Some(bad) = unclosed_reference(&s) {
                    self.push(Problem::at(
                        val.span(),
                        format!("`replay.env.{name}`: {bad}"),
                        "bad ${VAR} reference",
                    ));
                    continue;
                }
                out.push((name, s));
            }
        }
        out
    }
}

/// `${` without a closing `}` or with an invalid name, in a `replay.env` value.
fn unclosed_reference(s: &str) -> Option<String> {
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Some("`${` without its closing `}`".into());
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some(format!(
                "`${{{name}}}` is not a variable reference (write ${{NAME}})"
            ));
        }
        rest = &after[end + 1..];
    }
    None
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == ',')
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
    let mut version = 1;
    match find(t, "version") {
        None => c.push(Problem {
            span: None,
            message: "missing `version`: add `version = 1` at the top of the policy file".into(),
            label: String::new(),
            notes: Vec::new(),
            secondary: None,
        }),
        Some((k, v)) => {
            let line = c.line(&k.span());
            c.key_lines.insert("version".into(), line);
            if let Some(n) = c.integer("version", v, 0) {
                if n == 1 {
                    version = 1;
                } else {
                    c.push(Problem::at(
                        v.span(),
                        format!("unsupported policy `version` {n}: this Migration Gate understands version 1"),
                        "expected 1",
                    ));
                }
            }
        }
    }
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
    use super::*;

    #[test]
    fn closest_suggests_typos_and_snake_case() {
        assert_eq!(closest("max_heads", MIGRATIONS_KEYS), Some("max-heads"));
        assert_eq!(closest("lockfil", MIGRATIONS_KEYS), Some("lockfile"));
        assert_eq!(closest("frobnicate", MIGRATIONS_KEYS), None);
    }

    #[test]
    fn escaping_paths() {
        assert_eq!(escapes("/etc/passwd"), Some("is absolute"));
        assert_eq!(escapes("C:/x"), Some("is absolute"));
        assert!(escapes("a/../../b").is_some());
        assert_eq!(escapes("a/../b"), None);
        assert_eq!(escapes("./alembic/versions"), None);
    }

    #[test]
    fn line_col_counts_characters() {
        let t = "a\nbé = 1\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, t.find('=').unwrap()), (2, 4));
    }

    #[test]
    fn emails() {
        assert!(looks_like_email("lead@example.com"));
        assert!(!looks_like_email("lead"));
        assert!(!looks_like_email("Lead <lead@example.com>"));
        assert!(!looks_like_email("a@b@c"));
    }
}
