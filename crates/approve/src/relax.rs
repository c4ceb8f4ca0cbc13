//! Whatever relaxes a gate is an approval recorded in git.
//!
//! - `A012`: the commit that set the current value of a governed key (a setting of
//!   `[emergency]`, `[governance]`, the paths of `[migrations]`, or any field of a registry
//!   entry) must be committed by an approver listed in its parent's policy, with the trailer
//!   naming them. The commit that adopted policy.toml is the baseline.
//! - `G005`: migrations.lock is neither deleted nor re-pinned without such a commit.
//! - Four-eyes from git (`A003`): who wrote a script is what git says, not the typed `author`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use gate_policy::{Policy, ScriptStatus};
use gate_report::{Code, Finding};
use git2::{Commit, Oid, Repository};

use crate::check::{CheckError, Context};
use crate::history::{self, ENTRY, FirstParentLine, GovernedSetters, HistoryError};

/// Merges nested deeper than this on a branch are judged as the merge itself.
const MAX_DEPTH: usize = 16;

fn eq_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn short(id: Oid) -> String {
    id.to_string()[..12].to_string()
}

fn email(sig: &git2::Signature<'_>) -> String {
    String::from_utf8_lossy(sig.email_bytes()).into_owned()
}

/// Reads versions of one file at commits, cached by commit.
struct Versions<'r> {
    repo: &'r Repository,
    rel: String,
    cache: HashMap<Oid, Option<String>>,
}

impl<'r> Versions<'r> {
    fn new(repo: &'r Repository, rel: &str) -> Self {
        Versions {
            repo,
            rel: rel.to_string(),
            cache: HashMap::new(),
        }
    }

    fn text(&mut self, c: &Commit<'_>) -> Option<String> {
        let (repo, rel) = (self.repo, &self.rel);
        self.cache
            .entry(c.id())
            .or_insert_with(|| history::text_at(repo, c, rel))
            .clone()
    }
}

/// Why `commit` does not approve what it changes, or `None` when it does: committed by an
/// approver listed in its first parent's policy, with `trailer: <committer>`, signed when the
/// parent's policy requires it.
fn disapproval(repo: &Repository, policy_rel: &str, commit: &Commit<'_>) -> Option<String> {
    let parent_text = commit
        .parent(0)
        .ok()
        .and_then(|p| history::text_at(repo, &p, policy_rel))
        .unwrap_or_default();
    let gov = history::approvers_of(&parent_text);
    let committer = email(&commit.committer());
    if !gov.approvers.iter().any(|a| eq_email(a, &committer)) {
        return Some(if gov.approvers.is_empty() {
            format!("it was committed by {committer} and its parent's policy lists no approvers")
        } else {
            format!(
                "it was committed by {committer}, who is not in governance.approvers of its parent ({})",
                gov.approvers.join(", ")
            )
        });
    }
    let named: Vec<String> = history::trailers(&String::from_utf8_lossy(commit.message_bytes()))
        .into_iter()
        .filter(|(t, _)| t.eq_ignore_ascii_case(&gov.trailer))
        .map(|(_, v)| history::trailer_email(&v))
        .collect();
    if !named.iter().any(|n| eq_email(n, &committer)) {
        return Some(if named.is_empty() {
            format!(
                "it has no `{}: {committer}` trailer in the last paragraph",
                gov.trailer
            )
        } else {
            format!(
                "its trailer names {}, not its committer {committer}",
                named.join(", ")
            )
        });
    }
    if gov.require_signed && repo.extract_signature(&commit.id(), None).is_err() {
        return Some("it is not signed while governance.require-signed is on".to_string());
    }
    None
}

/// The commit to judge for a change that `commit` (on the first-parent line) made to a value.
/// A merge that took the value from another parent is judged by the branch commit that set it
/// there, so a pull request's check and the check after a merge commit agree. When that
/// parent is already in the first parent's history (a crafted merge restoring an old value)
/// or the merge made the value itself, the merge is judged.
fn resolve(
    repo: &Repository,
    commit: Oid,
    value: &mut dyn FnMut(&Commit<'_>) -> Option<String>,
    depth: usize,
) -> Result<Oid, git2::Error> {
    let c = repo.find_commit(commit)?;
    if c.parent_count() < 2 || depth > MAX_DEPTH {
        return Ok(commit);
    }
    let here = value(&c);
    let first = c.parent_id(0)?;
    for i in 1..c.parent_count() {
        let mut b = c.parent(i)?;
        if value(&b) != here {
            continue;
        }
        // The branch: b's first-parent line down to what the first parent already has.
        loop {
            if b.id() == first || repo.graph_descendant_of(first, b.id())? {
                break;
            }
            let parent = b.parent(0).ok();
            let before = parent.as_ref().and_then(&mut *value);
            if value(&b) != before {
                return resolve(repo, b.id(), value, depth + 1);
            }
            match parent {
                Some(p) => b = p,
                None => break,
            }
        }
    }
    Ok(commit)
}

fn commit_line(c: &Commit<'_>) -> String {
    format!(
        "commit {} by {} (\"{}\")",
        short(c.id()),
        email(&c.author()),
        String::from_utf8_lossy(c.summary_bytes().unwrap_or_default())
    )
}

fn approval_help(policy: &Policy) -> String {
    let gov = &policy.governance;
    format!(
        "a change that relaxes a gate is an approval: a listed approver ({}) commits it themselves (re-commit or amend it as them) with the trailer `{}: <their email>` in the last paragraph; see docs/GOVERNANCE.md",
        if gov.approvers.is_empty() {
            "none listed".to_string()
        } else {
            gov.approvers.join(", ")
        },
        gov.trailer
    )
}

/// The registry entry `path` in one policy text, as a table.
fn entry_table(text: Option<String>, path: &str) -> Option<toml::Table> {
    let doc = text?.parse::<toml::Table>().ok()?;
    let scripts = doc.get("emergency")?.get("script")?.as_array()?;
    scripts
        .iter()
        .filter_map(|e| e.as_table())
        .find(|t| {
            t.get("path")
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.trim_start_matches("./") == path)
        })
        .cloned()
}

/// What `commit` did to the entry `path`, relative to its first parent: "added the registry
/// entry `p`", "removed ...", or "changed ... (status, convert-by)".
fn entry_change(repo: &Repository, commit: &Commit<'_>, policy_rel: &str, path: &str) -> String {
    let here = entry_table(history::text_at(repo, commit, policy_rel), path);
    let before = commit
        .parent(0)
        .ok()
        .and_then(|p| entry_table(history::text_at(repo, &p, policy_rel), path));
    match (here, before) {
        (Some(_), None) => format!("added the registry entry `{path}`"),
        (None, _) => format!("removed the registry entry `{path}`"),
        (Some(h), Some(b)) => {
            let mut fields: Vec<&String> = h
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .chain(b.keys().filter(|k| !h.contains_key(*k)))
                .collect();
            fields.sort();
            fields.dedup();
            let list: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            format!("changed the registry entry `{path}` ({})", list.join(", "))
        }
    }
}

/// The keys one commit changed in one entry (or in the settings): (judged commit, keys, the
/// first-parent commit that brought the change).
type Group = (Oid, Vec<String>, Oid);

/// A012 for every governed key whose value was set after the adoption by a commit that does
/// not approve it. `skip`: (entry path, commit) pairs A010 already reports.
pub fn a012(
    policy: &Policy,
    ctx: &Context<'_>,
    gs: &GovernedSetters,
    skip: &HashSet<(String, Oid)>,
) -> Result<Vec<Finding>, CheckError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: ctx.policy_rel.clone(),
        source,
    };
    let mut governed: HashMap<Oid, Option<history::Governed>> = HashMap::new();
    let mut versions = Versions::new(ctx.repo, &ctx.policy_rel);
    // (judged commit, entry path or None for settings) -> (judged, keys, first-parent setter).
    let mut groups: BTreeMap<(String, Option<String>), Group> = BTreeMap::new();
    for (key, setter) in &gs.setters {
        if Some(*setter) == gs.adoption {
            continue;
        }
        let mut value = |c: &Commit<'_>| -> Option<String> {
            let g = governed
                .entry(c.id())
                .or_insert_with(|| versions.text(c).and_then(|t| history::governed_of(&t)));
            g.as_ref().and_then(|g| g.get(key).cloned())
        };
        let judged = resolve(ctx.repo, *setter, &mut value, 0).map_err(git)?;
        let entry = key.strip_prefix(ENTRY).map(str::to_string);
        if let Some(p) = &entry
            && skip.contains(&(p.clone(), judged))
        {
            continue;
        }
        groups
            .entry((judged.to_string(), entry))
            .or_insert_with(|| (judged, Vec::new(), *setter))
            .1
            .push(key.clone());
    }
    let mut verdicts: HashMap<Oid, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for ((_, entry), (id, keys, setter)) in groups {
        // A merge commit made and signed off by an approver approves what it brings in.
        let mut judge = |c: Oid| -> Result<Option<String>, git2::Error> {
            if let Some(v) = verdicts.get(&c) {
                return Ok(v.clone());
            }
            let v = disapproval(ctx.repo, &ctx.policy_rel, &ctx.repo.find_commit(c)?);
            verdicts.insert(c, v.clone());
            Ok(v)
        };
        if setter != id && judge(setter).map_err(git)?.is_none() {
            continue;
        }
        let commit = ctx.repo.find_commit(id).map_err(git)?;
        let Some(why) = judge(id).map_err(git)? else {
            continue;
        };
        let mut f = match &entry {
            Some(p) => {
                let current = policy
                    .emergency
                    .scripts
                    .iter()
                    .find(|s| s.path.trim_start_matches("./") == p);
                let what = entry_change(ctx.repo, &commit, &ctx.policy_rel, p);
                let f = Finding::new(
                    Code::A012,
                    format!(
                        "{} {what} but does not approve it: {why}",
                        commit_line(&commit)
                    ),
                )
                .at(ctx.policy_rel.clone());
                // An entry the commit removed is still the one the finding is about.
                match current {
                    Some(s) => f.line(s.line).entry(s.path.clone()),
                    None => f.entry(p.clone()),
                }
            }
            None => {
                let names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                let f = Finding::new(
                    Code::A012,
                    format!(
                        "{} changed {} but does not approve it: {why}",
                        commit_line(&commit),
                        names.join(", ")
                    ),
                )
                .at(ctx.policy_rel.clone());
                match keys.iter().find_map(|k| policy.key_lines.get(k)) {
                    Some(line) => f.line(*line),
                    None => f,
                }
            }
        };
        f = f.help(approval_help(policy));
        out.push(f);
    }
    Ok(out)
}

/// The authors git records for `path`: of the commit that last changed it and of the one that
/// added it, walking first parents from `start` (and into a merged branch when a merge brought
/// the content), stopping at commits `stop` already has.
fn script_authors(
    repo: &Repository,
    start: Commit<'_>,
    path: &Path,
    stop: Option<Oid>,
    depth: usize,
) -> Result<Vec<(Oid, String)>, git2::Error> {
    let blob = |c: &Commit<'_>| c.tree().ok()?.get_path(path).ok().map(|e| e.id());
    let mut out = Vec::new();
    let mut c = start;
    loop {
        if let Some(s) = stop
            && (c.id() == s || repo.graph_descendant_of(s, c.id())?)
        {
            break;
        }
        let Some(here) = blob(&c) else {
            break;
        };
        let parent = c.parent(0).ok();
        let before = parent.as_ref().and_then(&blob);
        if before != Some(here) {
            let branch = (1..c.parent_count())
                .filter_map(|i| c.parent(i).ok())
                .find(|p| blob(p) == Some(here));
            match branch {
                Some(b) if depth < MAX_DEPTH => {
                    let first = c.parent_id(0).ok();
                    out.extend(script_authors(repo, b, path, first, depth + 1)?);
                }
                _ => out.push((c.id(), email(&c.author()))),
            }
            if before.is_none() {
                break;
            }
        }
        match parent {
            Some(p) => c = p,
            None => break,
        }
    }
    Ok(out)
}

/// The git authors of every path in `paths` that HEAD has (see [`script_authors`]), newest
/// first, in one walk of HEAD's first-parent line: each commit is diffed with its first
/// parent once, for all scripts together, and the walk ends when every script's addition
/// is found.
fn authors_of(
    repo: &Repository,
    head: &Commit<'_>,
    paths: &[String],
) -> Result<HashMap<String, Vec<(Oid, String)>>, git2::Error> {
    let head_tree = head.tree()?;
    let mut pending: HashSet<&str> = paths
        .iter()
        .map(String::as_str)
        .filter(|p| head_tree.get_path(Path::new(p)).is_ok())
        .collect();
    let mut out: HashMap<String, Vec<(Oid, String)>> = HashMap::new();
    let mut c = head.clone();
    while !pending.is_empty() {
        let parent = c.parent(0).ok();
        let old = parent.as_ref().map(Commit::tree).transpose()?;
        let diff = repo.diff_tree_to_tree(old.as_ref(), Some(&c.tree()?), None)?;
        for delta in diff.deltas() {
            let Some(path) = delta.new_file().path().and_then(|p| p.to_str()) else {
                continue;
            };
            if !pending.contains(path) {
                continue;
            }
            if c.parent_count() > 1 {
                // A merge: when a branch brought this content, its commits wrote it. That walk
                // goes on to the addition itself.
                let found = script_authors(repo, c.clone(), Path::new(path), None, 0)?;
                out.entry(path.to_string()).or_default().extend(found);
                pending.remove(path);
                continue;
            }
            out.entry(path.to_string())
                .or_default()
                .push((c.id(), email(&c.author())));
            if delta.status() == git2::Delta::Added {
                pending.remove(path);
            }
        }
        match parent {
            Some(p) => c = p,
            None => break,
        }
    }
    Ok(out)
}

/// A003 from git, under four-eyes, for active approved entries: the typed `author` must be a
/// git author of the script (who added it or last changed it), and the approver must not be.
pub fn a003_git(policy: &Policy, ctx: &Context<'_>) -> Result<Vec<Finding>, CheckError> {
    let gov = &policy.governance;
    let mut out = Vec::new();
    if !gov.four_eyes {
        return Ok(out);
    }
    let git = |source: git2::Error| HistoryError::Git {
        policy: ctx.policy_rel.clone(),
        source,
    };
    let Ok(head) = ctx.repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(out);
    };
    let approved: Vec<(&gate_policy::Script, &str)> = policy
        .emergency
        .scripts
        .iter()
        .filter(|s| s.status == ScriptStatus::Active)
        .filter_map(|s| {
            let by = s.approved_by.as_deref().filter(|b| !b.trim().is_empty())?;
            Some((s, by))
        })
        .collect();
    if approved.is_empty() {
        return Ok(out);
    }
    let paths: Vec<String> = approved
        .iter()
        .map(|(s, _)| s.path.trim_start_matches("./").to_string())
        .collect();
    let all = authors_of(ctx.repo, &head, &paths).map_err(git)?;
    for ((s, by), p) in approved.iter().zip(&paths) {
        let found = all.get(p).map(Vec::as_slice).unwrap_or_default();
        let at = |f: Finding| {
            f.at(ctx.policy_rel.clone())
                .line(s.line)
                .entry(s.path.clone())
        };
        // Newest first: the last change, then (last in the list) the addition.
        let authors: Vec<&(Oid, String)> = match (found.first(), found.last()) {
            (Some(a), Some(b)) if a.0 != b.0 => vec![a, b],
            (Some(a), _) => vec![a],
            _ => {
                out.push(at(Finding::new(
                    Code::A003,
                    format!("`{p}` is not committed: git cannot tell who wrote it, so four-eyes cannot be checked"),
                )
                .help(format!("commit `{p}` (as its author) before it is approved"))));
                continue;
            }
        };
        let list = authors
            .iter()
            .map(|(c, a)| format!("{a} (commit {})", short(*c)))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(typed) = s.author.as_deref().filter(|a| !a.trim().is_empty())
            && !authors.iter().any(|(_, a)| eq_email(a, typed))
        {
            out.push(at(Finding::new(
                Code::A003,
                format!("`{p}` says author = {typed}, but git says it was written by {list}"),
            )
            .help(format!(
                "set author to the git author of `{p}`; under four-eyes the approver must be someone else"
            ))));
        }
        if let Some((c, _)) = authors.iter().find(|(_, a)| eq_email(a, by)) {
            out.push(at(Finding::new(
                Code::A003,
                format!(
                    "`{p}` is approved by {by}, who wrote it according to git (commit {}) while governance.four-eyes is on",
                    short(*c)
                ),
            )));
        }
    }
    Ok(out)
}

/// The entries of one migrations.lock text: revision (or `kind`) -> the rest of its line. The
/// `h1:` checksum line follows from the rest and is left out.
fn lock_entries(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with("h1:") {
            continue;
        }
        if let Some(kind) = line.strip_prefix("kind=") {
            out.insert("kind".to_string(), kind.to_string());
            continue;
        }
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        out.insert(key.to_string(), rest.trim().to_string());
    }
    out
}

/// `rel`'s blob on every commit of HEAD's first-parent line, newest first.
fn first_parent_line(repo: &Repository, rel: &str) -> Result<FirstParentLine, git2::Error> {
    let mut line = FirstParentLine::default();
    let Ok(mut c) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(line);
    };
    loop {
        let blob = c.tree()?.get_path(Path::new(rel)).ok().map(|e| e.id());
        line.commits.push((c.id(), blob));
        match c.parent(0) {
            Ok(p) => c = p,
            Err(_) => {
                line.cut_off = c.parent_count() > 0;
                break;
            }
        }
    }
    Ok(line)
}

/// G005: the lockfile is missing (while it existed in history or migrations exist), or a
/// commit re-pinned or removed an existing entry without approving it. `line`: the lockfile
/// on HEAD's first-parent line, from the walk of policy.toml (`None`: that walk did not run,
/// because HEAD has no policy.toml; then the line is read here).
pub fn g005(
    policy: &Policy,
    ctx: &Context<'_>,
    line: Option<&FirstParentLine>,
) -> Result<Vec<Finding>, CheckError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: ctx.policy_rel.clone(),
        source,
    };
    let lock_rel = policy
        .migrations
        .lockfile
        .trim_start_matches("./")
        .to_string();
    let mut out = Vec::new();
    let own;
    let line = match line {
        Some(l) => l,
        None => {
            own = first_parent_line(ctx.repo, &lock_rel).map_err(git)?;
            &own
        }
    };
    // The versions of the lockfile on that line, newest first: (commit that set it, text).
    let mut versions: Vec<(Oid, Option<String>)> = Vec::new();
    for (i, (commit, blob)) in line.commits.iter().enumerate() {
        let before = match line.commits.get(i + 1) {
            Some((_, b)) => *b,
            None if line.cut_off && blob.is_some() => {
                return Err(HistoryError::Shallow {
                    policy: lock_rel.clone(),
                    commit: short(*commit),
                    entry: lock_rel.clone(),
                }
                .into());
            }
            None => None,
        };
        if before != *blob {
            let text = match blob {
                Some(b) => Some(
                    String::from_utf8_lossy(ctx.repo.find_blob(*b).map_err(git)?.content())
                        .into_owned(),
                ),
                None => None,
            };
            versions.push((*commit, text));
        }
    }
    let existed = versions.iter().any(|(_, t)| t.is_some());
    if !ctx.root.join(&lock_rel).exists() {
        let dir = ctx.root.join(&policy.migrations.path);
        let has_files = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name() != "__pycache__" && e.file_name() != ".gitkeep")
            })
            .unwrap_or(false);
        if existed || has_files {
            out.push(
                Finding::new(
                    Code::G005,
                    format!(
                        "{lock_rel} is missing{}: released migrations are no longer pinned",
                        if existed {
                            " but it is in the history".to_string()
                        } else {
                            format!(" while {} holds migrations", policy.migrations.path)
                        }
                    ),
                )
                .at(lock_rel.clone())
                .help(format!(
                    "restore it (`git checkout HEAD -- {lock_rel}`, or from the last commit that had it); a new lockfile is written by `gate-replay lock` and committed by a listed approver with the `{}:` trailer",
                    policy.governance.trailer
                )),
            );
        }
    }
    // Newest change of each entry decides; a change of an existing entry is a re-pin.
    let parsed: Vec<(Oid, Option<BTreeMap<String, String>>)> = versions
        .iter()
        .map(|(c, t)| (*c, t.as_deref().map(lock_entries)))
        .collect();
    let mut decided: HashSet<String> = HashSet::new();
    let mut repins: BTreeMap<Oid, Vec<String>> = BTreeMap::new();
    for (i, (commit, here)) in parsed.iter().enumerate() {
        // Compared with the previous version that existed, so `rm` in one commit and a
        // re-written lockfile in the next is a re-pin as well.
        let Some(here) = here else { continue };
        let before = parsed[i + 1..].iter().find_map(|(_, t)| t.as_ref());
        let Some(before) = before else {
            decided.extend(here.keys().cloned());
            continue;
        };
        for (k, v) in before {
            if here.get(k) != Some(v) && decided.insert(k.clone()) {
                repins.entry(*commit).or_default().push(k.clone());
            }
        }
        for (k, v) in here {
            if before.get(k) != Some(v) {
                decided.insert(k.clone()); // added or re-pinned here: older changes are history
            }
        }
    }
    let mut lock_versions = Versions::new(ctx.repo, &lock_rel);
    for (id, keys) in repins {
        let mut value = |c: &Commit<'_>| lock_versions.text(c);
        let judged = resolve(ctx.repo, id, &mut value, 0).map_err(git)?;
        let merge = ctx.repo.find_commit(id).map_err(git)?;
        // A merge commit made and signed off by an approver approves what it brings in.
        if judged != id && disapproval(ctx.repo, &ctx.policy_rel, &merge).is_none() {
            continue;
        }
        let commit = ctx.repo.find_commit(judged).map_err(git)?;
        if let Some(why) = disapproval(ctx.repo, &ctx.policy_rel, &commit) {
            out.push(
                Finding::new(
                    Code::G005,
                    format!(
                        "{} re-pinned or removed {} entr{} of {lock_rel} ({}) but does not approve it: {why}",
                        commit_line(&commit),
                        keys.len(),
                        if keys.len() == 1 { "y" } else { "ies" },
                        keys.join(", ")
                    ),
                )
                .at(lock_rel.clone())
                .help(format!(
                    "a released migration is not edited; if it must be, the amended lockfile is committed by a listed approver with the `{}:` trailer",
                    policy.governance.trailer
                )),
            );
        }
    }
    Ok(out)
}
