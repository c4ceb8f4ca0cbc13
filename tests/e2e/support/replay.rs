//! Helpers for the gate-replay tests: the binary on the test server, and small SQL chains as
//! git repositories.

use std::path::Path;

use super::db::server_url;
use super::repo::git_in;
use super::run::{REPLAY, Run, gate};
use super::write;

/// Run gate-replay in `dir` with `args` (the one scrub: plain output, no colour, no CI
/// summary file, no inherited database URL).
pub fn replay(dir: &Path, args: &[&str]) -> Run {
    gate(REPLAY, dir, args)
}

/// Replay on the test server with the url backend, JSON report.
pub fn replay_url(dir: &Path, extra: &[&str]) -> Run {
    let url = server_url();
    let mut args = vec![
        "--backend",
        "url",
        "--database-url",
        url.as_str(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    replay(dir, &args)
}

/// A git repository with a `kind = "sql"` chain of `files` in `db/migrations`, replayed on
/// the url backend.
pub fn sql_repo(naming: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "policy.toml",
        &format!(
            "version = 1\n\n[migrations]\nkind = \"sql\"\npath = \"db/migrations\"\nnaming = \"{naming}\"\n\n[replay]\nbackend = \"url\"\n"
        ),
    );
    for (name, text) in files {
        write(dir.path(), &format!("db/migrations/{name}"), text);
    }
    git_in(dir.path(), &["init", "-q", "."]);
    dir
}
