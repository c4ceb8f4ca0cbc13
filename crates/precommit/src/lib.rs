//! `gate-precommit` (skeleton).

use std::path::Path;
use std::process::ExitCode;

use gate_policy::Policy;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Other(String),
}

/// Repository-relative paths (with `/`) of files in the working tree that `gate-precommit
/// --all` rejects as unregistered emergency scripts (G001), sorted. Used by
/// `gate-approve baseline`.
pub fn unregistered_in_worktree(root: &Path, policy: &Policy) -> Result<Vec<String>, ScanError> {
    let _ = (root, policy);
    Ok(Vec::new())
}

/// Entry point of the `gate-precommit` binary.
pub fn main() -> ExitCode {
    eprintln!("gate-precommit: not implemented yet");
    ExitCode::from(2)
}
