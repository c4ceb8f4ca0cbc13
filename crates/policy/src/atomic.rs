//! Atomic writes for the files the gates write into a repository (policy.toml,
//! migrations.lock, schema.snapshot.json): a crash or a full disk never leaves half a file.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Write `bytes` to `path` through a temporary file in the same folder (so the rename is
/// atomic on one filesystem), then rename it over `path`. An existing file keeps its
/// permissions; a new one gets 0644, as a file created by `git checkout` would, rather than the
/// temporary file's private 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::Permissions::from_mode(0o644)
        }
        Err(e) => return Err(e),
    };
    let name = path
        .file_name()
        .map_or_else(|| "gate".into(), |n| n.to_string_lossy());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), permissions)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_0644_and_existing_files_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("schema.snapshot.json");
        write_atomically(&fresh, b"{}\n").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);

        let kept = dir.path().join("policy.toml");
        std::fs::write(&kept, "version = 1\n").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&kept, b"version = 1\n# edited\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap(),
            "version = 1\n# edited\n"
        );
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
