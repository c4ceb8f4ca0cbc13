//! `[replay]`: how the replay gate gets a scratch server and what its children see.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Checker, Problem};
use crate::model::{
    Backend, DATABASE_URL_PLACEHOLDERS, DEFAULT_DATABASE_URL, DEFAULT_SEED_ROWS, MAX_SEED_ROWS,
    MAX_TIMEOUT_S, RESERVED_ENV, Replay,
};

pub(super) const REPLAY_KEYS: &[&str] = &[
    "backend",
    "image",
    "python",
    "prelude",
    "roundtrip",
    "stairway",
    "models",
    "data",
    "rows",
    "snapshot",
    "fixes",
    "slow-ms",
    "timeout-s",
    "database-url",
    "env",
];

impl Checker<'_> {
    pub(super) fn replay(&mut self, root: &DeTable<'_>) -> Replay {
        let mut r = Replay {
            backend: Backend::Auto,
            image: "postgres:16-alpine".into(),
            python: "python3".into(),
            prelude: String::new(),
            roundtrip: true,
            stairway: false,
            models: false,
            data: false,
            rows: DEFAULT_SEED_ROWS,
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
        for (key, slot) in [
            ("roundtrip", &mut r.roundtrip),
            ("stairway", &mut r.stairway),
            ("models", &mut r.models),
            ("data", &mut r.data),
            ("fixes", &mut r.fixes),
        ] {
            if let Some(v) = self.get(t, p, key)
                && let Some(b) = self.boolean(&format!("replay.{key}"), v)
            {
                *slot = b;
            }
        }
        if let Some(v) = self.get(t, p, "rows")
            && let Some(n) = self.integer_in("replay.rows", v, 0, MAX_SEED_ROWS, " rows per table")
        {
            r.rows = n;
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
