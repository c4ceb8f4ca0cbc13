//! `--all`: the same rules over the working tree, for CI (catches `git commit --no-verify`).

use std::collections::{BTreeMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gate_policy::Policy;
use gate_report::Finding;
use walkdir::WalkDir;

use crate::index::StagedIndex;
use crate::judge::{self, Candidate, Kind};
use crate::scope::Paths;
use crate::{Outcome, ScanError};

fn rel_bytes(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root)
        .unwrap_or(path)
        .as_os_str()
        .as_bytes()
        .to_vec()
}

fn walk_error(e: walkdir::Error) -> ScanError {
    let path = e
        .path()
        .map_or_else(|| "?".into(), |p| p.display().to_string());
    ScanError::Read {
        path,
        source: e
            .into_io_error()
            .unwrap_or_else(|| std::io::Error::other("filesystem loop")),
    }
}

/// Files git would not track (`.gitignore`d and not in the index) are not scripts anyone can
/// commit; skipping them keeps local `--all` runs quiet about build output.
struct Ignored {
    repo: Option<(git2::Repository, StagedIndex)>,
}

impl Ignored {
    fn new(root: &Path) -> Self {
        let repo = git2::Repository::open(root).ok().and_then(|r| {
            let index = StagedIndex::open(&r.path().join("index")).ok()?;
            Some((r, index))
        });
        Ignored { repo }
    }

    fn skip(&self, rel: &[u8]) -> bool {
        let Some((repo, index)) = &self.repo else {
            return false;
        };
        let p = Path::new(std::ffi::OsStr::from_bytes(rel));
        index.get(rel).is_none() && repo.is_path_ignored(p).unwrap_or(false)
    }
}

fn kind_of(ft: std::fs::FileType) -> Kind {
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Special
    }
}

fn load(root: &Path, raw: &[u8], kind: Kind) -> Result<Vec<u8>, ScanError> {
    let path = root.join(std::ffi::OsStr::from_bytes(raw));
    let err = |source| ScanError::Read {
        path: judge::display_path(raw),
        source,
    };
    match kind {
        Kind::File => std::fs::read(&path).map_err(err),
        // What git stores for a link is its target text; hashing that never follows it.
        Kind::Symlink => std::fs::read_link(&path)
            .map(|t| t.as_os_str().as_bytes().to_vec())
            .map_err(err),
        Kind::Special => Err(err(std::io::Error::other(
            "not a regular file (FIFO, socket or device); remove it or list it in emergency.ignore",
        ))),
    }
}

pub fn scan(root: &Path, policy: &Policy) -> Result<Outcome, ScanError> {
    let paths = Paths::new(policy, root);
    let ignored = Ignored::new(root);
    let mut seen = HashSet::new();
    let mut out = Outcome::default();
    let migrations_dir = root.join(std::ffi::OsStr::from_bytes(
        &paths.migrations_prefix[..paths.migrations_prefix.len() - 1],
    ));

    let mut judge_one = |raw: Vec<u8>, kind: Kind, size: u64, in_scope: bool, out: &mut Outcome| {
        if !seen.insert(raw.clone()) {
            return Ok(());
        }
        let rel = String::from_utf8_lossy(&raw).into_owned();
        if policy.emergency.is_ignored(&rel)
            || paths.in_migrations(&raw)
            || paths.is_gate_file(&raw)
            || ignored.skip(&raw)
        {
            return Ok(());
        }
        let c = Candidate {
            rel,
            kind,
            size,
            in_scope,
            raw,
        };
        out.checked += 1;
        if let Some(f) = judge::judge(policy, &c, &mut || load(root, &c.raw, kind))? {
            out.findings.push(f);
        }
        Ok::<(), ScanError>(())
    };

    for scope in &policy.emergency.scope {
        let dir = root.join(&scope.dir);
        if !dir.is_dir() {
            continue;
        }
        let walker = WalkDir::new(&dir)
            .min_depth(1)
            .max_depth(if scope.recursive { usize::MAX } else { 1 })
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            // `.git` is a folder in a checkout and a file in a linked worktree or submodule.
            .filter_entry(|e| {
                e.file_name() != ".git" && !(e.file_type().is_dir() && e.path() == migrations_dir)
            });
        for entry in walker {
            let entry = entry.map_err(walk_error)?;
            if entry.file_type().is_dir() {
                continue;
            }
            let kind = kind_of(entry.file_type());
            let size = if kind == Kind::File {
                entry.metadata().map_err(walk_error)?.len()
            } else {
                0
            };
            judge_one(rel_bytes(root, entry.path()), kind, size, true, &mut out)?;
        }
    }

    // Registered scripts outside every scope still must match their approved content.
    for script in &policy.emergency.scripts {
        let path = root.join(&script.path);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue; // a missing registered file is gate-approve's A006
        };
        if meta.is_dir() {
            continue;
        }
        let raw = script.path.as_bytes().to_vec();
        let in_scope = paths.in_scope(&raw);
        judge_one(
            raw,
            kind_of(meta.file_type()),
            meta.len(),
            in_scope,
            &mut out,
        )?;
    }

    let (findings, read) = lock_check(root, policy, &migrations_dir)?;
    out.findings.extend(findings);
    out.checked += read;
    Ok(out)
}

/// Unregistered files outside every `emergency.scope` folder whose name matches
/// `emergency.names` and whose type makes them scripts: what `--all` would reject if the scope
/// were wider. Repository-relative display paths, sorted.
pub fn outside_scope(root: &Path, policy: &Policy) -> Result<Vec<String>, ScanError> {
    let paths = Paths::new(policy, root);
    let ignored = Ignored::new(root);
    let migrations_dir = root.join(std::ffi::OsStr::from_bytes(
        &paths.migrations_prefix[..paths.migrations_prefix.len() - 1],
    ));
    let walker = WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.file_name() != ".git" && !(e.file_type().is_dir() && e.path() == migrations_dir)
        });
    let mut found = Vec::new();
    for entry in walker {
        let entry = entry.map_err(walk_error)?;
        if entry.file_type().is_dir() {
            continue;
        }
        let raw = rel_bytes(root, entry.path());
        let rel = String::from_utf8_lossy(&raw).into_owned();
        // Cheap tests first: most of a large tree fails the name patterns.
        if paths.in_scope(&raw)
            || !policy.emergency.name_matches(&rel)
            || policy.emergency.script(&rel).is_some()
            || policy.emergency.is_ignored(&rel)
            || paths.is_gate_file(&raw)
            || ignored.skip(&raw)
        {
            continue;
        }
        let kind = kind_of(entry.file_type());
        let size = if kind == Kind::File {
            entry.metadata().map_err(walk_error)?.len()
        } else {
            0
        };
        let c = Candidate {
            rel,
            kind,
            size,
            in_scope: false,
            raw,
        };
        let script = judge::script_type(policy, &c, &mut || load(root, &c.raw, kind))?;
        if !matches!(script, judge::ScriptType::Not) {
            found.push(judge::display_path(&c.raw));
        }
    }
    found.sort();
    Ok(found)
}

/// G003/G004 over the working tree's lockfile and migrations folder, and how many files
/// that read.
fn lock_check(
    root: &Path,
    policy: &Policy,
    migrations_dir: &Path,
) -> Result<(Vec<Finding>, usize), ScanError> {
    let lockfile = root.join(&policy.migrations.lockfile);
    let lock = match std::fs::read(&lockfile) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ScanError::Read {
                path: policy.migrations.lockfile.clone(),
                source,
            });
        }
    };
    let mut files = BTreeMap::new();
    if migrations_dir.is_dir() {
        let walker = WalkDir::new(migrations_dir)
            .min_depth(1)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| e.file_name() != "__pycache__");
        for entry in walker {
            let entry = entry.map_err(walk_error)?;
            if !entry.file_type().is_file() {
                continue;
            }
            let raw = rel_bytes(root, entry.path());
            let content = std::fs::read(entry.path()).map_err(|source| ScanError::Read {
                path: judge::display_path(&raw),
                source,
            })?;
            files.insert(String::from_utf8_lossy(&raw).into_owned(), content);
        }
    }
    let read = files.len() + usize::from(lock.is_some());
    Ok((
        gate_chain::lock_findings(policy, lock.as_deref(), &files)?,
        read,
    ))
}
