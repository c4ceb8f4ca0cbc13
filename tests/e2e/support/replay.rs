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

/// The data of the report section titled `title` in a `--format json` run.
pub fn section(run: &Run, title: &str) -> serde_json::Value {
    run.json()["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .find(|s| s["title"] == title)
        .unwrap_or_else(|| panic!("no {title} section: {run}"))["data"]
        .clone()
}

/// `key` of each entry of `list`, as strings.
fn each(list: &serde_json::Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Revision ids as compared: a golang-migrate version without its leading zeros (the Stairway
/// and Seeded pass sections spell it as its file does, `000001`; the timings as golang-migrate
/// records it, `1`).
fn ids<S: AsRef<str>>(revisions: &[S]) -> Vec<String> {
    revisions
        .iter()
        .map(|r| r.as_ref().trim_start_matches('0').to_string())
        .collect()
}

/// A `--stairway --data` run really checked every migration of the chain (`revisions` and
/// `files` repository-relative, in chain order): the Stairway section stepped each one down
/// and up, the Seeded pass replayed each one on generated rows, and the Locks and rewrites
/// section observed each one.
pub fn assert_each_revision_checked(run: &Run, revisions: &[&str], files: &[String]) {
    let stairway = section(run, "Stairway");
    assert_eq!(stairway["revisions"], revisions.len(), "{stairway}");
    assert_eq!(stairway["stepped"], revisions.len(), "{stairway}");
    let stepped = each(&stairway["steps"], "revision");
    assert_eq!(ids(&stepped), ids(revisions), "{stairway}");
    assert_eq!(each(&stairway["steps"], "file"), files, "{stairway}");
    let steps = stairway["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true), "{stairway}");

    let pass = section(run, "Seeded pass");
    assert_eq!(pass["revisions"], revisions.len(), "{pass}");
    assert_eq!(pass["replayed"], revisions.len(), "{pass}");
    let replayed = each(&pass["steps"], "revision");
    assert_eq!(ids(&replayed), ids(revisions), "{pass}");
    assert!(
        pass["generated"].as_u64() > Some(0),
        "no rows generated: {pass}"
    );
    let steps = pass["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true), "{pass}");

    let locks = section(run, "Locks and rewrites");
    assert_eq!(each(&locks["migrations"], "migration"), files, "{locks}");
}
