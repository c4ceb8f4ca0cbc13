//! Four-eyes from git (A003): who wrote a script is what git says, not the typed `author`.

use super::*;
use gate_report::Code;

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
