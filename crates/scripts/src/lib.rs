//! `gate-scripts`: which files are emergency scripts. The scope folders, the name patterns,
//! the script types (extensions and `#!` lines), the ignore globs and the one DDL grammar,
//! with the listings both gates need: `gate-precommit` judges what they find (G001/G002),
//! `gate-approve baseline` registers it. No findings and no output here: callers word them.

mod ddl;
mod detect;
mod display;
mod index;
mod scope;
mod worktree;

pub use ddl::{Statement, ddl_statements, first_ddl_line};
pub use detect::{
    Candidate, Kind, MAX_TEXT_BYTES, Reason, ScriptType, Verdict, classify, is_binary, script_type,
};
pub use display::{display_path, shell_quote};
pub use index::{Entry as IndexEntry, StagedIndex};
pub use scope::Paths;
pub use worktree::{Worktree, scripts_outside_scope, unregistered_in_worktree};

/// Why a listing could not finish: a file, folder or git object it had to read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// `error` is deliberately not a `#[source]`: its message is already in the text, and
    /// libgit2's class/code suffix would only repeat it as a "caused by" line.
    #[error("{what}: {}", error.message())]
    Git { what: String, error: git2::Error },
    #[error("the git index {path} is larger than 4 GiB")]
    IndexTooLarge { path: String },
}
