//! Staged mode: judge what the index holds, against HEAD's tree.
//!
//! Instead of a full tree-to-index diff this walks the index once with cheap byte
//! predicates and looks up only the in-scope entries in HEAD (a handful of tree reads).
//! The verdicts are the same as a diff's: an entry that is new or differs from HEAD at its
//! path is added, modified, copied or the new side of a rename; deletions never show up,
//! because deletions are never violations. Only candidate blobs are read.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gate_policy::Policy;
use gate_report::{Code, Finding};
use git2::{ObjectType, Oid, Repository, Tree, TreeWalkMode, TreeWalkResult};

use gate_scripts::{Candidate, Kind, Paths, StagedIndex, display_path};

use crate::judge;
use crate::{Outcome, ScanError};

const MODE_LINK: u32 = 0o120000;
const MODE_GITLINK: u32 = 0o160000;

fn git(what: impl Into<String>) -> impl FnOnce(git2::Error) -> ScanError {
    let what = what.into();
    move |error| ScanError::Git { what, error }
}

fn path_of(raw: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(raw))
}

/// HEAD's tree, or `None` in a repository without commits (everything staged is new).
pub fn head_tree(repo: &Repository) -> Result<Option<Tree<'_>>, ScanError> {
    match repo.head() {
        Ok(head) => head
            .peel_to_tree()
            .map(Some)
            .map_err(git("cannot read the tree of HEAD")),
        Err(e)
            if e.code() == git2::ErrorCode::UnbornBranch
                || e.code() == git2::ErrorCode::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(ScanError::Git {
            what: "cannot resolve HEAD".into(),
            error: e,
        }),
    }
}

fn blob(repo: &Repository, id: Oid, raw: &[u8]) -> Result<Vec<u8>, ScanError> {
    repo.find_blob(id)
        .map(|b| b.content().to_vec())
        .map_err(|source| ScanError::Git {
            what: format!(
                "cannot read the staged content of {} (blob {id})",
                display_path(raw)
            ),
            error: source,
        })
}

/// Entry in HEAD at `raw`, as (id, mode).
fn in_head(tree: Option<&Tree<'_>>, raw: &[u8]) -> Option<(Oid, i32)> {
    let e = tree?.get_path(path_of(raw)).ok()?;
    Some((e.id(), e.filemode()))
}

pub fn scan(repo: &Repository, index: &StagedIndex, policy: &Policy) -> Result<Outcome, ScanError> {
    let root = repo.workdir().unwrap_or_else(|| repo.path());
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let paths = Paths::new(policy, &root);
    let head = head_tree(repo)?;
    let odb = repo.odb().map_err(git("cannot open the object database"))?;
    let mut out = Outcome::default();
    // Staged migrations and lockfile that differ from HEAD: judged by G003/G004, so they count
    // as checked files too (a G003 must never come with "0 files checked").
    let mut migrations_changed = 0;
    // Registered scripts are checked for G002 wherever they live; a set keeps the per-entry
    // test O(1) for large registries.
    let registered: HashSet<&[u8]> = policy
        .emergency
        .scripts
        .iter()
        .map(|s| s.path.as_bytes())
        .collect();

    for entry in index.entries() {
        // Conflict stages (merge in progress) are not what will be committed; `git add -N`
        // placeholders are not committed either (their blob may not even exist).
        if index.stage(entry) != 0 || index.intent_to_add(entry) {
            continue;
        }
        let raw = index.path(entry);
        if paths.in_migrations(raw) || raw == &paths.lockfile[..] {
            let changed = in_head(head.as_ref(), raw)
                .is_none_or(|(id, mode)| id != index.id(entry) || mode as u32 != index.mode(entry));
            migrations_changed += usize::from(changed);
            if changed
                && raw != &paths.lockfile[..]
                && let Some(f) = non_revision(repo, &odb, index, entry, policy, &paths)?
            {
                out.findings.push(f);
            }
            continue;
        }
        if paths.is_gate_file(raw) {
            continue;
        }
        let in_scope = paths.in_scope(raw);
        if !in_scope && !registered.contains(raw) {
            continue;
        }
        let rel = String::from_utf8_lossy(raw);
        let (entry_mode, entry_id) = (index.mode(entry), index.id(entry));
        if entry_mode == MODE_GITLINK || policy.emergency.is_ignored(&rel) {
            continue;
        }
        if let Some((id, mode)) = in_head(head.as_ref(), raw)
            && id == entry_id
            && mode as u32 == entry_mode
        {
            continue;
        }
        let size = match odb.read_header(entry_id) {
            Ok((size, ObjectType::Blob)) => size as u64,
            Ok(_) => continue,
            Err(source) => {
                return Err(ScanError::Git {
                    what: format!(
                        "cannot read the staged content of {} (blob {})",
                        display_path(raw),
                        entry_id
                    ),
                    error: source,
                });
            }
        };
        let c = Candidate {
            raw: raw.to_vec(),
            rel: rel.into_owned(),
            kind: if entry_mode == MODE_LINK {
                Kind::Symlink
            } else {
                Kind::File
            },
            size,
            in_scope,
        };
        out.checked += 1;
        let id = entry_id;
        if let Some(f) = judge::judge(policy, &c, &mut || blob(repo, id, raw))? {
            out.findings.push(f);
        }
    }

    let touched = migrations_changed + deleted_migrations(repo, head.as_ref(), index, &paths)?;
    out.checked += touched;
    if touched > 0 {
        out.findings.extend(lock_walkaround(repo, index, policy)?);
        out.findings
            .extend(lock_check(repo, index, policy, &paths)?);
    }
    Ok(out)
}

/// A staged file in the migrations folder that is no migration by the chain's own rules (a
/// shell script, a `.py` without `revision =`) is replayed by nothing: judged as a script in
/// scope, whatever `emergency.scope` says. `None` for migrations and clean files.
fn non_revision(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    index: &StagedIndex,
    entry: &gate_scripts::IndexEntry,
    policy: &Policy,
    paths: &Paths,
) -> Result<Option<Finding>, ScanError> {
    let raw = index.path(entry);
    let (mode, id) = (index.mode(entry), index.id(entry));
    let rel = String::from_utf8_lossy(raw);
    if mode == MODE_GITLINK
        || index.intent_to_add(entry)
        || paths.is_gate_file(raw)
        || policy.emergency.is_ignored(&rel)
    {
        return Ok(None);
    }
    let mut content = None;
    let chain = gate_chain::is_chain_file(policy, &rel, || {
        let b = blob(repo, id, raw)?;
        content = Some(b.clone());
        Ok::<_, ScanError>(b)
    })?;
    if chain {
        return Ok(None);
    }
    let size = match (&content, odb.read_header(id)) {
        (Some(c), _) => c.len() as u64,
        (None, Ok((size, ObjectType::Blob))) => size as u64,
        (None, Ok(_)) => return Ok(None),
        (None, Err(error)) => {
            return Err(ScanError::Git {
                what: format!(
                    "cannot read the staged content of {} (blob {id})",
                    display_path(raw)
                ),
                error,
            });
        }
    };
    let c = Candidate {
        raw: raw.to_vec(),
        rel: rel.into_owned(),
        kind: if mode == MODE_LINK {
            Kind::Symlink
        } else {
            Kind::File
        },
        size,
        in_scope: true,
    };
    judge::judge(policy, &c, &mut || match &content {
        Some(b) => Ok(b.clone()),
        None => blob(repo, id, raw),
    })
}

/// How many files under the migrations folder (and the lockfile) are in HEAD but not staged.
fn deleted_migrations(
    repo: &Repository,
    head: Option<&Tree<'_>>,
    index: &StagedIndex,
    paths: &Paths,
) -> Result<usize, ScanError> {
    let Some(head) = head else { return Ok(0) };
    let mut missing = usize::from(
        index.get(&paths.lockfile).is_none() && head.get_path(path_of(&paths.lockfile)).is_ok(),
    );
    let dir = &paths.migrations_prefix[..paths.migrations_prefix.len() - 1];
    let Ok(entry) = head.get_path(path_of(dir)) else {
        return Ok(missing);
    };
    if entry.kind() != Some(ObjectType::Tree) {
        return Ok(missing);
    }
    let sub = repo
        .find_tree(entry.id())
        .map_err(git("cannot read the migrations folder in HEAD"))?;
    sub.walk(TreeWalkMode::PreOrder, |parent, e| {
        if e.kind() == Some(ObjectType::Blob) {
            let mut p = paths.migrations_prefix.clone();
            p.extend_from_slice(parent.as_bytes());
            p.extend_from_slice(e.name_bytes());
            missing += usize::from(index.get(&p).is_none());
        }
        TreeWalkResult::Ok
    })
    .map_err(git("cannot walk the migrations folder in HEAD"))?;
    Ok(missing)
}

/// G003/G004 over the staged lockfile and migrations.
fn lock_check(
    repo: &Repository,
    index: &StagedIndex,
    policy: &Policy,
    paths: &Paths,
) -> Result<Vec<Finding>, ScanError> {
    let lock = match index.get(&paths.lockfile) {
        Some(e) => Some(blob(repo, index.id(e), &paths.lockfile)?),
        None => None,
    };
    let mut files = BTreeMap::new();
    for entry in index.with_prefix(&paths.migrations_prefix) {
        if index.mode(entry) == MODE_GITLINK || index.intent_to_add(entry) {
            continue;
        }
        let raw = index.path(entry);
        let content = blob(repo, index.id(entry), raw)?;
        files.insert(String::from_utf8_lossy(raw).into_owned(), content);
    }
    Ok(gate_chain::lock_findings(policy, lock.as_deref(), &files)?)
}

/// The entries of one migrations.lock text: revision (or `kind`) -> the rest of its line. The
/// `h1:` header follows from the rest and is left out. (gate-approve's G005 reads history the
/// same way; the hook needs only HEAD against the index.)
fn lock_lines(text: &[u8]) -> BTreeMap<String, (String, u32)> {
    let text = String::from_utf8_lossy(text);
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("h1:") {
            continue;
        }
        if let Some(kind) = line.strip_prefix("kind=") {
            out.insert("kind".to_string(), (kind.to_string(), line_no));
            continue;
        }
        // Each `amend` record is its own key: records are only ever appended.
        if line.starts_with("amend ") && line.split(' ').count() >= 5 {
            out.insert(line.to_string(), (String::new(), line_no));
            continue;
        }
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        out.insert(key.to_string(), (rest.trim().to_string(), line_no));
    }
    out
}

/// G005 in the hook: a staged deletion of the lockfile that HEAD has, or a staged edit that
/// changes or removes an existing entry line (a re-pin). New lines (a new release) are fine.
/// Index against HEAD only: who may re-pin is gate-approve's question, from history.
pub fn lock_walkaround(
    repo: &Repository,
    index: &StagedIndex,
    policy: &Policy,
) -> Result<Option<Finding>, ScanError> {
    let rel = policy.migrations.lockfile.trim_start_matches("./");
    let Some(head) = head_tree(repo)? else {
        return Ok(None);
    };
    let Some((head_id, _)) = in_head(Some(&head), rel.as_bytes()) else {
        return Ok(None);
    };
    let trailer = &policy.governance.trailer;
    let staged = index
        .get(rel.as_bytes())
        .filter(|e| index.stage(e) == 0 && !index.intent_to_add(e));
    let Some(entry) = staged else {
        return Ok(Some(
            Finding::new(
                Code::G005,
                format!("the staged changes delete {rel}: released migrations would no longer be pinned"),
            )
            .at(rel.to_string())
            .help(format!(
                "keep it: `git restore --staged --worktree {rel}`; replacing the lockfile is committed by a listed approver with the `{trailer}:` trailer"
            )),
        ));
    };
    if index.id(entry) == head_id {
        return Ok(None);
    }
    let before = blob(repo, head_id, rel.as_bytes())?;
    let after = blob(repo, index.id(entry), rel.as_bytes())?;
    let changed = repinned(rel, &before, &after);
    let Some((_, first_line)) = changed.first() else {
        return Ok(None);
    };
    let names: Vec<&str> = changed.iter().map(|(k, _)| k.as_str()).collect();
    Ok(Some(
        Finding::new(
            Code::G005,
            format!(
                "the staged {rel} changes or removes {} existing entr{} ({}): a re-pin of released migrations",
                names.len(),
                if names.len() == 1 { "y" } else { "ies" },
                names.join(", ")
            ),
        )
        .at(rel.to_string())
        .line(*first_line)
        .help(format!(
            "new migrations only add lines; restore the entries (`git checkout HEAD -- {rel}`, then `gate-replay lock`); an intended edit of a released migration is recorded with `gate-replay lock --amend <revision> --reason \"...\"` and committed by a listed approver with the `{trailer}:` trailer"
        )),
    ))
}

/// The entries of HEAD's lockfile that the staged one changes or removes, with their line in
/// HEAD's. When both verify, a change that amendments explain (`gate-replay lock --amend`:
/// the amended revisions, the chained hashes after them, their new `amend` records) is none:
/// whether the commit approves them is gate-approve's question. Otherwise every changed line
/// counts.
fn repinned(rel: &str, before: &[u8], after: &[u8]) -> Vec<(String, u32)> {
    if let (Ok(b), Ok(a)) = (
        gate_chain::lock::parse_lock(rel, before),
        gate_chain::lock::parse_lock(rel, after),
    ) {
        return gate_chain::lock::diff(&b, &a).unexplained;
    }
    let (before, after) = (lock_lines(before), lock_lines(after));
    before
        .iter()
        .filter(|(k, (v, _))| after.get(*k).map(|(a, _)| a) != Some(v))
        .map(|(k, (_, line))| (k.clone(), *line))
        .collect()
}
