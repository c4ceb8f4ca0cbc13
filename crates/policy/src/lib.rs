//! `policy.toml`: the typed model every gate reads, loading with line:column diagnostics,
//! and comment-preserving edits.

pub mod atomic;
pub mod edit;
mod model;
mod render;
mod validate;

pub use model::*;

/// Lower-case hex SHA-256 of `bytes`: the form of a registry entry's `sha256` and of
/// `migrations.lock`'s content hashes. The one content hash of the workspace.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

use std::path::{Path, PathBuf};

/// One problem in a policy file, located for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The policy file as the user named it.
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, not just the first. `rendered` is compiler-style output with the
    /// TOML excerpt and a caret.
    #[error("{rendered}")]
    Invalid {
        diagnostics: Vec<Diagnostic>,
        rendered: String,
    },
    #[error("cannot write policy file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Edit(String),
}

/// Load and validate the policy at `path`. `repo_root` is used to reject paths that leave
/// the repository.
pub fn load(path: &Path, repo_root: &Path) -> Result<Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, repo_root)
}

/// Parse and validate policy text (the file name is only used in diagnostics). All problems
/// are collected before failing: a malformed file yields the TOML parser's error; a
/// well-formed one yields every unknown key, wrong type and invalid value at once.
pub fn parse(text: &str, file: &Path, repo_root: &Path) -> Result<Policy, PolicyError> {
    let root = match toml::de::DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let problem = validate::Problem {
                span: e.span(),
                message: format!("invalid TOML: {}", e.message().trim_end()),
                label: e.message().trim_end().to_string(),
                notes: Vec::new(),
                secondary: None,
            };
            return Err(render::invalid(text, file, vec![problem]));
        }
    };
    validate::validate(text, &root, file, repo_root)
        .map_err(|problems| render::invalid(text, file, problems))
}
