//! `--write`: the amended migrations (each recorded in the lockfile as an amendment), the new
//! consolidation migration, and the policy edits that mark the covered fixes converted.
//! All or nothing: every file touched is backed up first and restored if a later step fails.

use std::path::{Path, PathBuf};

use gate_policy::Policy;
use gate_policy::edit::{EditValue, PolicyEditor};

use super::Consolidation;
use crate::ctx::Settings;

/// Why `--write` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("cannot write {path}: {source}; nothing was written")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot record the amendment of {revision} in the lockfile: {source}; nothing was written"
    )]
    Lock {
        revision: String,
        #[source]
        source: gate_chain::ChainError,
    },
    #[error("cannot mark the fixes converted in policy.toml: {source}; nothing was written")]
    Policy {
        #[source]
        source: gate_policy::PolicyError,
    },
}

/// The files as they were before `--write`, to put back when a step fails.
struct Backup {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Backup {
    fn take(paths: &[PathBuf]) -> Backup {
        Backup {
            files: paths
                .iter()
                .map(|p| (p.clone(), std::fs::read(p).ok()))
                .collect(),
        }
    }

    fn restore(&self) {
        for (path, bytes) in &self.files {
            // Best effort: the error that stopped the write is what the user reads.
            let _ = match bytes {
                Some(b) => gate_policy::atomic::write_atomically(path, b),
                None => std::fs::remove_file(path),
            };
        }
    }
}

/// Write everything; the repository-relative files written, in order.
pub(crate) fn write_all(
    settings: &Settings,
    plan: &Consolidation,
) -> Result<Vec<String>, WriteError> {
    let root = &settings.root;
    let policy = &settings.policy;
    let mut touched: Vec<PathBuf> = plan
        .amendments
        .iter()
        .flat_map(|a| a.files())
        .chain(plan.new.files())
        .map(|(f, _)| root.join(f))
        .collect();
    touched.push(root.join(&policy.migrations.lockfile));
    touched.push(policy.file.clone());
    touched.push(root.join(&policy.replay.snapshot));
    let backup = Backup::take(&touched);
    let written = write_steps(root, policy, plan);
    if written.is_err() {
        backup.restore();
    }
    written
}

fn write_steps(
    root: &Path,
    policy: &Policy,
    plan: &Consolidation,
) -> Result<Vec<String>, WriteError> {
    let mut written = Vec::new();
    // One amendment at a time: the lockfile re-pins one edited migration per record.
    for a in &plan.amendments {
        for (file, text) in a.files() {
            write_file(root, file, text)?;
        }
        let fixes = a.fixes.join(", ");
        let lockfile = &policy.migrations.lockfile;
        if is_pinned(root, lockfile, &a.revision) {
            let reason = format!("guarded against emergency fix {fixes} (F003)");
            amend_lock(root, policy, &a.revision, &reason)?;
            written.push(format!("{} (amended; recorded in {lockfile})", a.file));
        } else {
            // Not released: there is no pinned content to re-pin.
            written.push(format!("{} (amended; not pinned in {lockfile})", a.file));
        }
    }
    for (file, text) in plan.new.files() {
        write_file(root, file, text)?;
    }
    written.push(format!("{} (new revision {})", plan.new.file, plan.new.id));
    written.extend(
        plan.new
            .extra
            .iter()
            .map(|(f, _)| format!("{f} (its down file)")),
    );
    written.extend(refresh_snapshot(root, policy, plan)?);
    mark_converted(policy, &plan.fixes, &plan.new.id)?;
    written.push(format!(
        "{} ({} fix(es) converted in {})",
        gate_policy_rel(root, &policy.file),
        plan.fixes.len(),
        plan.new.id
    ));
    Ok(written)
}

fn gate_policy_rel(root: &Path, file: &Path) -> String {
    crate::runner::rel_path(root, file)
}

fn write_file(root: &Path, rel: &str, text: &str) -> Result<(), WriteError> {
    gate_policy::atomic::write_atomically(&root.join(rel), text.as_bytes()).map_err(|source| {
        WriteError::Io {
            path: rel.to_string(),
            source,
        }
    })
}

/// Whether `revision` is released (pinned in the lockfile). An unreadable lockfile counts as
/// pinned, so `amend` reports what is wrong with it.
fn is_pinned(root: &Path, lockfile: &str, revision: &str) -> bool {
    match std::fs::read(root.join(lockfile)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
        Ok(bytes) => gate_chain::lock::parse_lock(lockfile, &bytes)
            .map_or(true, |lock| lock.entries.iter().any(|e| e.id == revision)),
    }
}

/// The lockfile amendment of one released migration (`gate_chain::lock::amend`).
fn amend_lock(
    root: &Path,
    policy: &Policy,
    revision: &str,
    reason: &str,
) -> Result<(), WriteError> {
    gate_chain::lock::amend(root, policy, revision, reason)
        .map(|_| ())
        .map_err(|source| WriteError::Lock {
            revision: revision.to_string(),
            source,
        })
}

/// The expected schema (`replay.snapshot`) at the new head, when the repository keeps one:
/// the schema proof (a) captured, as `gate-replay snapshot` would write it.
fn refresh_snapshot(
    root: &Path,
    policy: &Policy,
    plan: &Consolidation,
) -> Result<Option<String>, WriteError> {
    let rel = &policy.replay.snapshot;
    let path = root.join(rel);
    let (true, Some(schema)) = (path.exists(), &plan.head_schema) else {
        return Ok(None);
    };
    crate::snapshot_cmd::write_atomically(&path, schema).map_err(|source| WriteError::Io {
        path: rel.clone(),
        source,
    })?;
    Ok(Some(format!("{rel} (the schema at {})", plan.new.id)))
}

/// `status = "converted"` and `converted-in = "<revision>"` on each fix (comments kept).
fn mark_converted(policy: &Policy, fixes: &[String], revision: &str) -> Result<(), WriteError> {
    let err = |source| WriteError::Policy { source };
    let mut editor = PolicyEditor::open(&policy.file).map_err(err)?;
    for fix in fixes {
        editor
            .set_fields(
                fix,
                &[
                    ("status", EditValue::Str("converted".into())),
                    ("converted-in", EditValue::Str(revision.into())),
                ],
            )
            .map_err(err)?;
    }
    editor.save().map_err(err)
}
