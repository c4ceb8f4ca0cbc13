//! `gate-precommit install`: write the pre-commit hook where git will actually run it.

use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Recognises hooks this command wrote, so reinstalling updates them and foreign hooks are
/// left alone.
pub const MARKER: &str = "# gate-precommit: managed hook";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot read git configuration: {0}")]
    Config(#[source] git2::Error),
    #[error(
        "{} exists and was not written by gate-precommit; move it aside (or call gate-precommit from it), or rerun with --force to replace it",
        .0.display()
    )]
    Foreign(PathBuf),
    #[error("cannot write the hook {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    Created(PathBuf),
    Updated(PathBuf),
    Unchanged(PathBuf),
    Replaced(PathBuf),
}

/// The folder git runs hooks from: `core.hooksPath` (relative to the work tree, as git
/// resolves it for hooks), else `hooks` in the common git dir, so a linked worktree shares
/// the main checkout's hooks the way git does.
pub fn hooks_dir(repo: &git2::Repository, root: &Path) -> Result<PathBuf, InstallError> {
    let config = repo.config().map_err(InstallError::Config)?;
    match config.get_path("core.hooksPath") {
        Ok(p) if p.is_absolute() => Ok(p),
        Ok(p) => Ok(root.join(p)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(repo.commondir().join("hooks")),
        Err(e) => Err(InstallError::Config(e)),
    }
}

fn sh_single_quote(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in bytes {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The hook text: the absolute path of this binary first (so it works without PATH set up,
/// e.g. in GUIs), else `gate-precommit` from PATH, else a clear refusal.
pub fn hook_text(exe: Option<&Path>) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"#!/bin/sh\n");
    s.extend_from_slice(MARKER.as_bytes());
    s.extend_from_slice(b" (written by `gate-precommit install`; rerun it to update)\n");
    s.extend_from_slice(
        b"# Rejects unregistered emergency scripts and edits to released migrations.\n",
    );
    if let Some(exe) = exe {
        s.extend_from_slice(b"gate=");
        s.extend_from_slice(&sh_single_quote(exe.as_os_str().as_bytes()));
        s.extend_from_slice(b"\nif [ -x \"$gate\" ]; then exec \"$gate\"; fi\n");
    }
    s.extend_from_slice(
        b"if command -v gate-precommit >/dev/null 2>&1; then exec gate-precommit; fi\n\
echo 'gate-precommit: binary not found (moved or uninstalled); install it with `cargo install --path <migration-gate checkout>` or remove this hook' >&2\n\
exit 2\n",
    );
    s
}

pub fn install(
    repo: &git2::Repository,
    root: &Path,
    force: bool,
) -> Result<Installed, InstallError> {
    let dir = hooks_dir(repo, root)?;
    let hook = dir.join("pre-commit");
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.canonicalize().unwrap_or(p));
    let text = hook_text(exe.as_deref());
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Write { path, source }
    };
    let existing = match std::fs::read(&hook) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(write_err(&hook)(e)),
    };
    let ours = existing
        .as_deref()
        .is_some_and(|t| t.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
    if existing.is_some() && !ours && !force {
        return Err(InstallError::Foreign(hook));
    }
    let executable = std::fs::metadata(&hook).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if existing.as_deref() == Some(&text[..]) && executable {
        return Ok(Installed::Unchanged(hook));
    }
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    // Temp file + rename: a half-written hook must never run.
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(write_err(&dir))?;
    tmp.write_all(&text).map_err(write_err(&hook))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(write_err(&hook))?;
    tmp.persist(&hook).map_err(|e| write_err(&hook)(e.error))?;
    Ok(match (existing.is_some(), ours) {
        (false, _) => Installed::Created(hook),
        (true, true) => Installed::Updated(hook),
        (true, false) => Installed::Replaced(hook),
    })
}
