//! Amendments: an approved edit of a released migration, recorded in `migrations.lock`
//! (Flyway's `repair`, with an approval). `amend` re-pins one revision to its file's current
//! content and appends `amend <revision> <old-sha256> <new-sha256> <reason>` after the
//! entries; gate-approve requires the commit that adds the record to be an approving one.

use std::collections::BTreeMap;
use std::path::Path;

use gate_policy::{MigrationKind, Policy};

use super::{
    LockEntry, Lockfile, Pin, content_hash, is_hex64, parse_lock, render_pins, unescape, write_lock,
};
use crate::ChainError;

/// One `amend` record of the lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amendment {
    pub revision: String,
    /// The migration's path, from its lockfile entry.
    pub path: String,
    /// Content sha256 pinned before the amendment.
    pub old_content: String,
    /// Content sha256 pinned by the amendment.
    pub new_content: String,
    /// Why the released migration had to change, as given to `--reason`.
    pub reason: String,
    /// 1-based line of the record in the lockfile.
    pub line: u32,
}

impl Amendment {
    /// The record as it stands in the lockfile (without the newline).
    pub fn line_text(&self) -> String {
        format!(
            "amend {} {} {} {}",
            super::escape(&self.revision),
            self.old_content,
            self.new_content,
            escape_reason(&self.reason)
        )
    }

    fn same_record(&self, other: &Amendment) -> bool {
        (
            &self.revision,
            &self.old_content,
            &self.new_content,
            &self.reason,
        ) == (
            &other.revision,
            &other.old_content,
            &other.new_content,
            &other.reason,
        )
    }
}

// The reason is the rest of the line: spaces stay readable, what would end the line is escaped.
fn escape_reason(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

/// Whether a lockfile line is an `amend` record (an entry line has exactly four fields, so
/// a revision named `amend` stays an entry).
pub(super) fn is_record(l: &str) -> bool {
    l.starts_with("amend ") && l.split(' ').count() >= 5
}

/// One `amend` line read on its own, without verifying the lockfile around it (history
/// readers: an old version may no longer verify). `path` is empty and `line` 0.
pub fn read_record(l: &str) -> Option<Amendment> {
    let f: Vec<&str> = l.trim_end().splitn(5, ' ').collect();
    if f.len() != 5 || f[0] != "amend" || !is_hex64(f[2]) || !is_hex64(f[3]) {
        return None;
    }
    Some(Amendment {
        revision: unescape(f[1]),
        path: String::new(),
        old_content: f[2].to_string(),
        new_content: f[3].to_string(),
        reason: unescape(f[4]),
        line: 0,
    })
}

/// Parse one `amend` record; its revision must be pinned by an entry above.
pub(super) fn parse_record(l: &str, line: u32, entries: &[LockEntry]) -> Result<Amendment, String> {
    let f: Vec<&str> = l.splitn(5, ' ').collect();
    if f.len() != 5 || !is_hex64(f[2]) || !is_hex64(f[3]) {
        return Err("expected `amend <revision> <old-sha256> <new-sha256> <reason>`".into());
    }
    let revision = unescape(f[1]);
    let reason = unescape(f[4]);
    if reason.trim().is_empty() {
        return Err(format!("the amendment of {revision} has an empty reason"));
    }
    if f[2] == f[3] {
        return Err(format!("the amendment of {revision} changes nothing"));
    }
    let Some(entry) = entries.iter().find(|e| e.id == revision) else {
        return Err(format!(
            "the amendment names {revision}, which no entry above pins"
        ));
    };
    Ok(Amendment {
        revision,
        path: entry.path.clone(),
        old_content: f[2].to_string(),
        new_content: f[3].to_string(),
        reason,
        line,
    })
}

/// The records of each revision follow each other (each starts from the content the one
/// before pinned) and the last one pins what its entry pins.
pub(super) fn verify_records(
    amendments: &[Amendment],
    entries: &[LockEntry],
) -> Result<(), (u32, String)> {
    let mut last: BTreeMap<&str, &Amendment> = BTreeMap::new();
    for a in amendments {
        if let Some(prev) = last.get(a.revision.as_str())
            && prev.new_content != a.old_content
        {
            return Err((
                a.line,
                format!(
                    "the amendment of {} does not start from the content the amendment on line {} pinned",
                    a.revision, prev.line
                ),
            ));
        }
        last.insert(&a.revision, a);
    }
    for (id, a) in last {
        let pinned = entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.content.as_str());
        if pinned != Some(a.new_content.as_str()) {
            return Err((
                a.line,
                format!("the last amendment of {id} does not pin the content its entry pins"),
            ));
        }
    }
    Ok(())
}

/// Record an amendment of the released migration `revision`: re-pin its content hash (and the
/// chained hashes after it) to its file's current content, append the `amend` record with
/// `reason`, and write `migrations.lock` atomically. One revision at a time: the lockfile must
/// verify and every other released migration must be exactly as pinned. To amend several,
/// edit and amend them one after the other.
///
/// The commit that carries the amended lockfile is an approval (gate-approve's G005).
pub fn amend(
    root: &Path,
    policy: &Policy,
    revision: &str,
    reason: &str,
) -> Result<Amendment, ChainError> {
    let fail = |message: String| ChainError::Amend {
        revision: revision.to_string(),
        message,
    };
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(fail(
            "the reason is empty: say why the released migration must change (it is recorded in the lockfile and shown to the approvers)".into(),
        ));
    }
    if policy.migrations.kind == MigrationKind::Command {
        return Err(fail(
            "migrations.kind = command has no static chain and no lockfile to amend".into(),
        ));
    }
    let lock_rel = policy.migrations.lockfile.as_str();
    let lock_path = root.join(lock_rel);
    let bytes = match std::fs::read(&lock_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "there is no {lock_rel}: nothing is released, so there is nothing to amend (`gate-replay lock` pins the chain)"
            )));
        }
        Err(source) => {
            return Err(ChainError::Read {
                path: lock_rel.to_string(),
                source,
            });
        }
    };
    let lock = parse_lock(lock_rel, &bytes)?;
    let d = crate::discover(root, policy)?;
    let (pins, record) = amended_pins(&lock, &d, policy, revision, reason).map_err(fail)?;
    let mut records = lock.amendments.clone();
    records.push(record);
    let text = render_pins(&lock.kind, &pins, &records);
    write_lock(&lock_path, &text)?;
    let mut record = records
        .pop()
        .unwrap_or_else(|| unreachable!("pushed above"));
    record.line = u32::try_from(2 + pins.len() + records.len() + 1).unwrap_or(u32::MAX);
    Ok(record)
}

/// The lockfile's pins with `revision` re-pinned, and the record of that amendment (its
/// line is set by the caller). Errors are messages about why it cannot be amended.
fn amended_pins(
    lock: &Lockfile,
    d: &crate::Discovery,
    policy: &Policy,
    revision: &str,
    reason: &str,
) -> Result<(Vec<Pin>, Amendment), String> {
    let graph = &d.graph;
    if lock.kind != graph.kind.lock_name() {
        return Err(format!(
            "the lockfile is for kind `{}` but the policy's migrations are `{}`",
            lock.kind,
            graph.kind.lock_name()
        ));
    }
    if let Some(f) = crate::check(graph, policy).first() {
        return Err(format!(
            "the chain has problems, fix them first: {} {}: {} (run `gate-replay chain` for all)",
            f.code,
            f.location().unwrap_or_default(),
            f.message
        ));
    }
    let Some(entry) = lock.entries.iter().find(|e| e.id == revision) else {
        let ids: Vec<&str> = lock.entries.iter().map(|e| e.id.as_str()).collect();
        let shown = if ids.len() > 8 {
            format!("{}, ... ({} in all)", ids[..8].join(", "), ids.len())
        } else {
            ids.join(", ")
        };
        return Err(format!(
            "{revision} is not pinned in {} (not released; it pins {shown}): an unreleased migration is edited freely, without an amendment",
            policy.migrations.lockfile
        ));
    };
    let Some(r) = graph.get(revision) else {
        return Err(format!(
            "no migration in {} declares {revision} any more ({} was its file): an amendment changes a released migration, it cannot remove one",
            policy.migrations.path, entry.path
        ));
    };
    if r.path != entry.path {
        return Err(format!(
            "{revision} moved from {} to {}: move it back, then amend its content",
            entry.path, r.path
        ));
    }
    let new_content = content_hash(r, &d.files).unwrap_or_default();
    if new_content == entry.content {
        return Err(format!(
            "{} is unchanged since it was pinned: edit the released migration first, then record the amendment",
            r.path
        ));
    }
    others_as_pinned(lock, d, revision)?;
    same_order(lock, graph, revision)?;
    let pins = lock
        .entries
        .iter()
        .map(|e| {
            let content = if e.id == revision {
                new_content.clone()
            } else {
                e.content.clone()
            };
            (e.id.clone(), e.path.clone(), content)
        })
        .collect();
    let record = Amendment {
        revision: revision.to_string(),
        path: entry.path.clone(),
        old_content: entry.content.clone(),
        new_content,
        reason: reason.to_string(),
        line: 0,
    };
    Ok((pins, record))
}

/// Every other released migration is exactly as pinned: an amendment re-pins one edit, never
/// a second one that happens to be in the working tree.
fn others_as_pinned(lock: &Lockfile, d: &crate::Discovery, revision: &str) -> Result<(), String> {
    let edited: Vec<String> = lock
        .entries
        .iter()
        .filter(|e| e.id != revision)
        .filter(|e| match d.graph.get(&e.id) {
            Some(r) => r.path != e.path || content_hash(r, &d.files).as_deref() != Some(&e.content),
            None => true,
        })
        .map(|e| format!("{} ({})", e.id, e.path))
        .collect();
    if edited.is_empty() {
        return Ok(());
    }
    Err(format!(
        "other released migrations differ from their pins too: {}; amend one at a time (restore the others, amend {revision}, then edit and amend the next)",
        edited.join(", ")
    ))
}

/// The released migrations still run in the pinned order: an amendment may change what a
/// migration does, not where it runs (its `down_revision`).
fn same_order(lock: &Lockfile, graph: &crate::RevisionGraph, revision: &str) -> Result<(), String> {
    let now: Vec<&str> = graph
        .order()
        .into_iter()
        .map(|r| r.id.as_str())
        .filter(|id| lock.entries.iter().any(|e| e.id == *id))
        .collect();
    let pinned: Vec<&str> = lock.entries.iter().map(|e| e.id.as_str()).collect();
    if now == pinned {
        return Ok(());
    }
    Err(format!(
        "the edit moves released migrations in the chain (pinned order {}, now {}): {revision} may change what it does, not where it runs; restore its down_revision",
        pinned.join(" -> "),
        now.join(" -> ")
    ))
}

/// What a new version of a verified lockfile changes in an older one, as amendments explain
/// it: the records it adds, and the pins it changes or removes that no added record explains
/// (a re-pin). New entries (a new release) are neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockDiff {
    /// `amend` records `after` adds.
    pub amendments: Vec<Amendment>,
    /// Entries (revision id, `kind`, or `amend <revision>` for a removed record) changed or
    /// removed without an added amendment, with their line in the older version.
    pub unexplained: Vec<(String, u32)>,
}

/// Compare two verified lockfiles (`before` the committed one, `after` the new one). Chained
/// hashes are not compared: both versions verify, so they follow from the content pins.
pub fn diff(before: &Lockfile, after: &Lockfile) -> LockDiff {
    let mut out = LockDiff::default();
    if before.kind != after.kind {
        out.unexplained.push(("kind".into(), 2));
    }
    let kept = before
        .amendments
        .iter()
        .zip(&after.amendments)
        .take_while(|(b, a)| b.same_record(a))
        .count();
    for b in &before.amendments[kept..] {
        out.unexplained
            .push((format!("amend {}", b.revision), b.line));
    }
    out.amendments = after.amendments[kept..]
        .iter()
        .filter(|a| !before.amendments.iter().any(|b| b.same_record(a)))
        .cloned()
        .collect();
    for (i, b) in before.entries.iter().enumerate() {
        let explained = match after.entries.get(i) {
            Some(a) if a.id == b.id && a.path == b.path => {
                a.content == b.content || starts_from(&out.amendments, &b.id, &b.content)
            }
            _ => false,
        };
        if !explained {
            out.unexplained.push((b.id.clone(), b.line));
        }
    }
    out
}

/// Whether the first of `records` for `revision` starts from `content`.
fn starts_from(records: &[Amendment], revision: &str, content: &str) -> bool {
    records
        .iter()
        .find(|a| a.revision == revision)
        .is_some_and(|a| a.old_content == content)
}
