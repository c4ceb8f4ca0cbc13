//! `gate-replay snapshot`: replay to head and write `replay.snapshot` (canonical JSON),
//! atomically, so a crash never leaves a half-written expected schema behind.

use std::io::Write as _;
use std::path::Path;

use gate_schema::Snapshot;

/// Write `snapshot` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(snapshot.to_canonical_json().as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
