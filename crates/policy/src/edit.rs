//! Comment-preserving, atomic edits of policy.toml (registry entries).
//!
//! Edits go through toml_edit so every comment, blank line and key order outside the touched
//! entry survives byte for byte; `save` re-validates the new text before it replaces the file.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::PolicyError;

/// A value written into a registry entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditValue {
    Str(String),
    /// Written as a TOML local date (`approved-on = 2025-09-20`).
    Date(NaiveDate),
}

impl EditValue {
    fn to_value(&self) -> Value {
        match self {
            EditValue::Str(s) => Value::from(s.as_str()),
            EditValue::Date(d) => Value::from(toml_edit::Datetime {
                // Years beyond u16 cannot occur in approval dates; clamp rather than panic.
                date: Some(toml_edit::Date {
                    year: u16::try_from(d.year()).unwrap_or(u16::MAX),
                    month: d.month() as u8,
                    day: d.day() as u8,
                }),
                time: None,
                offset: None,
            }),
        }
    }
}

/// policy.toml opened for editing with toml_edit: comments and layout survive.
#[derive(Debug)]
pub struct PolicyEditor {
    path: PathBuf,
    text: String,
    doc: DocumentMut,
    /// Repository root used when `save` re-validates; defaults to the policy file's folder.
    repo_root: PathBuf,
    /// The file uses Windows line endings; added lines must too.
    crlf: bool,
}

fn normalize(path: &str) -> &str {
    path.trim_start_matches("./")
}

fn entry_path(t: &Table) -> Option<&str> {
    t.get("path").and_then(Item::as_str).map(normalize)
}

impl PolicyEditor {
    pub fn open(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            // Same rendering as a load, so the user sees line, column and excerpt.
            match crate::parse(&text, path, Path::new(".")) {
                Err(invalid @ PolicyError::Invalid { .. }) => invalid,
                _ => PolicyError::Edit(format!("cannot edit {}: {}", path.display(), e.message())),
            }
        })?;
        let repo_root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(PolicyEditor {
            path: path.to_path_buf(),
            crlf: text.contains("\r\n"),
            text,
            doc,
            repo_root,
        })
    }

    /// Re-validate against this repository root on `save` (when the policy does not live at
    /// the repository root, e.g. `--policy ci/policy.toml`).
    pub fn set_repo_root(&mut self, root: &Path) {
        self.repo_root = root.to_path_buf();
    }

    fn registry(&self) -> Result<Option<&ArrayOfTables>, PolicyError> {
        let Some(em) = self.doc.get("emergency") else {
            return Ok(None);
        };
        match em.get("script") {
            None => Ok(None),
            Some(Item::ArrayOfTables(a)) => Ok(Some(a)),
            Some(_) => Err(self.not_editable()),
        }
    }

    fn not_editable(&self) -> PolicyError {
        PolicyError::Edit(format!(
            "{}: `emergency.script` is not written as `[[emergency.script]]` tables; rewrite it in that form so entries can be edited",
            self.path.display()
        ))
    }

    fn entry_mut(&mut self, path: &str) -> Result<&mut Table, PolicyError> {
        let file = self.path.display().to_string();
        let not_found = || {
            PolicyError::Edit(format!(
                "`{path}` is not registered in {file}: there is no `[[emergency.script]]` entry with path = \"{path}\""
            ))
        };
        if !matches!(
            self.doc.get("emergency").and_then(|e| e.get("script")),
            None | Some(Item::ArrayOfTables(_))
        ) {
            return Err(self.not_editable());
        }
        let Some(Item::ArrayOfTables(aot)) = self
            .doc
            .get_mut("emergency")
            .and_then(|e| e.get_mut("script"))
        else {
            return Err(not_found());
        };
        aot.iter_mut()
            .find(|t| entry_path(t) == Some(normalize(path)))
            .ok_or_else(not_found)
    }

    fn refresh(&mut self) {
        let text = self.doc.to_string();
        // toml_edit writes `\n` for what it adds; a CRLF file must not end up with mixed
        // line endings, so convert the lone ones (existing `\r\n` are left alone).
        self.text = if self.crlf {
            let mut out = String::with_capacity(text.len() + 64);
            let mut prev = '\0';
            for c in text.chars() {
                if c == '\n' && prev != '\r' {
                    out.push('\r');
                }
                out.push(c);
                prev = c;
            }
            out
        } else {
            text
        };
    }

    /// Append a new `[[emergency.script]]` entry with `path` and `fields` (kebab-case keys,
    /// in the given order). Errors if `path` is already registered.
    pub fn add_script(
        &mut self,
        path: &str,
        fields: &[(&str, EditValue)],
    ) -> Result<(), PolicyError> {
        if let Some(aot) = self.registry()?
            && aot.iter().any(|t| entry_path(t) == Some(normalize(path)))
        {
            return Err(PolicyError::Edit(format!(
                "`{path}` is already registered in {}; update its entry instead of adding another",
                self.path.display()
            )));
        }
        let mut entry = Table::new();
        entry.decor_mut().set_prefix("\n");
        entry.insert("path", Item::Value(Value::from(path)));
        for (k, v) in fields {
            if *k == "path" {
                continue;
            }
            entry.insert(k, Item::Value(v.to_value()));
        }
        let root = self.doc.as_table_mut();
        if !root.contains_key("emergency") {
            // Implicit: no empty `[emergency]` header is written, only the entry.
            let mut em = Table::new();
            em.set_implicit(true);
            root.insert("emergency", Item::Table(em));
        }
        let em = match root.get_mut("emergency") {
            Some(Item::Table(t)) => t,
            _ => {
                return Err(PolicyError::Edit(format!(
                    "{}: `emergency` is not a table",
                    self.path.display()
                )));
            }
        };
        // A new array-of-tables element without a position is rendered right after the
        // previous element (toml_edit orders by the last seen position), i.e. at the end of
        // the registry, before whatever section follows it.
        match em
            .entry("script")
            .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        {
            Item::ArrayOfTables(aot) => aot.push(entry),
            _ => return Err(self.not_editable()),
        }
        self.refresh();
        Ok(())
    }

    /// Set (insert or replace) fields of the entry for `path`. Errors if not registered.
    pub fn set_fields(
        &mut self,
        path: &str,
        fields: &[(&str, EditValue)],
    ) -> Result<(), PolicyError> {
        let entry = self.entry_mut(path)?;
        for (k, v) in fields {
            let mut value = v.to_value();
            match entry.get_mut(k) {
                Some(Item::Value(old)) => {
                    // Keep the spacing and any trailing `# comment` of the old value.
                    *value.decor_mut() = old.decor().clone();
                    *old = value;
                }
                Some(_) => {
                    return Err(PolicyError::Edit(format!(
                        "`{k}` of the entry for `{path}` is a table, not a value; fix it by hand"
                    )));
                }
                None => {
                    entry.insert(k, Item::Value(value));
                }
            }
        }
        self.refresh();
        Ok(())
    }

    /// Remove fields (if present) from the entry for `path`.
    pub fn remove_fields(&mut self, path: &str, keys: &[&str]) -> Result<(), PolicyError> {
        if keys.contains(&"path") {
            return Err(PolicyError::Edit(
                "`path` identifies the entry and cannot be removed; delete the whole entry instead"
                    .into(),
            ));
        }
        let entry = self.entry_mut(path)?;
        for k in keys {
            entry.remove(k);
        }
        self.refresh();
        Ok(())
    }

    /// The edited text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Write atomically (temp file in the same folder + rename). The result must still load.
    pub fn save(&self) -> Result<(), PolicyError> {
        // A bad edit must never land: validate exactly the bytes about to be written.
        crate::parse(&self.text, &self.path, &self.repo_root)?;
        let write_err = |source: std::io::Error| PolicyError::Write {
            path: self.path.clone(),
            source,
        };
        crate::atomic::write_atomically(&self.path, self.text.as_bytes()).map_err(write_err)?;
        Ok(())
    }
}
