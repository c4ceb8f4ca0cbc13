//! The working tree's files as candidates: what `gate-precommit --all` judges and what
//! `gate-approve baseline` registers.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gate_policy::Policy;
use walkdir::{DirEntry, WalkDir};

use crate::Error;
use crate::detect::{self, Candidate, Kind, ScriptType, Verdict};
use crate::display::display_path;
use crate::index::StagedIndex;
use crate::scope::Paths;

fn rel_bytes(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root)
        .unwrap_or(path)
        .as_os_str()
        .as_bytes()
        .to_vec()
}

fn walk_error(e: walkdir::Error) -> Error {
    let path = e
        .path()
        .map_or_else(|| "?".into(), |p| p.display().to_string());
    Error::Read {
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
        let p = Path::new(OsStr::from_bytes(rel));
        index.get(rel).is_none() && repo.is_path_ignored(p).unwrap_or(false)
    }
}

impl std::fmt::Debug for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ignored")
            .field("in_a_repository", &self.repo.is_some())
            .finish()
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

/// One working tree under one policy, with the path predicates built once.
#[derive(Debug)]
pub struct Worktree<'p> {
    root: PathBuf,
    policy: &'p Policy,
    paths: Paths,
    ignored: Ignored,
    migrations_dir: PathBuf,
}

impl<'p> Worktree<'p> {
    pub fn new(root: &Path, policy: &'p Policy) -> Self {
        let paths = Paths::new(policy, root);
        let migrations_dir = root.join(OsStr::from_bytes(
            &paths.migrations_prefix[..paths.migrations_prefix.len() - 1],
        ));
        Worktree {
            root: root.to_path_buf(),
            policy,
            ignored: Ignored::new(root),
            paths,
            migrations_dir,
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The migrations folder (`migrations.path`) as an absolute path.
    pub fn migrations_dir(&self) -> &Path {
        &self.migrations_dir
    }

    /// Whether the scans leave `raw` alone: `emergency.ignore` globs, the migrations folder,
    /// the gates' own files, and files git ignores and does not track.
    pub fn skips(&self, raw: &[u8], rel: &str) -> bool {
        self.policy.emergency.is_ignored(rel)
            || self.paths.in_migrations(raw)
            || self.paths.is_gate_file(raw)
            || self.ignored.skip(raw)
    }

    /// `.git` is a folder in a checkout and a file in a linked worktree or submodule; the
    /// migrations folder belongs to the chain's rules (G003/G004), not to these.
    fn keep(&self, e: &DirEntry) -> bool {
        e.file_name() != ".git" && !(e.file_type().is_dir() && e.path() == self.migrations_dir)
    }

    fn candidate(&self, entry: &DirEntry, in_scope: bool) -> Result<Candidate, Error> {
        let raw = rel_bytes(&self.root, entry.path());
        let kind = kind_of(entry.file_type());
        let size = if kind == Kind::File {
            entry.metadata().map_err(walk_error)?.len()
        } else {
            0
        };
        Ok(Candidate {
            rel: String::from_utf8_lossy(&raw).into_owned(),
            raw,
            kind,
            size,
            in_scope,
        })
    }

    /// Every file under the `emergency.scope` folders that the scans do not skip (see
    /// [`Worktree::skips`]), as a candidate in scope, in file-name order, without following
    /// symlinks. A file under two scopes comes twice.
    pub fn scope_files<E: From<Error>>(
        &self,
        f: &mut dyn FnMut(Candidate) -> Result<(), E>,
    ) -> Result<(), E> {
        for scope in &self.policy.emergency.scope {
            let dir = self.root.join(&scope.dir);
            if !dir.is_dir() {
                continue;
            }
            let walker = WalkDir::new(&dir)
                .min_depth(1)
                .max_depth(if scope.recursive { usize::MAX } else { 1 })
                .follow_links(false)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| self.keep(e));
            for entry in walker {
                let entry = entry.map_err(walk_error)?;
                if entry.file_type().is_dir() {
                    continue;
                }
                let c = self.candidate(&entry, true)?;
                if !self.skips(&c.raw, &c.rel) {
                    f(c)?;
                }
            }
        }
        Ok(())
    }

    /// Files in the migrations folder that are no migration by the chain's own rules
    /// (`gate_chain::is_chain_file`: a shell script, a `.py` without `revision =`), as
    /// candidates in scope whatever `emergency.scope` says: nothing replays them, so they are
    /// judged like scripts anywhere else. `emergency.ignore`, the gates' own files, the
    /// lockfile and untracked files git ignores are left out, as elsewhere.
    pub fn non_revision_files<E: From<Error>>(
        &self,
        f: &mut dyn FnMut(Candidate) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.migrations_dir.is_dir() {
            return Ok(());
        }
        let walker = WalkDir::new(&self.migrations_dir)
            .min_depth(1)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.file_name() != "__pycache__");
        for entry in walker {
            let entry = entry.map_err(walk_error)?;
            if entry.file_type().is_dir() {
                continue;
            }
            let c = self.candidate(&entry, true)?;
            if self.policy.emergency.is_ignored(&c.rel)
                || self.paths.is_gate_file(&c.raw)
                || c.raw == self.paths.lockfile
                || self.ignored.skip(&c.raw)
            {
                continue;
            }
            // The chain follows symlinks when it reads the folder; a dangling link or a
            // FIFO holds no revision.
            let chain = gate_chain::is_chain_file(self.policy, &c.rel, || match c.kind {
                Kind::File => std::fs::read(entry.path()).map_err(|source| Error::Read {
                    path: display_path(&c.raw),
                    source,
                }),
                Kind::Symlink => Ok(std::fs::read(entry.path()).unwrap_or_default()),
                Kind::Special => Ok(Vec::new()),
            })?;
            if !chain {
                f(c)?;
            }
        }
        Ok(())
    }

    /// The file at a registered path (`rel`, repository-relative), if one is there and it is
    /// not a folder. Not filtered by [`Worktree::skips`].
    pub fn file_at(&self, rel: &str) -> Option<Candidate> {
        let meta = std::fs::symlink_metadata(self.root.join(rel)).ok()?;
        if meta.is_dir() {
            return None;
        }
        let raw = rel.as_bytes().to_vec();
        Some(Candidate {
            in_scope: self.paths.in_scope(&raw),
            rel: rel.to_string(),
            kind: kind_of(meta.file_type()),
            size: meta.len(),
            raw,
        })
    }

    /// A candidate's content: a file's bytes, or a symlink's target text (what git stores
    /// for a link; hashing it never follows the link). FIFOs, sockets and devices are never
    /// opened, since opening a FIFO blocks.
    pub fn load(&self, c: &Candidate) -> Result<Vec<u8>, Error> {
        let path = self.root.join(OsStr::from_bytes(&c.raw));
        let err = |source| Error::Read {
            path: display_path(&c.raw),
            source,
        };
        match c.kind {
            Kind::File => std::fs::read(&path).map_err(err),
            Kind::Symlink => std::fs::read_link(&path)
                .map(|t| t.as_os_str().as_bytes().to_vec())
                .map_err(err),
            Kind::Special => Err(err(std::io::Error::other(
                "not a regular file (FIFO, socket or device); remove it or list it in emergency.ignore",
            ))),
        }
    }
}

/// Repository-relative paths (with `/`) of files in the working tree that `gate-precommit
/// --all` rejects as unregistered emergency scripts (G001), in scope or in the migrations
/// folder without being a migration, sorted; paths as displayed, so a
/// name with control characters or non-UTF-8 bytes comes back escaped and quoted. Used by
/// `gate-approve baseline`.
pub fn unregistered_in_worktree(root: &Path, policy: &Policy) -> Result<Vec<String>, Error> {
    let wt = Worktree::new(root, policy);
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut judge = |c: Candidate| {
        if seen.insert(c.raw.clone())
            && let Verdict::Emergency(_) = detect::classify(policy, &c, &mut || wt.load(&c))?
        {
            found.push(display_path(&c.raw));
        }
        Ok::<(), Error>(())
    };
    wt.scope_files(&mut judge)?;
    wt.non_revision_files(&mut judge)?;
    found.sort();
    found.dedup();
    Ok(found)
}

/// Unregistered files outside every `emergency.scope` folder whose name matches
/// `emergency.names` and whose type makes them scripts (`emergency.extensions`, or a
/// shebang): what `--all` would reject if the scope were wider. Repository-relative display
/// paths, sorted. Used by `gate-approve baseline`.
pub fn scripts_outside_scope(root: &Path, policy: &Policy) -> Result<Vec<String>, Error> {
    let wt = Worktree::new(root, policy);
    let walker = WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| wt.keep(e));
    let mut found = Vec::new();
    for entry in walker {
        let entry = entry.map_err(walk_error)?;
        if entry.file_type().is_dir() {
            continue;
        }
        let raw = rel_bytes(root, entry.path());
        let rel = String::from_utf8_lossy(&raw);
        // Cheap tests first: most of a large tree fails the name patterns.
        if wt.paths.in_scope(&raw)
            || !policy.emergency.name_matches(&rel)
            || policy.emergency.script(&rel).is_some()
            || policy.emergency.is_ignored(&rel)
            || wt.paths.is_gate_file(&raw)
            || wt.ignored.skip(&raw)
        {
            continue;
        }
        let c = wt.candidate(&entry, false)?;
        let script = detect::script_type(policy, &c, &mut || wt.load(&c))?;
        if !matches!(script, ScriptType::Not) {
            found.push(display_path(&c.raw));
        }
    }
    found.sort();
    Ok(found)
}
