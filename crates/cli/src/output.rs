//! `--output FORMAT=FILE`: extra formats written in the same run, each atomically (a temp file
//! in the target's folder, renamed over it), so a reader never sees half a report.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use gate_report::Format;

/// One `--output FORMAT=FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTarget {
    pub format: Format,
    pub path: PathBuf,
}

impl std::str::FromStr for OutputTarget {
    type Err = String;

    /// `sarif=out/gate.sarif`. The clap error names the flag; this text names the problem.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((format, path)) = s.split_once('=') else {
            return Err(format!(
                "`{s}` is not FORMAT=FILE (e.g. sarif=gate.sarif); FORMAT is text, json, markdown, github, sarif or junit"
            ));
        };
        let format: Format = format.trim().parse()?;
        if path.is_empty() {
            return Err(format!("`{s}` names no file after `=`"));
        }
        Ok(OutputTarget {
            format,
            path: PathBuf::from(path),
        })
    }
}

impl OutputTarget {
    /// Fail before any check runs when the file could not be written: its folder must exist
    /// and take a new file (the temp file the atomic write needs), and the path must not be
    /// a folder.
    pub fn check_writable(&self) -> anyhow::Result<()> {
        if self.path.is_dir() {
            anyhow::bail!(
                "--output {}={}: is a folder, not a file",
                self.format,
                self.path.display()
            );
        }
        let dir = folder_of(&self.path);
        if !dir.is_dir() {
            anyhow::bail!(
                "--output {}={}: the folder {} does not exist",
                self.format,
                self.path.display(),
                dir.display()
            );
        }
        tempfile::NamedTempFile::new_in(&dir).map_err(|e| {
            anyhow::anyhow!(
                "--output {}={}: cannot write in the folder {} ({e})",
                self.format,
                self.path.display(),
                dir.display()
            )
        })?;
        Ok(())
    }

    /// Write `bytes` to the target atomically.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        write_atomically(&self.path, bytes).map_err(|e| {
            anyhow::anyhow!(
                "--output {}={}: cannot write the file ({e})",
                self.format,
                self.path.display()
            )
        })
    }
}

/// The folder a file goes in: `.` for a bare file name.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(folder_of(path))?;
    tmp.write_all(bytes)?;
    // A temp file is private (0600); a report is not a secret and CI steps may read it as
    // another user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
