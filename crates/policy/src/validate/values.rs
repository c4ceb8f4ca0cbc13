//! The typed readers every section uses: a string, a boolean, a bounded integer, a list, one
//! of a set of names, a regex, a date, a path inside the repository. Each reports a wrong
//! value at its span and returns `None`, so validation goes on and collects every problem.

use std::ops::Range;
use std::path::{Component, Path};

use chrono::NaiveDate;
use regex::Regex;
use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, Problem, closest, quote_list};

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

impl Checker<'_> {
    pub(super) fn string(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(what, "a string", v);
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<bool> {
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
    pub(super) fn integer_in(
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
    pub(super) fn integer(
        &mut self,
        what: &str,
        v: &Spanned<DeValue<'_>>,
        min: i64,
    ) -> Option<u64> {
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
    pub(super) fn strings(
        &mut self,
        what: &str,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<Vec<Spanned<String>>> {
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

    pub(super) fn choice<T: Copy>(
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

    pub(super) fn regex(&mut self, what: &str, pattern: &Spanned<String>) -> Option<Regex> {
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
    pub(super) fn repo_path(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        let s = self.string(what, v)?;
        self.check_inside(what, &s, v.span());
        Some(s)
    }

    pub(super) fn check_inside(&mut self, what: &str, s: &str, span: Range<usize>) -> bool {
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

    pub(super) fn date(&mut self, what: &str, v: &Spanned<DeValue<'_>>) -> Option<NaiveDate> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_paths() {
        assert_eq!(escapes("/etc/passwd"), Some("is absolute"));
        assert_eq!(escapes("C:/x"), Some("is absolute"));
        assert!(escapes("a/../../b").is_some());
        assert_eq!(escapes("a/../b"), None);
        assert_eq!(escapes("./alembic/versions"), None);
    }
}
