//! A012: the commit that set each governed key's current value approves it.

use super::*;
use gate_report::Code;

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

/// What `commit` did to the entry `path`, relative to `base` (its first parent, or the
/// nearest version before it that parses): "added the registry entry `p`", "removed ...",
/// or "changed ... (status, convert-by)".
fn entry_change(
    repo: &Repository,
    commit: &Commit<'_>,
    base: Option<&Commit<'_>>,
    policy_rel: &str,
    path: &str,
) -> String {
    let here = entry_table(history::text_at(repo, commit, policy_rel), path);
    let before = base.and_then(|p| entry_table(history::text_at(repo, p, policy_rel), path));
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

/// Versions of policy.toml parsed as governed keys, cached by commit.
struct Parsed<'r> {
    versions: Versions<'r>,
    governed: HashMap<Oid, Option<history::Governed>>,
}

impl<'r> Parsed<'r> {
    /// `c`'s own governed keys; `None` when it has no policy or its policy does not parse.
    fn own(&mut self, c: &Commit<'_>) -> Option<&history::Governed> {
        let versions = &mut self.versions;
        self.governed
            .entry(c.id())
            .or_insert_with(|| versions.text(c).and_then(|t| history::governed_of(&t)))
            .as_ref()
    }

    /// Whether `c`'s policy.toml exists but does not parse.
    fn unparseable(&mut self, c: &Commit<'_>) -> bool {
        self.own(c).is_none() && self.versions.text(c).is_some()
    }

    /// The version `c` is compared with, as the walk does: its first parent, or past first
    /// parents whose policy does not parse, the nearest one that parses or has none.
    fn base(&mut self, c: &Commit<'_>) -> Option<Commit<'r>> {
        base_of(self.versions.repo, &self.versions.rel, c)
            .ok()
            .flatten()
    }

    /// `key`'s value at `c`; a version that does not parse holds the value of the one before
    /// it that does (it changed nothing by itself).
    fn value(&mut self, c: &Commit<'_>, key: &str) -> Option<String> {
        if self.unparseable(c) {
            let base = self.base(c)?;
            return self.own(&base).and_then(|g| g.get(key).cloned());
        }
        self.own(c).and_then(|g| g.get(key).cloned())
    }
}

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
    let mut parsed = Parsed {
        versions: Versions::new(ctx.repo, &ctx.policy_rel),
        governed: HashMap::new(),
    };
    // (judged commit, entry path or None for settings) -> (judged, keys, first-parent setter).
    let mut groups: BTreeMap<(String, Option<String>), Group> = BTreeMap::new();
    for (key, setter) in &gs.setters {
        if Some(*setter) == gs.adoption {
            continue;
        }
        let mut value = |c: &Commit<'_>| parsed.value(c, key);
        let judged = resolve(ctx.repo, &ctx.policy_rel, *setter, &mut value, 0).map_err(git)?;
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
    // The commit each judged commit is compared with: the walk's for the first-parent line,
    // the same search here for a branch commit.
    let mut compared_with = |c: &Commit<'_>| -> Option<Oid> {
        match gs.bases.get(&c.id()) {
            Some(base) => *base,
            None if gs.setters.values().any(|s| *s == c.id()) => c.parent_id(0).ok(),
            None => parsed.base(c).map(|b| b.id()),
        }
    };
    let mut out = Vec::new();
    for ((_, entry), (id, keys, setter)) in groups {
        // A merge commit made and signed off by an approver approves what it brings in.
        let mut judge = |c: Oid| -> Result<Option<String>, git2::Error> {
            if let Some(v) = verdicts.get(&c) {
                return Ok(v.clone());
            }
            let commit = ctx.repo.find_commit(c)?;
            let base = compared_with(&commit).and_then(|b| ctx.repo.find_commit(b).ok());
            let v = disapproval_after(ctx.repo, &ctx.policy_rel, &commit, base.as_ref());
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
        let why = with_merge_method(ctx.repo, &ctx.policy_rel, &commit, why);
        let base = compared_with(&commit).and_then(|b| ctx.repo.find_commit(b).ok());
        // Named when it is not the parent: the versions in between do not parse.
        let across = match &base {
            Some(b) if commit.parent_id(0).ok() != Some(b.id()) => format!(
                " (compared with commit {}, the nearest version of {} before it that parses)",
                short(b.id()),
                ctx.policy_rel
            ),
            None if commit.parent_count() > 0 && gs.bases.contains_key(&id) => format!(
                " (no version of {} before it parses, back to a commit without the file)",
                ctx.policy_rel
            ),
            _ => String::new(),
        };
        let mut f = match &entry {
            Some(p) => {
                let current = policy
                    .emergency
                    .scripts
                    .iter()
                    .find(|s| s.path.trim_start_matches("./") == p);
                let what = entry_change(ctx.repo, &commit, base.as_ref(), &ctx.policy_rel, p);
                let f = Finding::new(
                    Code::A012,
                    format!(
                        "{} {what}{across} but does not approve it: {why}",
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
                        "{} changed {}{across} but does not approve it: {why}",
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
