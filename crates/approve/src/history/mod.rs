//! A010: which commit set each registry entry's current `sha256` / `approved-by`, and what
//! that commit says about who approved it; A012: which first-parent commit set the current
//! value of every governed key (settings that relax a gate, and every registry entry).
//!
//! The history of policy.toml is walked once, newest first, for all entries and keys
//! together; each version of the file is parsed once (cached by blob id) and only as far as
//! the part that differs from its parent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use git2::{Oid, Repository, Sort};

/// The values an approval is pinned to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Pin {
    pub sha256: Option<String>,
    pub approved_by: Option<String>,
}

/// Registry path -> pinned values, for one version of policy.toml.
pub type Pins = HashMap<String, Pin>;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "the history of {policy} is cut off at commit {commit} (shallow clone), before the commit that approved `{entry}`; fetch the full history: `git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout"
    )]
    Shallow {
        policy: String,
        commit: String,
        entry: String,
    },
    #[error(
        "the history of {policy} is cut off at commit {commit} (shallow clone), before the commit that adopted it, so A012 cannot tell who changed the governed settings; fetch the full history: `git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout"
    )]
    ShallowGoverned { policy: String, commit: String },
    #[error("cannot read the git history of {policy}: {source}")]
    Git { policy: String, source: git2::Error },
}

fn normalize(path: &str) -> String {
    path.trim_start_matches("./").to_string()
}

mod governed;
mod pins;
mod trailers;
mod walk;
mod window;

pub use governed::{Approvers, ENTRY, Governed, approvers_of, differing, governed_of};
pub use pins::pins_of;
pub use trailers::{trailer_email, trailers};
pub use walk::{base_version, find_setters, walk};

#[cfg(test)]
mod tests;

/// The text of `rel` in `commit`'s tree; `None` when it has none.
pub fn text_at(repo: &Repository, commit: &git2::Commit<'_>, rel: &str) -> Option<String> {
    let entry = commit
        .tree()
        .ok()?
        .get_path(std::path::Path::new(rel))
        .ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some(String::from_utf8_lossy(blob.content()).into_owned())
}

/// For A012: the first-parent commit that set the current value of every governed key, and
/// the commit that adopted the policy (the first one on the first-parent line to have it).
/// A version of policy.toml that does not parse sets nothing: the next one that parses is
/// compared with the nearest first-parent ancestor whose version parses.
#[derive(Debug, Default)]
pub struct GovernedSetters {
    /// Key -> the newest first-parent commit where its value differs from its first parent's
    /// (from the version in `bases` when the first parent's does not parse).
    /// Includes keys that HEAD no longer has (their removal is the change).
    pub setters: BTreeMap<String, Oid>,
    pub adoption: Option<Oid>,
    /// A commit whose first parent's policy.toml does not parse -> the commit it was compared
    /// with instead: the nearest first-parent ancestor whose policy parses (`None`: none
    /// before it has one, so it adopted the policy).
    pub bases: HashMap<Oid, Option<Oid>>,
}

/// HEAD's first-parent line, newest first, with the blob of one more file on each commit.
#[derive(Debug, Default)]
pub struct FirstParentLine {
    pub commits: Vec<(Oid, Option<Oid>)>,
    /// The oldest commit's parent is missing from this (shallow) clone.
    pub cut_off: bool,
}

/// What one walk of the history of policy.toml found.
#[derive(Debug, Default)]
pub struct Walk {
    pub setters: HashMap<String, Option<Setter>>,
    /// `Some` when the walk was asked for A012 as well.
    pub governed: Option<GovernedSetters>,
    /// `Some` when the walk was asked for an extra file.
    pub line: Option<FirstParentLine>,
}

/// Where an entry's current pin was set.
#[derive(Debug, Clone)]
pub struct Setter {
    pub commit: Oid,
}
