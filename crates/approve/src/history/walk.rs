//! The walk of policy.toml's history: which commit set each entry's pin (A010) and each
//! governed key (A012), newest first, in rounds of commits.

use super::governed::{changed_governed, governed_of};
use super::pins::{fast_pins, pins_of};
use super::window::{changed_window, has_multiline_strings};
use super::*;
use std::sync::{LazyLock, Mutex};

/// One version of policy.toml, read once.
#[derive(Debug)]
pub(super) struct Version<'r> {
    blob: git2::Blob<'r>,
    /// Multi-line strings could hide table headers from the window search.
    multiline: bool,
}

/// `multiline`: either version has multi-line strings (then both are parsed whole).
pub(super) fn changed_pins(child: &[u8], parent: &[u8], multiline: bool) -> (Pins, Pins) {
    if !multiline {
        let (start, end_c, end_p) = changed_window(child, parent);
        let c = String::from_utf8_lossy(&child[start..end_c]);
        let p = String::from_utf8_lossy(&parent[start..end_p]);
        if let (Some(c), Some(p)) = (fast_pins(&c), fast_pins(&p)) {
            return (c, p);
        }
    }
    (
        pins_of(&String::from_utf8_lossy(child)),
        pins_of(&String::from_utf8_lossy(parent)),
    )
}

/// One commit of the walk whose policy.toml differs from every parent's.
#[derive(Debug, Clone)]
pub(super) struct Change {
    commit: Oid,
    blob: Oid,
    /// The parents' policy.toml blobs (`None`: that parent has no policy.toml).
    parents: Vec<Option<Oid>>,
    /// A parent is missing from this (shallow) clone.
    cut_off: bool,
    /// On HEAD's first-parent line (judged for A012 against its first parent).
    first_parent: bool,
}

/// What pass 2 found in one change.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Pending A010 entries whose pin this change sets.
    set: Vec<String>,
    /// A012, first-parent changes only.
    governed: Option<GovernedDiff>,
}

/// A012: what one first-parent change did to the governed keys, relative to its first parent.
#[derive(Debug, Default)]
pub(super) struct GovernedDiff {
    keys: Vec<String>,
    /// The first parent has no policy at all (every key is new).
    adopts: bool,
    /// This version parses and its first parent's does not: compared again in order, with
    /// the nearest ancestor whose version parses.
    repairs: bool,
}

/// Commits compared per round; each round is split between the threads and merged in walk
/// order, so the newest setter wins exactly as in a sequential walk.
pub(super) const ROUND: usize = 512;

/// Find, for every `targets` entry, the commit that set its pin: the newest commit whose
/// policy.toml has the pin while none of its parents has it. `None`: not found in history.
pub fn find_setters(
    repo: &Repository,
    policy_rel: &str,
    targets: &HashMap<String, Pin>,
) -> Result<HashMap<String, Option<Setter>>, HistoryError> {
    Ok(walk(repo, policy_rel, targets, false, None)?.setters)
}

/// One walk of the history of policy.toml for A010 (the setters of `targets`' pins) and,
/// with `governed`, for A012 (the first-parent setter of every governed key, which needs the
/// whole first-parent line down to the adoption). With `extra` (a path), the same walk also
/// records that file's blob on every commit of the first-parent line (G005's lockfile).
pub fn walk(
    repo: &Repository,
    policy_rel: &str,
    targets: &HashMap<String, Pin>,
    governed: bool,
    extra: Option<&str>,
) -> Result<Walk, HistoryError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: policy_rel.to_string(),
        source,
    };
    let mut result: HashMap<String, Option<Setter>> =
        targets.keys().map(|k| (k.clone(), None)).collect();
    let mut gov = governed.then(GovernedSetters::default);
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(Walk {
            setters: result,
            governed: gov,
            line: None,
        });
    };
    let shallow = shallow_boundary(repo);
    // libgit2 re-hashes every object it reads (SHA-1DC), half the cost of reading 10,000
    // versions of a large policy.toml. The objects come from the local repository and git
    // itself does not re-verify on read either.
    git2::opts::strict_hash_verification(false);

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let mut pending: HashMap<String, Pin> = targets.clone();
    let repo_path = repo.path().to_path_buf();
    let done = |pending: &HashMap<String, Pin>| pending.is_empty() && !governed;
    let mut line = None;
    // First-parent commits whose unparseable version a newer repair was compared across.
    let mut covered: HashSet<Oid> = HashSet::new();
    std::thread::scope(|scope| -> Result<(), HistoryError> {
        // Pass 1 (trees only) runs on its own thread and hands over the changing commits round
        // by round, so pass 2 compares contents while the tree walk goes on.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Change>, git2::Error>>(2);
        let (shallow, head_id) = (&shallow, head.id());
        let pass1 = scope.spawn(move || {
            let sent = Repository::open(&repo_path).and_then(|own| {
                changed_commits(&own, policy_rel, extra, head_id, shallow, |round| {
                    tx.send(Ok(round)).is_ok()
                })
            });
            match sent {
                Ok(line) => Some(line),
                Err(e) => {
                    let _ = tx.send(Err(e)); // the receiver may be gone: nobody to report to
                    None
                }
            }
        });
        // Pass 2: compare contents, newest first, round by round until every entry is found.
        // Returning drops `rx`, which stops pass 1 at its next round.
        for round in rx {
            if done(&pending) {
                break;
            }
            let round = round.map_err(git)?;
            let round = &round[..];
            let per = round.len().div_ceil(threads);
            let found: Vec<Vec<(usize, Found)>> = if threads == 1 || round.len() < 2 * threads {
                vec![candidates(repo, round, 0, &pending, governed).map_err(git)?]
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = round
                        .chunks(per)
                        .enumerate()
                        .map(|(i, part)| {
                            let pending = &pending;
                            let path = repo.path().to_path_buf();
                            s.spawn(move || {
                                // A Repository is not Sync: each thread opens its own.
                                let own = Repository::open(&path)?;
                                candidates(&own, part, i * per, pending, governed)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("history thread panicked"))
                        .collect::<Result<Vec<_>, git2::Error>>()
                })
                .map_err(git)?
            };
            let mut found: Vec<(usize, Found)> = found.into_iter().flatten().collect();
            found.sort_by_key(|(i, _)| *i);
            for (i, f) in found {
                let change = &round[i];
                if let (Some(g), Some(mut d)) = (gov.as_mut(), f.governed) {
                    if change.cut_off {
                        return Err(HistoryError::ShallowGoverned {
                            policy: policy_rel.to_string(),
                            commit: change.commit.to_string()[..12].to_string(),
                        });
                    }
                    if d.repairs {
                        // Compared with its unparseable parent every key would look new here
                        // (a repair after a bad merge): compare with the nearest parseable
                        // first-parent ancestor instead. The versions in between set nothing;
                        // whatever they changed is in this comparison.
                        let (keys, base) =
                            across_unparseable(repo, policy_rel, shallow, change, &mut covered)?;
                        d.adopts = base.is_none();
                        d.keys = keys;
                        g.bases.insert(change.commit, base);
                    }
                    if !covered.contains(&change.commit) {
                        for k in d.keys {
                            g.setters.entry(k).or_insert(change.commit);
                        }
                        if d.adopts {
                            g.adoption = Some(change.commit); // the oldest one wins
                        }
                    }
                }
                for path in f.set {
                    if pending.remove(&path).is_none() {
                        continue; // a newer commit set it again
                    }
                    if change.cut_off {
                        return Err(HistoryError::Shallow {
                            policy: policy_rel.to_string(),
                            commit: change.commit.to_string()[..12].to_string(),
                            entry: path,
                        });
                    }
                    result.insert(
                        path,
                        Some(Setter {
                            commit: change.commit,
                        }),
                    );
                }
            }
            if done(&pending) {
                break; // without waiting for pass 1's next round
            }
        }
        line = pass1.join().ok().flatten();
        Ok(())
    })?;
    Ok(Walk {
        setters: result,
        governed: gov,
        line: line.filter(|_| extra.is_some()),
    })
}

/// Pass 1, trees only (what `git log -- policy.toml` does): the commits that changed it,
/// newest first, handed to `send` in rounds of [`ROUND`]; stops when `send` returns false.
pub(super) fn changed_commits(
    repo: &Repository,
    policy_rel: &str,
    extra: Option<&str>,
    head: Oid,
    shallow: &HashSet<Oid>,
    mut send: impl FnMut(Vec<Change>) -> bool,
) -> Result<FirstParentLine, git2::Error> {
    let mut line = FirstParentLine::default();
    let policy_path = std::path::Path::new(policy_rel);
    // Each commit is asked twice (as itself, then as the next commit's parent).
    let mut blob_ids: HashMap<Oid, Option<Oid>> = HashMap::new();
    let mut blob_of = |c: &git2::Commit<'_>| -> Option<Oid> {
        *blob_ids
            .entry(c.id())
            .or_insert_with(|| c.tree().ok()?.get_path(policy_path).ok().map(|e| e.id()))
    };
    let mut changes = Vec::with_capacity(ROUND);
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push(head)?;
    // Topological order lists a commit after all its children, so HEAD's first-parent line
    // comes up in order.
    let mut next_first_parent = Some(head);
    for oid in walk {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let first_parent = next_first_parent == Some(oid);
        if first_parent {
            next_first_parent = commit.parent_id(0).ok();
            if let Some(extra) = extra {
                let blob = commit
                    .tree()
                    .ok()
                    .and_then(|t| t.get_path(std::path::Path::new(extra)).ok())
                    .map(|e| e.id());
                line.commits.push((oid, blob));
                line.cut_off = shallow.contains(&oid)
                    || (commit.parent_count() > 0 && commit.parent(0).is_err());
            }
        }
        let Some(blob) = blob_of(&commit) else {
            continue;
        };
        let mut parents = Vec::new();
        let mut cut_off = shallow.contains(&oid);
        for i in 0..commit.parent_count() {
            match commit.parent(i) {
                Ok(p) => parents.push(blob_of(&p)),
                Err(_) => cut_off = true,
            }
        }
        // Same file as a parent: every value came from there, nothing was set here (for A010;
        // A012 judges the first-parent line against the first parent only).
        let first_differs = cut_off || parents.first() != Some(&Some(blob));
        if !parents.contains(&Some(blob)) || (first_parent && first_differs) {
            changes.push(Change {
                commit: oid,
                blob,
                parents,
                cut_off,
                first_parent,
            });
            if changes.len() == ROUND
                && !send(std::mem::replace(&mut changes, Vec::with_capacity(ROUND)))
            {
                return Ok(line);
            }
        }
    }
    if !changes.is_empty() {
        send(changes);
    }
    Ok(line)
}

/// For each change (index offset by `base`), the pending entries whose pin it sets.
pub(super) fn candidates(
    repo: &Repository,
    part: &[Change],
    base: usize,
    pending: &HashMap<String, Pin>,
    governed: bool,
) -> Result<Vec<(usize, Found)>, git2::Error> {
    // A version is usually needed again right away as the next commit's own version: keep
    // the last few, not the whole history (which can be gigabytes).
    let mut recent: Vec<(Oid, Rc<Version<'_>>)> = Vec::new();
    let mut text_of = |oid: Oid| -> Result<Rc<Version<'_>>, git2::Error> {
        if let Some((_, t)) = recent.iter().find(|(o, _)| *o == oid) {
            return Ok(t.clone());
        }
        let blob = repo.find_blob(oid)?;
        let multiline = has_multiline_strings(blob.content());
        let text = Rc::new(Version { blob, multiline });
        if recent.len() >= 8 {
            recent.remove(0);
        }
        recent.push((oid, text.clone()));
        Ok(text)
    };
    let mut out = Vec::new();
    for (i, change) in part.iter().enumerate() {
        let here = text_of(change.blob)?;
        let mut found = Found::default();
        if governed && change.first_parent {
            found.governed = Some(match change.parents.first() {
                Some(Some(p)) if !change.cut_off => {
                    let parent = text_of(*p)?;
                    let (keys, repairs) = changed_governed(
                        here.blob.content(),
                        parent.blob.content(),
                        here.multiline || parent.multiline,
                    );
                    GovernedDiff {
                        keys,
                        adopts: false,
                        repairs,
                    }
                }
                // A cut-off commit is an error of the walk; the keys do not matter.
                _ if change.cut_off => GovernedDiff::default(),
                // No first parent, or one without the policy: every key is new here.
                _ => {
                    let all = governed_of(&String::from_utf8_lossy(here.blob.content()))
                        .unwrap_or_default();
                    GovernedDiff {
                        keys: all.into_keys().collect(),
                        adopts: true,
                        repairs: false,
                    }
                }
            });
        }
        let mut diffs = Vec::new();
        for b in change.parents.iter().flatten() {
            let parent = text_of(*b)?;
            diffs.push(changed_pins(
                here.blob.content(),
                parent.blob.content(),
                here.multiline || parent.multiline,
            ));
        }
        let mut set_here = Vec::new();
        if diffs.len() < change.parents.len() || diffs.is_empty() {
            // A root commit, a boundary, or a parent without the file: entries may be new.
            let all = pins_of(&String::from_utf8_lossy(here.blob.content()));
            for (path, pin) in pending {
                let in_parent = diffs.iter().any(|(c, p)| {
                    if c.contains_key(path) {
                        p.get(path) == Some(pin)
                    } else {
                        all.get(path) == Some(pin)
                    }
                });
                if all.get(path) == Some(pin) && !in_parent {
                    set_here.push(path.clone());
                }
            }
        } else {
            // Outside a window the entry equals the parent's: not set by this commit. So only
            // entries inside the first parent's window are candidates.
            for path in diffs[0].0.keys() {
                let Some(pin) = pending.get(path) else {
                    continue;
                };
                if diffs
                    .iter()
                    .all(|(c, p)| c.get(path) == Some(pin) && p.get(path) != Some(pin))
                {
                    set_here.push(path.clone());
                }
            }
        }
        found.set = set_here;
        if !found.set.is_empty() || found.governed.is_some() {
            out.push((base + i, found));
        }
    }
    Ok(out)
}

/// A012 for a change whose first parent's policy.toml does not parse: the governed keys that
/// differ from the nearest first-parent ancestor whose policy parses ([`base_version`]), and
/// that ancestor
/// (`None` when no ancestor before the unparseable ones has a policy: every key is new, the
/// change adopts it). The first-parent commits passed over are added to `covered`.
pub(super) fn across_unparseable(
    repo: &Repository,
    policy_rel: &str,
    shallow: &HashSet<Oid>,
    change: &Change,
    covered: &mut HashSet<Oid>,
) -> Result<(Vec<String>, Option<Oid>), HistoryError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: policy_rel.to_string(),
        source,
    };
    let here = repo.find_blob(change.blob).map_err(git)?;
    let commit = repo.find_commit(change.commit).map_err(git)?;
    let base = base_version(repo, policy_rel, &commit, shallow, &mut |c| {
        covered.insert(c);
    })?
    .and_then(|c| {
        let blob = c
            .tree()
            .ok()?
            .get_path(std::path::Path::new(policy_rel))
            .ok()?
            .id();
        Some((c.id(), blob))
    })
    .map(|(id, blob)| repo.find_blob(blob).map(|b| (id, b)))
    .transpose()
    .map_err(git)?;
    let text = |b: &git2::Blob<'_>| String::from_utf8_lossy(b.content()).into_owned();
    Ok(match base {
        Some((id, b)) => {
            let multiline =
                has_multiline_strings(here.content()) || has_multiline_strings(b.content());
            (
                changed_governed(here.content(), b.content(), multiline).0,
                Some(id),
            )
        }
        None => {
            let all = governed_of(&text(&here)).unwrap_or_default();
            (all.into_keys().collect(), None)
        }
    })
}

/// The version of policy.toml that `commit` (on a first-parent line) is compared with, and
/// whose `[governance]` judges it: its first parent, or past first parents whose policy.toml
/// is there but does not parse, the nearest one whose policy parses or that has none (that
/// commit is returned). `None`: `commit` has no parent, or the unparseable versions reach a
/// root commit. A broken version sets nothing, so its approvers approve nothing either (it
/// could list its author while its `[governance]` table still reads on its own). `passed`
/// sees each unparseable commit passed over; `shallow` (the clone's boundary, empty when not
/// known) stops the search with an error rather than guessing.
pub fn base_version<'r>(
    repo: &'r Repository,
    policy_rel: &str,
    commit: &git2::Commit<'_>,
    shallow: &HashSet<Oid>,
    passed: &mut dyn FnMut(Oid),
) -> Result<Option<git2::Commit<'r>>, HistoryError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: policy_rel.to_string(),
        source,
    };
    let cut = |c: Oid| HistoryError::ShallowGoverned {
        policy: policy_rel.to_string(),
        commit: c.to_string()[..12].to_string(),
    };
    if commit.parent_count() == 0 {
        return Ok(None);
    }
    let mut c = repo
        .find_commit(commit.parent_id(0).map_err(git)?)
        .map_err(|_| cut(commit.id()))?;
    loop {
        let Some(blob) = c
            .tree()
            .ok()
            .and_then(|t| t.get_path(std::path::Path::new(policy_rel)).ok())
            .map(|e| e.id())
        else {
            return Ok(Some(c));
        };
        if blob_parses(repo, blob).map_err(git)? {
            return Ok(Some(c));
        }
        passed(c.id());
        if c.parent_count() == 0 {
            return Ok(None);
        }
        if shallow.contains(&c.id()) {
            return Err(cut(c.id()));
        }
        c = c.parent(0).map_err(|_| cut(c.id()))?;
    }
}

/// Whether a version of policy.toml parses, by blob id: content-addressed, so one answer per
/// blob for the whole run. Judging asks it of the same parent once per governed key, and a
/// large registry makes the whole-file parse the cost.
fn blob_parses(repo: &Repository, blob: Oid) -> Result<bool, git2::Error> {
    static PARSES: LazyLock<Mutex<HashMap<Oid, bool>>> = LazyLock::new(Default::default);
    let cached = |p: &Mutex<HashMap<Oid, bool>>| {
        p.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&blob)
            .copied()
    };
    if let Some(p) = cached(&PARSES) {
        return Ok(p);
    }
    let b = repo.find_blob(blob)?;
    let p = governed_of(&String::from_utf8_lossy(b.content())).is_some();
    PARSES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(blob, p);
    Ok(p)
}

/// Commits whose parents this (shallow) clone does not have.
pub(super) fn shallow_boundary(repo: &Repository) -> HashSet<Oid> {
    if !repo.is_shallow() {
        return HashSet::new();
    }
    std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect()
}
