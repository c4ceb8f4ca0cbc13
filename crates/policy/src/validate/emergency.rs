//! `[emergency]`: which files count as emergency scripts (scope, names, DDL, ignore,
//! extensions) and the registry of `[[emergency.script]]` entries (in `scripts.rs`).

use regex::Regex;
use toml::Spanned;
use toml::de::DeTable;

use super::{Checker, Problem};
use crate::model::{DEFAULT_EXTENSIONS, DEFAULT_NAMES, Emergency, Scope, Script, parse_scope};

pub(super) const EMERGENCY_KEYS: &[&str] =
    &["scope", "names", "ddl", "ignore", "extensions", "script"];
pub(crate) const DEFAULT_IGNORE: &[&str] = &["setup.py", "conftest.py"];

/// The `[emergency]` keys as written; `None` where a key is absent (or of the wrong type), so
/// the default applies.
#[derive(Default)]
struct Given {
    scope: Option<Vec<Spanned<String>>>,
    names: Option<Vec<Regex>>,
    ddl: Option<bool>,
    ignore: Option<Vec<Spanned<String>>>,
    extensions: Option<Vec<String>>,
    scripts: Vec<Script>,
}

impl Checker<'_> {
    pub(super) fn emergency(&mut self, root: &DeTable<'_>) -> Emergency {
        let given = match self.section(root, "emergency", EMERGENCY_KEYS) {
            Some(t) => self.emergency_keys(t),
            None => Given::default(),
        };
        let scope = self.scope(given.scope.as_deref());
        let names = given.names.unwrap_or_else(|| {
            DEFAULT_NAMES
                .iter()
                .map(|n| Regex::new(n).expect("built-in emergency name patterns compile"))
                .collect()
        });
        let ignore: Vec<Spanned<String>> = given.ignore.unwrap_or_else(|| {
            DEFAULT_IGNORE
                .iter()
                .map(|s| Spanned::new(0..0, (*s).to_string()))
                .collect()
        });
        let ignore_set = self.ignore_globs(&ignore);
        Emergency {
            scope,
            names,
            ddl: given.ddl.unwrap_or(true),
            ignore: ignore.into_iter().map(Spanned::into_inner).collect(),
            ignore_set,
            extensions: given.extensions.unwrap_or_else(|| {
                DEFAULT_EXTENSIONS
                    .iter()
                    .map(|e| (*e).to_string())
                    .collect()
            }),
            scripts: given.scripts,
        }
    }

    fn emergency_keys(&mut self, t: &DeTable<'_>) -> Given {
        let p = "emergency";
        let mut given = Given::default();
        if let Some(v) = self.get(t, p, "scope") {
            given.scope = self.strings("emergency.scope", v);
        }
        if let Some(v) = self.get(t, p, "names")
            && let Some(list) = self.strings("emergency.names", v)
        {
            given.names = Some(
                list.iter()
                    .filter_map(|s| self.regex("emergency.names", s))
                    .collect(),
            );
        }
        if let Some(v) = self.get(t, p, "ddl") {
            given.ddl = self.boolean("emergency.ddl", v);
        }
        if let Some(v) = self.get(t, p, "ignore") {
            given.ignore = self.strings("emergency.ignore", v);
        }
        if let Some(v) = self.get(t, p, "extensions")
            && let Some(list) = self.strings("emergency.extensions", v)
        {
            given.extensions = Some(self.extensions(&list));
        }
        if let Some(v) = self.get(t, p, "script") {
            given.scripts = self.scripts(v);
        }
        given
    }

    /// `emergency.scope`: folders only (`dir` or `dir/**`), each inside the repository.
    /// Absent means the whole repository; given but all wrong means none.
    fn scope(&mut self, given: Option<&[Spanned<String>]>) -> Vec<Scope> {
        let Some(list) = given else {
            return vec![parse_scope(".")];
        };
        let mut scope = Vec::new();
        for s in list {
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
        scope
    }

    /// `emergency.ignore` compiled; a glob that does not compile is reported and left out.
    fn ignore_globs(&mut self, ignore: &[Spanned<String>]) -> globset::GlobSet {
        let mut builder = globset::GlobSetBuilder::new();
        for g in ignore {
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
        builder
            .build()
            .unwrap_or_else(|_| globset::GlobSet::empty())
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
}
