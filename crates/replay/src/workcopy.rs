//! A throw-away copy of the work tree for fix commands. Real fixes write
//! `backup_info_*.txt`, logs and caches into the folder they run in; none of that may land in
//! the user's tree. The copy holds what git would see (tracked files and untracked ones that
//! are not ignored), so a fix finds the modules and files it imports; what it writes is
//! reported and removed with the copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A temporary copy of the repository's files; removed on drop.
#[derive(Debug)]
pub(crate) struct WorkCopy {
    dir: tempfile::TempDir,
    /// Each copied file's [`Stat`] right after copying.
    copied: BTreeMap<PathBuf, Stat>,
}

impl WorkCopy {
    pub(crate) fn new(root: &Path) -> std::io::Result<WorkCopy> {
        let dir = tempfile::Builder::new().prefix("gate-fix-").tempdir()?;
        let mut copied = BTreeMap::new();
        for rel in listed_files(root)? {
            // Listed by git but deleted in the work tree, or not a file: not copied.
            if let Some(stat) = copy_one(root, dir.path(), &rel)? {
                copied.insert(rel, stat);
            }
        }
        Ok(WorkCopy { dir, copied })
    }

    /// An empty folder, for a fix that runs no command (`sql =` and no rollback): nothing
    /// runs in it, so the tree is not copied (a quarter of a second per fix on a loaded
    /// machine).
    pub(crate) fn empty() -> std::io::Result<WorkCopy> {
        Ok(WorkCopy {
            dir: tempfile::Builder::new().prefix("gate-fix-").tempdir()?,
            copied: BTreeMap::new(),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Back to the state right after copying, for the next command to run in: what a command
    /// wrote is removed, copied files it changed or removed are copied again from `root`
    /// (unchanged since: a replay does not write the user's tree). One copy then serves the
    /// commands of many fixes one after another, each seeing what a new copy shows; only
    /// Python's bytecode cache is kept (the interpreter's, and the same files'). Listing and
    /// copying the tree is most of a short fix's own start.
    pub(crate) fn restore(&mut self, root: &Path) -> std::io::Result<()> {
        let kept: std::collections::BTreeSet<&Path> = self
            .copied
            .keys()
            .flat_map(|rel| rel.ancestors().skip(1))
            .collect();
        let mut again = Vec::new();
        for entry in walkdir::WalkDir::new(self.dir.path())
            .min_depth(1)
            .contents_first(true)
        {
            let entry = entry?;
            let Ok(rel) = entry.path().strip_prefix(self.dir.path()) else {
                continue;
            };
            if rel.components().any(|c| c.as_os_str() == "__pycache__") {
                continue;
            }
            if entry.file_type().is_dir() {
                if !kept.contains(rel) {
                    std::fs::remove_dir_all(entry.path())?;
                }
                continue;
            }
            let now = Stat::of(&entry.path().symlink_metadata()?);
            match self.copied.get(rel) {
                Some(before) if *before == now => {}
                Some(_) => {
                    std::fs::remove_file(entry.path())?;
                    again.push(rel.to_path_buf());
                }
                None => std::fs::remove_file(entry.path())?,
            }
        }
        again.extend(
            self.copied
                .keys()
                .filter(|rel| self.dir.path().join(rel).symlink_metadata().is_err())
                .cloned(),
        );
        for rel in again {
            match copy_one(root, self.dir.path(), &rel)? {
                Some(stat) => self.copied.insert(rel, stat),
                None => self.copied.remove(&rel),
            };
        }
        Ok(())
    }

    /// Files created or changed in the copy since it was made, relative, sorted.
    pub(crate) fn written(&self) -> Vec<String> {
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(self.dir.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
        {
            let Ok(rel) = entry.path().strip_prefix(self.dir.path()) else {
                continue;
            };
            // Python's bytecode cache is the interpreter's, not the fix's doing.
            if rel.components().any(|c| c.as_os_str() == "__pycache__") {
                continue;
            }
            let now = entry.metadata().ok().map(|m| Stat::of(&m));
            match self.copied.get(rel) {
                Some(before) if Some(*before) == now => {}
                _ => out.push(rel.to_string_lossy().replace('\\', "/")),
            }
        }
        out.sort();
        out
    }
}

/// What tells a file in the copy changed since it was copied: a command that rewrites,
/// truncates, touches or chmods it changes one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    len: u64,
    modified: Option<SystemTime>,
    mode: u32,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::PermissionsExt as _;
        Stat {
            len: meta.len(),
            modified: meta.modified().ok(),
            mode: meta.permissions().mode(),
        }
    }
}

/// Copy `rel` from `root` into `dir` (a symlink as a symlink): its [`Stat`] in the copy,
/// `None` when `root` holds no file or symlink there.
fn copy_one(root: &Path, dir: &Path, rel: &Path) -> std::io::Result<Option<Stat>> {
    let from = root.join(rel);
    let to = dir.join(rel);
    let Ok(meta) = std::fs::symlink_metadata(&from) else {
        return Ok(None);
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
    } else if meta.is_file() {
        std::fs::copy(&from, &to)?;
    } else {
        return Ok(None);
    }
    Ok(Some(Stat::of(&std::fs::symlink_metadata(&to)?)))
}

/// What git sees in the work tree: tracked files plus untracked ones that are not ignored.
/// Outside a git work tree (or without git), every file except `.git` and `target`.
fn listed_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output();
    if let Ok(o) = out
        && o.status.success()
    {
        use std::os::unix::ffi::OsStrExt as _;
        let mut v: Vec<PathBuf> = o
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
            .collect();
        v.dedup();
        return Ok(v);
    }
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git" && e.file_name() != "target")
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
    {
        if let Ok(rel) = e.path().strip_prefix(root) {
            v.push(rel.to_path_buf());
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A work tree with a fix, a module it imports and a script beside it.
    fn repo() -> tempfile::TempDir {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("fix.py"), "print(1)\n").unwrap();
        std::fs::create_dir(repo.path().join("app")).unwrap();
        std::fs::write(repo.path().join("app/settings.py"), "X = 1\n").unwrap();
        std::fs::write(repo.path().join("run.sh"), "echo\n").unwrap();
        repo
    }

    #[test]
    fn what_a_fix_writes_stays_in_the_copy_and_is_reported() {
        let repo = repo();
        let copy = WorkCopy::new(repo.path()).unwrap();
        assert!(copy.root().join("app/settings.py").is_file());
        assert!(copy.written().is_empty());
        std::fs::write(copy.root().join("backup_info_1.txt"), "x").unwrap();
        std::fs::write(copy.root().join("fix.py"), "print(22)\n").unwrap();
        assert_eq!(copy.written(), vec!["backup_info_1.txt", "fix.py"]);
        assert!(!repo.path().join("backup_info_1.txt").exists());
        assert_eq!(
            std::fs::read_to_string(repo.path().join("fix.py")).unwrap(),
            "print(1)\n"
        );
    }

    #[test]
    fn a_restored_copy_shows_the_next_command_what_a_new_copy_would() {
        let repo = repo();
        let mut copy = WorkCopy::new(repo.path()).unwrap();
        // One command writes a file in a new folder, rewrites one and deletes another.
        std::fs::create_dir_all(copy.root().join("backups/2026")).unwrap();
        std::fs::write(copy.root().join("backups/2026/users.csv"), "1,a\n").unwrap();
        std::fs::write(copy.root().join("fix.py"), "print(333)\n").unwrap();
        std::fs::remove_file(copy.root().join("app/settings.py")).unwrap();
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        // And only makes one executable: same length, same time.
        let before = mode(&repo.path().join("run.sh"));
        std::fs::set_permissions(
            copy.root().join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::create_dir(copy.root().join("app/__pycache__")).unwrap();
        copy.restore(repo.path()).unwrap();
        assert!(!copy.root().join("backups").exists());
        assert_eq!(
            std::fs::read_to_string(copy.root().join("fix.py")).unwrap(),
            "print(1)\n"
        );
        assert!(copy.root().join("app/settings.py").is_file());
        assert_eq!(mode(&copy.root().join("run.sh")), before);
        assert!(copy.written().is_empty(), "{:?}", copy.written());
        // What the next command writes is its own.
        std::fs::write(copy.root().join("log.txt"), "x").unwrap();
        assert_eq!(copy.written(), vec!["log.txt"]);
    }
}
