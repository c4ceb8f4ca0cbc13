//! `--all`: the same rules over the working tree, for CI (catches `git commit --no-verify`).

use std::collections::{BTreeMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gate_policy::Policy;
use gate_report::{CheckRun, Code, Finding};
use gate_scripts::{Candidate, Worktree, display_path};
use walkdir::WalkDir;

use crate::judge;
use crate::{Outcome, ScanError};

pub fn scan(root: &Path, policy: &Policy) -> Result<Outcome, ScanError> {
    let wt = Worktree::new(root, policy);
    let mut seen = HashSet::new();
    let mut out = Outcome::default();

    // `count`: files in the migrations folder are already counted by the lockfile check.
    let mut judge_one = |c: Candidate, out: &mut Outcome, count: bool| {
        if !seen.insert(c.raw.clone()) {
            return Ok(());
        }
        out.checked += usize::from(count);
        if let Some(f) = judge::judge(policy, &c, &mut || Ok(wt.load(&c)?), &mut out.checks)? {
            out.findings.push(f);
        }
        Ok::<(), ScanError>(())
    };

    wt.scope_files(&mut |c| judge_one(c, &mut out, true))?;
    // Whatever sits in the migrations folder without being a migration is replayed by
    // nothing: judged as a script there, whatever `emergency.scope` says.
    wt.non_revision_files(&mut |c| judge_one(c, &mut out, false))?;

    // Registered scripts outside every scope still must match their approved content.
    for script in &policy.emergency.scripts {
        // A missing registered file is gate-approve's A006.
        let Some(c) = wt.file_at(&script.path) else {
            continue;
        };
        if !wt.skips(&c.raw, &c.rel) {
            judge_one(c, &mut out, true)?;
        }
    }

    let (findings, read) = lock_check(root, policy, wt.migrations_dir(), &mut out.checks)?;
    out.findings.extend(findings);
    out.checked += read;
    Ok(out)
}

/// G003/G004 over the working tree's lockfile and migrations folder, and how many files
/// that read.
fn lock_check(
    root: &Path,
    policy: &Policy,
    migrations_dir: &Path,
    checks: &mut Vec<CheckRun>,
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
            let raw = entry
                .path()
                .strip_prefix(root)
                .unwrap_or(entry.path())
                .as_os_str()
                .as_bytes();
            let content = std::fs::read(entry.path()).map_err(|source| ScanError::Read {
                path: display_path(raw),
                source,
            })?;
            files.insert(String::from_utf8_lossy(raw).into_owned(), content);
        }
    }
    let read = files.len() + usize::from(lock.is_some());
    crate::lock_checks(policy, &files, checks);
    Ok((
        gate_chain::lock_findings(policy, lock.as_deref(), &files)?,
        read,
    ))
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

/// G005 for `--all`: the working tree lacks the lockfile that HEAD has. (Re-pins in history
/// are gate-approve's G005; this is the one walk-around visible without history.)
pub fn lock_missing(
    repo: &git2::Repository,
    root: &Path,
    policy: &Policy,
) -> Result<Option<Finding>, ScanError> {
    let rel = policy.migrations.lockfile.trim_start_matches("./");
    let Some(head) = crate::staged::head_tree(repo)? else {
        return Ok(None);
    };
    if head.get_path(Path::new(rel)).is_err() || root.join(rel).exists() {
        return Ok(None);
    }
    Ok(Some(
        Finding::new(
            Code::G005,
            format!("{rel} is missing from the working tree but HEAD has it: released migrations are no longer pinned"),
        )
        .at(rel.to_string())
        .help(format!(
            "restore it: `git checkout HEAD -- {rel}`; replacing the lockfile is committed by a listed approver with the `{}:` trailer",
            policy.governance.trailer
        )),
    ))
}
