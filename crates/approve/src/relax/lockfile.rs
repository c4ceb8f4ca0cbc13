//! G005: migrations.lock is neither deleted nor re-pinned without an approving commit, and
//! every amendment of a released migration (an `amend` record) is added by one.

use super::*;
use gate_report::Code;

/// The entries of one migrations.lock text: revision (or `kind`) -> the rest of its line, and
/// each `amend` record as its own key (the whole line; records are only ever appended). The
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
        if gate_chain::lock::read_record(line).is_some() {
            out.insert(line.to_string(), String::new());
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

/// An `amend` record of the lockfile on HEAD and the commit that added it, as the report
/// lists it.
#[derive(Debug, Clone)]
pub struct AmendmentApproval {
    pub revision: String,
    pub reason: String,
    /// The commit judged for it (a merge's branch commit that added the record).
    pub commit: String,
    /// The approver who committed it, or `None` (then `problem` says why it does not approve).
    pub approved_by: Option<String>,
    pub problem: Option<String>,
}

/// What the versions of the lockfile on the first-parent line changed, per commit: entries
/// re-pinned or removed that no amendment of the same commit explains, and the `amend`
/// records added. Only the newest change of each entry counts.
#[derive(Default)]
struct LockHistory {
    repins: BTreeMap<Oid, Vec<String>>,
    amends: BTreeMap<Oid, Vec<gate_chain::Amendment>>,
}

/// The versions of the lockfile on `line`, newest first: (commit that set it, text).
fn lock_versions(
    ctx: &Context<'_>,
    line: &FirstParentLine,
    lock_rel: &str,
) -> Result<Vec<(Oid, Option<String>)>, CheckError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: ctx.policy_rel.clone(),
        source,
    };
    let mut versions = Vec::new();
    for (i, (commit, blob)) in line.commits.iter().enumerate() {
        let before = match line.commits.get(i + 1) {
            Some((_, b)) => *b,
            None if line.cut_off && blob.is_some() => {
                return Err(HistoryError::Shallow {
                    policy: lock_rel.to_string(),
                    commit: short(*commit),
                    entry: lock_rel.to_string(),
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
    Ok(versions)
}

/// Whether the change of entry `key` from `before` to `here` (`<path> <content> <chained>`)
/// follows from the amendments of `amended` revisions in the same commit: the amended
/// revision's content, or only the chained hash of a later one.
fn explained(key: &str, before: &str, here: Option<&String>, amended: &HashSet<String>) -> bool {
    let (Some(here), false) = (here, amended.is_empty()) else {
        return false;
    };
    let fields = |s: &str| -> Vec<String> { s.split(' ').map(str::to_string).collect() };
    let (b, h) = (fields(before), fields(here));
    b.len() == 3 && h.len() == 3 && b[0] == h[0] && (b[1] == h[1] || amended.contains(key))
}

fn lock_history(versions: &[(Oid, Option<String>)]) -> LockHistory {
    let parsed: Vec<(Oid, Option<BTreeMap<String, String>>)> = versions
        .iter()
        .map(|(c, t)| (*c, t.as_deref().map(lock_entries)))
        .collect();
    let empty = BTreeMap::new();
    let mut decided: HashSet<String> = HashSet::new();
    let mut out = LockHistory::default();
    for (i, (commit, here)) in parsed.iter().enumerate() {
        // Compared with the previous version that existed, so `rm` in one commit and a
        // re-written lockfile in the next is a re-pin as well.
        let Some(here) = here else { continue };
        let before = parsed[i + 1..].iter().find_map(|(_, t)| t.as_ref());
        let first = before.is_none();
        let before = before.unwrap_or(&empty);
        let added: Vec<gate_chain::Amendment> = here
            .keys()
            .filter(|k| !before.contains_key(*k) && !decided.contains(*k))
            .filter_map(|k| gate_chain::lock::read_record(k))
            .collect();
        let amended: HashSet<String> = added.iter().map(|a| a.revision.clone()).collect();
        for (k, v) in before {
            if here.get(k) != Some(v)
                && decided.insert(k.clone())
                && !explained(k, v, here.get(k), &amended)
            {
                out.repins.entry(*commit).or_default().push(k.clone());
            }
        }
        for (k, v) in here {
            // Added or re-pinned here: older changes are history. The first version of the
            // lockfile is the baseline, except for amendments.
            if first || before.get(k) != Some(v) {
                decided.insert(k.clone());
            }
        }
        if !added.is_empty() {
            out.amends.insert(*commit, added);
        }
    }
    out
}

/// The commit to judge for a lockfile change `id` made on the first-parent line, and why it
/// does not approve it (`None`: it does).
fn judge(
    ctx: &Context<'_>,
    lock_versions: &mut Versions<'_>,
    id: Oid,
) -> Result<(Oid, Option<String>), git2::Error> {
    let mut value = |c: &Commit<'_>| lock_versions.text(c);
    let judged = resolve(ctx.repo, &ctx.policy_rel, id, &mut value, 0)?;
    let merge = ctx.repo.find_commit(id)?;
    // A merge commit made and signed off by an approver approves what it brings in.
    if judged != id && disapproval(ctx.repo, &ctx.policy_rel, &merge).is_none() {
        return Ok((id, None));
    }
    let commit = ctx.repo.find_commit(judged)?;
    let why = disapproval(ctx.repo, &ctx.policy_rel, &commit)
        .map(|why| with_merge_method(ctx.repo, &ctx.policy_rel, &commit, why));
    Ok((judged, why))
}

/// G005: the lockfile is missing (while it existed in history or migrations exist), a commit
/// re-pinned or removed an existing entry without approving it, or a commit added an
/// amendment without approving it. `line`: the lockfile on HEAD's first-parent line, from the
/// walk of policy.toml (`None`: that walk did not run, because HEAD has no policy.toml; then
/// the line is read here).
pub fn g005(
    policy: &Policy,
    ctx: &Context<'_>,
    line: Option<&FirstParentLine>,
) -> Result<Vec<Finding>, CheckError> {
    let lock_rel = lock_rel(policy);
    let versions = versions_on(ctx, line, &lock_rel)?;
    let existed = versions.iter().any(|(_, t)| t.is_some());
    let mut out: Vec<Finding> = missing(policy, ctx, &lock_rel, existed)
        .into_iter()
        .collect();
    let history = lock_history(&versions);
    let commits: std::collections::BTreeSet<Oid> = history
        .repins
        .keys()
        .chain(history.amends.keys())
        .copied()
        .collect();
    let mut lock_versions = Versions::new(ctx.repo, &lock_rel);
    for id in commits {
        let (judged, why) = judge(ctx, &mut lock_versions, id).map_err(git_err(ctx))?;
        let Some(why) = why else { continue };
        let commit = ctx.repo.find_commit(judged).map_err(git_err(ctx))?;
        for a in history.amends.get(&id).into_iter().flatten() {
            out.push(unapproved_amendment(policy, &lock_rel, &commit, a, &why));
        }
        if let Some(keys) = history.repins.get(&id) {
            out.push(unapproved_repin(policy, &lock_rel, &commit, keys, &why));
        }
    }
    Ok(out)
}

/// Every `amend` record the first-parent line added and that is still there, with the commit
/// judged for it and whether it approves it (for `gate-approve report`).
pub fn amendments(
    policy: &Policy,
    ctx: &Context<'_>,
) -> Result<Vec<AmendmentApproval>, CheckError> {
    let lock_rel = lock_rel(policy);
    let versions = versions_on(ctx, None, &lock_rel)?;
    let history = lock_history(&versions);
    let mut lock_versions = Versions::new(ctx.repo, &lock_rel);
    let mut out = Vec::new();
    // Oldest first, as the records stand in the lockfile.
    for (id, records) in history.amends.iter().rev() {
        let (judged, why) = judge(ctx, &mut lock_versions, *id).map_err(git_err(ctx))?;
        let commit = ctx.repo.find_commit(judged).map_err(git_err(ctx))?;
        for a in records {
            out.push(AmendmentApproval {
                revision: a.revision.clone(),
                reason: a.reason.clone(),
                commit: short(judged),
                approved_by: why.is_none().then(|| email(&commit.committer())),
                problem: why.clone(),
            });
        }
    }
    Ok(out)
}

fn lock_rel(policy: &Policy) -> String {
    policy
        .migrations
        .lockfile
        .trim_start_matches("./")
        .to_string()
}

fn git_err(ctx: &Context<'_>) -> impl Fn(git2::Error) -> HistoryError + use<> {
    let policy = ctx.policy_rel.clone();
    move |source| HistoryError::Git {
        policy: policy.clone(),
        source,
    }
}

fn versions_on(
    ctx: &Context<'_>,
    line: Option<&FirstParentLine>,
    lock_rel: &str,
) -> Result<Vec<(Oid, Option<String>)>, CheckError> {
    match line {
        Some(l) => lock_versions(ctx, l, lock_rel),
        None => {
            let own = first_parent_line(ctx.repo, lock_rel).map_err(git_err(ctx))?;
            lock_versions(ctx, &own, lock_rel)
        }
    }
}

/// G005 for a lockfile that is not in the working tree while it is in the history or the
/// migrations folder holds migrations.
fn missing(policy: &Policy, ctx: &Context<'_>, lock_rel: &str, existed: bool) -> Option<Finding> {
    if ctx.root.join(lock_rel).exists() {
        return None;
    }
    let dir = ctx.root.join(&policy.migrations.path);
    let has_files = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name() != "__pycache__" && e.file_name() != ".gitkeep")
        })
        .unwrap_or(false);
    if !existed && !has_files {
        return None;
    }
    Some(
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
        .at(lock_rel.to_string())
        .help(format!(
            "restore it (`git checkout HEAD -- {lock_rel}`, or from the last commit that had it); a new lockfile is written by `gate-replay lock` and committed by a listed approver with the `{}:` trailer",
            policy.governance.trailer
        )),
    )
}

fn unapproved_amendment(
    policy: &Policy,
    lock_rel: &str,
    commit: &Commit<'_>,
    a: &gate_chain::Amendment,
    why: &str,
) -> Finding {
    Finding::new(
        Code::G005,
        format!(
            "{} amended released migration {} in {lock_rel} (reason: \"{}\") but does not approve it: {why}",
            commit_line(commit),
            a.revision,
            a.reason
        ),
    )
    .at(lock_rel.to_string())
    .help(format!(
        "an amendment of a released migration is an approval: a listed approver ({}) commits it themselves (re-commit it as them) with the trailer `{}: <their email>` in the last paragraph; see docs/GOVERNANCE.md",
        approvers(policy),
        policy.governance.trailer
    ))
}

fn unapproved_repin(
    policy: &Policy,
    lock_rel: &str,
    commit: &Commit<'_>,
    keys: &[String],
    why: &str,
) -> Finding {
    Finding::new(
        Code::G005,
        format!(
            "{} re-pinned or removed {} entr{} of {lock_rel} ({}) but does not approve it: {why}",
            commit_line(commit),
            keys.len(),
            if keys.len() == 1 { "y" } else { "ies" },
            keys.join(", ")
        ),
    )
    .at(lock_rel.to_string())
    .help(format!(
        "a released migration is not edited; if it must be, record the edit with `gate-replay lock --amend <revision> --reason \"...\"` and have a listed approver commit it with the `{}:` trailer",
        policy.governance.trailer
    ))
}

fn approvers(policy: &Policy) -> String {
    if policy.governance.approvers.is_empty() {
        "none listed".to_string()
    } else {
        policy.governance.approvers.join(", ")
    }
}
