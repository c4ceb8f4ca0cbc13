//! Migration discovery (Alembic, SQL folders) into one `RevisionGraph`, chain checks
//! C001–C006, and `migrations.lock`. (Skeleton: filled in by the migration-chain issue.)

use std::collections::BTreeMap;

use gate_policy::Policy;
use gate_report::Finding;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The lockfile is unreadable, hand-edited (header hash mismatch) or of another kind.
    #[error("{path}:{line}: {message}")]
    Lockfile {
        path: String,
        line: u32,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Lockfile checks G003 (released migration edited or deleted) and G004 (new migration
/// ordered before the last released one).
///
/// `lock_text` is the content of `policy.migrations.lockfile` (None when there is no lockfile:
/// nothing is released yet, so no findings). `files` maps every repository-relative path under
/// `policy.migrations.path` to its content — staged content for gate-precommit, the working
/// tree for gate-replay.
pub fn lock_findings(
    policy: &Policy,
    lock_text: Option<&[u8]>,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<Finding>, ChainError> {
    let _ = (policy, lock_text, files);
    Ok(Vec::new())
}
