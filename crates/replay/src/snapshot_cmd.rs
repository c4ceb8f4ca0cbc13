//! `gate-replay snapshot`: replay to head and write `replay.snapshot` (canonical JSON),
//! atomically, so a crash never leaves a half-written expected schema behind.

use std::path::Path;

use gate_schema::Snapshot;

/// Write `snapshot` to `path` atomically (see `gate_policy::atomic`).
pub fn write_atomically(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    gate_policy::atomic::write_atomically(path, snapshot.to_canonical_json().as_bytes())
}
