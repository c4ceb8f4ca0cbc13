//! Whatever relaxes a gate is an approval recorded in git.
//!
//! - `A012`: the commit that set the current value of a governed key (a setting of
//!   `[emergency]`, `[governance]`, the paths of `[migrations]`, or any field of a registry
//!   entry) must be committed by an approver listed in its parent's policy (across
//!   unparseable versions, the nearest that parses), with the trailer naming them. The
//!   commit that adopted policy.toml is the baseline.
//! - `G005`: migrations.lock is neither deleted nor re-pinned without such a commit.
//! - Four-eyes from git (`A003`): who wrote a script is what git says, not the typed `author`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use gate_policy::{MergeMethod, Policy, ScriptStatus};
use gate_report::Finding;
use git2::{Commit, Oid, Repository};

use crate::check::{CheckError, Context};
use crate::history::{self, ENTRY, FirstParentLine, GovernedSetters, HistoryError};

mod a012;
mod authors;
mod lockfile;

pub use a012::a012;
pub use authors::a003_git;
pub use lockfile::{AmendmentApproval, amendments, g005};

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
/// approver listed in the policy it is compared with ([`history::base_version`]: its first
/// parent's, or across unparseable ones the nearest that parses), with `trailer: <committer>`,
/// signed when that policy requires it.
fn disapproval(repo: &Repository, policy_rel: &str, commit: &Commit<'_>) -> Option<String> {
    match base_of(repo, policy_rel, commit) {
        Ok(base) => disapproval_after(repo, policy_rel, commit, base.as_ref()),
        // Fails closed: a cut-off history cannot show who may approve.
        Err(e) => Some(e.to_string()),
    }
}

/// The version of policy.toml whose governance settings judge `commit`: the same one A012's
/// walk compares it with.
fn base_of<'r>(
    repo: &'r Repository,
    policy_rel: &str,
    commit: &Commit<'_>,
) -> Result<Option<Commit<'r>>, HistoryError> {
    history::base_version(repo, policy_rel, commit, &HashSet::new(), &mut |_| {})
}

/// [`disapproval`] with the approval settings of `base`'s policy, the version `commit` is
/// compared with, named "its parent" or by its id when the versions in between do not parse.
fn disapproval_after(
    repo: &Repository,
    policy_rel: &str,
    commit: &Commit<'_>,
    base: Option<&Commit<'_>>,
) -> Option<String> {
    let whose = match base {
        Some(b) if commit.parent_id(0).ok() != Some(b.id()) => format!("commit {}", short(b.id())),
        _ => "its parent".to_string(),
    };
    let parent_text = base
        .and_then(|b| history::text_at(repo, b, policy_rel))
        .unwrap_or_default();
    let gov = history::approvers_of(&parent_text);
    let committer = email(&commit.committer());
    if !gov.approvers.iter().any(|a| eq_email(a, &committer)) {
        return Some(if gov.approvers.is_empty() {
            format!("it was committed by {committer} and {whose}'s policy lists no approvers")
        } else {
            format!(
                "it was committed by {committer}, who is not in governance.approvers of {whose} ({})",
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

/// `Some(method)` when `merge` is a merge commit and the policy it is compared with (its first
/// parent's, or across unparseable ones the nearest that parses) says pull requests land by
/// squash or rebase: then the merge is judged by itself.
fn merge_method_before(
    repo: &Repository,
    policy_rel: &str,
    merge: &Commit<'_>,
) -> Option<MergeMethod> {
    if merge.parent_count() < 2 {
        return None;
    }
    // A history cut off among unparseable versions (the walk of A012 stops at that first):
    // the first parent's, as before.
    let base = match base_of(repo, policy_rel, merge) {
        Ok(base) => base,
        Err(_) => merge.parent(0).ok(),
    };
    let parent_text = base
        .and_then(|b| history::text_at(repo, &b, policy_rel))
        .unwrap_or_default();
    let method = history::approvers_of(&parent_text).merge_method;
    (method != MergeMethod::Merge).then_some(method)
}

/// Why a merge commit judged by itself under a squash or rebase merge method does not
/// approve, with what to do; `why` unchanged otherwise.
fn with_merge_method(
    repo: &Repository,
    policy_rel: &str,
    commit: &Commit<'_>,
    why: String,
) -> String {
    match merge_method_before(repo, policy_rel, commit) {
        Some(m) => format!(
            "{why}; governance.merge-method = \"{}\", so a merge commit is judged by itself, never by its branch's commits, as the commit that lands after a {} merge will be: have an approver {} locally and push the result as themselves with the trailer, or land policy changes with a merge commit (governance.merge-method = \"merge\")",
            m.as_str(),
            m.as_str(),
            if m == MergeMethod::Squash {
                "squash (`git merge --squash`, commit)"
            } else {
                "rebase and re-commit the branch"
            },
        ),
        None => why,
    }
}

/// The commit to judge for a change that `commit` (on the first-parent line) made to a value.
/// A merge that took the value from another parent is judged by the branch commit that set it
/// there, so a pull request's check and the check after a merge commit agree. When that
/// parent is already in the first parent's history (a crafted merge restoring an old value)
/// or the merge made the value itself, the merge is judged.
///
/// Under `governance.merge-method = "squash"` or `"rebase"` (in the merge's first parent's
/// policy) a merge is always judged by itself: after a squash or rebase merge the branch's
/// commits are not what lands, so the pull request's test merge is judged the way the commit
/// that lands will be.
fn resolve(
    repo: &Repository,
    policy_rel: &str,
    commit: Oid,
    value: &mut dyn FnMut(&Commit<'_>) -> Option<String>,
    depth: usize,
) -> Result<Oid, git2::Error> {
    let c = repo.find_commit(commit)?;
    if c.parent_count() < 2
        || depth > MAX_DEPTH
        || merge_method_before(repo, policy_rel, &c).is_some()
    {
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
                return resolve(repo, policy_rel, b.id(), value, depth + 1);
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
