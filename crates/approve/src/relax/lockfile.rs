//! G005: migrations.lock is neither deleted nor re-pinned without an approving commit.

use super::*;
use gate_report::Code;

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
        let judged = resolve(ctx.repo, &ctx.policy_rel, id, &mut value, 0).map_err(git)?;
        let merge = ctx.repo.find_commit(id).map_err(git)?;
        // A merge commit made and signed off by an approver approves what it brings in.
        if judged != id && disapproval(ctx.repo, &ctx.policy_rel, &merge).is_none() {
            continue;
        }
        let commit = ctx.repo.find_commit(judged).map_err(git)?;
        if let Some(why) = disapproval(ctx.repo, &ctx.policy_rel, &commit) {
            let why = with_merge_method(ctx.repo, &ctx.policy_rel, &commit, why);
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
