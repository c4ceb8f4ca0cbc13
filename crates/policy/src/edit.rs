//! Comment-preserving, atomic edits of policy.toml (registry entries). (Skeleton.)

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::PolicyError;

/// A value written into a registry entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditValue {
    Str(String),
    /// Written as a TOML local date (`approved-on = 2025-09-20`).
    Date(NaiveDate),
}

/// policy.toml opened for editing with toml_edit: comments and layout survive.
#[derive(Debug)]
pub struct PolicyEditor {
    path: PathBuf,
    text: String,
}

impl PolicyEditor {
    pub fn open(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(PolicyEditor {
            path: path.to_path_buf(),
            text,
        })
    }

    /// Append a new `[[emergency.script]]` entry with `path` and `fields` (kebab-case keys,
    /// in the given order). Errors if `path` is already registered.
    pub fn add_script(
        &mut self,
        path: &str,
        fields: &[(&str, EditValue)],
    ) -> Result<(), PolicyError> {
        let _ = (path, fields);
        Err(PolicyError::Edit("not implemented".into()))
    }

    /// Set (insert or replace) fields of the entry for `path`. Errors if not registered.
    pub fn set_fields(
        &mut self,
        path: &str,
        fields: &[(&str, EditValue)],
    ) -> Result<(), PolicyError> {
        let _ = (path, fields);
        Err(PolicyError::Edit("not implemented".into()))
    }

    /// Remove fields (if present) from the entry for `path`.
    pub fn remove_fields(&mut self, path: &str, keys: &[&str]) -> Result<(), PolicyError> {
        let _ = (path, keys);
        Err(PolicyError::Edit("not implemented".into()))
    }

    /// The edited text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Write atomically (temp file in the same folder + rename). The result must still load.
    pub fn save(&self) -> Result<(), PolicyError> {
        Err(PolicyError::Write {
            path: self.path.clone(),
            source: std::io::Error::other("not implemented"),
        })
    }
}
