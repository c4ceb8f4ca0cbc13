//! Migration discovery (Alembic, SQL folders) into one [`RevisionGraph`], chain checks
//! C001–C006, and `migrations.lock` (G003/G004).
//!
//! Data flows one way: [`discover`] (or [`discover_from`] for staged content) builds the
//! graph, [`check`] returns findings, [`lock_findings`] compares with the lockfile. Nothing
//! here prints.

pub mod alembic;
mod checks;
mod graph;
pub mod lock;
pub mod mermaid;
mod sql;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use gate_policy::{MigrationKind, Policy};
use gate_report::{Code, Finding};

pub use checks::check;
pub use graph::{ChainKind, Label, Revision, RevisionGraph, SqlMigration};
pub use lock::{
    Amendment, LockEntry, Lockfile, amend, lock_findings, render_lock, render_lock_keeping,
    write_lock,
};
pub use sql::{dbmate_sections, source_text};

use alembic::{Item, Value};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The lockfile is unreadable, hand-edited (header hash mismatch) or of another kind.
    #[error("{path}:{line}: {message}")]
    Lockfile {
        path: String,
        line: u32,
        message: String,
    },
    /// The migrations folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// `gate-replay lock --amend` cannot record the amendment.
    #[error("cannot amend {revision}: {message}")]
    Amend { revision: String, message: String },
    #[error("{0}")]
    Other(String),
}

/// The result of reading a migrations folder.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub graph: RevisionGraph,
    /// Every file read under the migrations folder (repository-relative path -> content),
    /// for lockfile checks without a second read.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Files under the migrations folder that are no migration by the chain's rules
    /// ([`is_chain_file`]), sorted: nothing replays them, so they are listed, and the
    /// pre-commit gate judges them as possible emergency scripts.
    pub not_revisions: Vec<String>,
}

/// `policy.migrations.path` as a clean repository-relative prefix (`a/b`, no `./`, no `/`).
pub fn migrations_dir(policy: &Policy) -> String {
    let p = policy.migrations.path.replace('\\', "/");
    let p = p.trim_start_matches("./").trim_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

fn under<'a>(dir: &str, path: &'a str) -> Option<&'a str> {
    if dir.is_empty() {
        return Some(path);
    }
    path.strip_prefix(dir)?.strip_prefix('/')
}

/// Read the migrations folder under `root` and build the graph.
pub fn discover(root: &Path, policy: &Policy) -> Result<Discovery, ChainError> {
    let dir = migrations_dir(policy);
    let mut files = BTreeMap::new();
    let mut other = Vec::new();
    if policy.migrations.kind != MigrationKind::Command {
        let abs = root.join(&dir);
        if !abs.is_dir() {
            return Err(ChainError::Other(format!(
                "migrations folder `{}` (migrations.path in the policy) does not exist under {}; create it or correct migrations.path",
                if dir.is_empty() { "." } else { &dir },
                root.display()
            )));
        }
        let ext = match policy.migrations.kind {
            MigrationKind::Alembic => ".py",
            _ => ".sql",
        };
        let walker = walkdir::WalkDir::new(&abs)
            .follow_links(true)
            .into_iter()
            .filter_entry(|e| e.file_name() != "__pycache__");
        for entry in walker {
            let entry = entry.map_err(|e| ChainError::Read {
                path: e
                    .path()
                    .map_or_else(|| abs.display().to_string(), |p| p.display().to_string()),
                source: e.into(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
            if !name.ends_with(ext) {
                if !is_lockfile(policy, &rel) {
                    other.push(rel);
                }
                continue;
            }
            let bytes = std::fs::read(entry.path()).map_err(|source| ChainError::Read {
                path: rel.clone(),
                source,
            })?;
            files.insert(rel, bytes);
        }
    }
    let graph = discover_from(&files, policy);
    let mut not_revisions: Vec<String> = files
        .keys()
        .filter(|p| !claimed_by(&graph, p) && !is_lockfile(policy, p))
        .cloned()
        .chain(other)
        .collect();
    not_revisions.sort();
    Ok(Discovery {
        graph,
        files,
        not_revisions,
    })
}

fn is_lockfile(policy: &Policy, rel: &str) -> bool {
    rel == policy.migrations.lockfile.trim_start_matches("./")
}

/// Whether the graph holds `path` as a migration (up, down, repeatable) or reports it as a
/// broken one.
fn claimed_by(graph: &RevisionGraph, path: &str) -> bool {
    graph.revisions.iter().any(|r| {
        r.path == path
            || r.sql
                .as_ref()
                .is_some_and(|m| m.up == path || m.down.as_deref() == Some(path))
    }) || graph.repeatable.iter().any(|m| m.up == path)
        || graph
            .problems
            .iter()
            .any(|f| f.path.as_deref() == Some(path))
}

/// Whether a file under `migrations.path` is the chain's: a migration by the chain's own
/// rules, or a file the chain reports as a broken one (C005). Anything else there (a shell
/// script, a `.py` without `revision =`) is replayed by nothing, so the gates judge it as a
/// possible emergency script. With `kind = "command"` the folder belongs to another tool
/// whose rules the chain does not know, so every file counts as the chain's. `load` reads
/// the content, only when the name could be a migration's.
pub fn is_chain_file<E>(
    policy: &Policy,
    path: &str,
    load: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<bool, E> {
    let ext = match policy.migrations.kind {
        MigrationKind::Command => return Ok(true),
        MigrationKind::Alembic => ".py",
        MigrationKind::Sql => ".sql",
    };
    if !path.ends_with(ext) || under(&migrations_dir(policy), path).is_none() {
        return Ok(false);
    }
    // The file alone decides: an Alembic file by its module variables, a SQL file by its
    // name (a lone down file is a C005 the chain reports, so still the chain's).
    let files = BTreeMap::from([(path.to_string(), load()?)]);
    Ok(claimed_by(&discover_from(&files, policy), path))
}

/// Build the graph from in-memory sources (e.g. staged content). `files` maps
/// repository-relative paths to content; only those under `migrations.path` are used.
pub fn discover_from(files: &BTreeMap<String, Vec<u8>>, policy: &Policy) -> RevisionGraph {
    let dir = migrations_dir(policy);
    match policy.migrations.kind {
        MigrationKind::Command => RevisionGraph::new(ChainKind::Command, Vec::new()),
        MigrationKind::Sql => {
            let mine: BTreeMap<String, Vec<u8>> = files
                .iter()
                .filter(|(p, _)| under(&dir, p).is_some())
                .map(|(p, c)| (p.clone(), c.clone()))
                .collect();
            sql::discover_sql(policy.migrations.naming, &mine)
        }
        MigrationKind::Alembic => discover_alembic(&dir, files),
    }
}

/// Alembic's load order: `os.walk` top-down, each folder's files sorted before its sorted
/// subfolders. The revision map keeps this order, and its topological sort breaks ties by it.
fn alembic_load_order(a: &str, b: &str) -> Ordering {
    let ca: Vec<&str> = a.split('/').collect();
    let cb: Vec<&str> = b.split('/').collect();
    for i in 0..ca.len().min(cb.len()) {
        if ca[i] == cb[i] {
            continue;
        }
        let a_file = i == ca.len() - 1;
        let b_file = i == cb.len() - 1;
        return match (a_file, b_file) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => ca[i].cmp(cb[i]),
        };
    }
    ca.len().cmp(&cb.len())
}

fn discover_alembic(dir: &str, files: &BTreeMap<String, Vec<u8>>) -> RevisionGraph {
    let mut paths: Vec<(&str, &String)> = files
        .keys()
        .filter_map(|p| under(dir, p).map(|rel| (rel, p)))
        .filter(|(rel, _)| {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            // Alembic's `_only_source_rev_file`: `.py` files, not `__init__*` or editor locks.
            name.ends_with(".py")
                && !name.starts_with("__init__")
                && !name.starts_with(".#")
                && !rel.split('/').any(|c| c == "__pycache__")
        })
        .collect();
    paths.sort_by(|a, b| alembic_load_order(a.0, b.0));
    let mut revisions = Vec::new();
    let mut problems = Vec::new();
    for (_, path) in paths {
        match parse_alembic_file(path, &files[path]) {
            Ok(Some(r)) => revisions.push(r),
            Ok(None) => {}
            Err(f) => problems.push(f),
        }
    }
    let mut g = RevisionGraph::new(ChainKind::Alembic, revisions);
    g.problems = problems;
    g
}

fn c005(path: &str, line: u32, msg: String) -> Finding {
    Finding::new(Code::C005, msg)
        .at(path.to_string())
        .line(line)
        .help("Write `revision` and `down_revision` as plain module-level literals, e.g. `revision = \"abc123\"` and `down_revision = \"prev456\"` (or None, or a tuple for a merge).")
}

/// Parse one Alembic revision file. `Ok(None)`: not a revision (no `revision`/`down_revision`
/// assignment). `Err`: looks like a revision but cannot be read (C005).
///
/// Non-UTF-8 bytes are decoded lossily: the module variables are ASCII in practice, and old
/// Python 2 files with a latin-1 coding line are real revisions Alembic still loads.
pub fn parse_alembic_file(path: &str, bytes: &[u8]) -> Result<Option<Revision>, Finding> {
    if bytes.contains(&0) {
        // Python refuses source with NUL bytes, so Alembic cannot load this file either.
        return Err(c005(
            path,
            1,
            format!(
                "`{path}` contains binary data (NUL bytes); Python cannot import it as a revision"
            ),
        )
        .help(
            "Remove the binary file from the versions folder, or restore the migration's source.",
        ));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    let vars = alembic::read_module_vars(&text);
    if vars.revision.is_none() && vars.down_revision.is_none() {
        if let Some(line) = vars.unterminated {
            // Only a revision-looking file is our business; a broken helper is not.
            if text.contains("down_revision") {
                return Err(c005(
                    path,
                    line,
                    format!(
                        "`{path}` has a string or bracket opened on line {line} that never closes, so its revision variables cannot be read"
                    ),
                ));
            }
        }
        return Ok(None);
    }
    if let Some(line) = vars.unterminated {
        return Err(c005(
            path,
            line,
            format!("`{path}` has a string or bracket opened on line {line} that never closes"),
        ));
    }
    let Some(rev) = vars.revision else {
        let line = vars.down_revision.as_ref().map_or(1, |a| a.line);
        return Err(c005(
            path,
            line,
            format!("`{path}` sets down_revision but has no module-level `revision = \"...\"`"),
        ));
    };
    let id = match &rev.value {
        Value::Str(s) if !s.trim().is_empty() => s.clone(),
        other => {
            return Err(c005(
                path,
                rev.line,
                format!(
                    "`revision` in `{path}` is {}, not a non-empty string literal",
                    describe(other)
                ),
            ));
        }
    };
    let Some(down) = vars.down_revision else {
        return Err(c005(
            path,
            rev.line,
            format!("`{path}` declares revision {id} but no module-level `down_revision`"),
        ));
    };
    let parents = match &down.value {
        Value::None => Vec::new(),
        Value::Str(s) => vec![s.clone()],
        Value::List(items) if items.iter().all(|i| matches!(i, Item::Str(_))) => items
            .iter()
            .filter_map(|i| match i {
                Item::Str(s) => Some(s.clone()),
                Item::Expr(_) => None,
            })
            .collect(),
        other => {
            return Err(c005(
                path,
                down.line,
                format!(
                    "`down_revision` of {id} in `{path}` is {}, not None, a string or a tuple of strings",
                    describe(other)
                ),
            ));
        }
    };
    let mut branch_labels = Vec::new();
    let mut branch_labels_line = None;
    if let Some(a) = vars.branch_labels {
        branch_labels_line = Some(a.line);
        match a.value {
            Value::None => {}
            // The string "None" is a common slip for None; treating it as a label would
            // invent a branch nobody meant.
            Value::Str(s) if s == "None" => {}
            Value::Str(s) => branch_labels.push(Label::Literal(s)),
            Value::List(items) => {
                for i in items {
                    branch_labels.push(match i {
                        Item::Str(s) => Label::Literal(s),
                        Item::Expr(e) => Label::Symbolic(e),
                    });
                }
            }
            Value::Expr(e) => branch_labels.push(Label::Symbolic(e)),
        }
    }
    let mut depends_on = Vec::new();
    let mut depends_on_symbolic = Vec::new();
    let mut depends_on_line = None;
    if let Some(a) = vars.depends_on {
        depends_on_line = Some(a.line);
        match a.value {
            Value::None => {}
            Value::Str(s) => depends_on.push(s),
            Value::List(items) => {
                for i in items {
                    match i {
                        Item::Str(s) => depends_on.push(s),
                        Item::Expr(e) => depends_on_symbolic.push(e),
                    }
                }
            }
            Value::Expr(e) => depends_on_symbolic.push(e),
        }
    }
    Ok(Some(Revision {
        id,
        parents,
        depends_on,
        depends_on_symbolic,
        branch_labels,
        path: path.to_string(),
        line: rev.line,
        parents_line: Some(down.line),
        depends_on_line,
        branch_labels_line,
        sql: None,
    }))
}

fn describe(v: &Value) -> String {
    match v {
        Value::None => "None".into(),
        Value::Str(s) if s.trim().is_empty() => "an empty string".into(),
        Value::Str(s) => format!("the string {s:?}"),
        Value::List(_) => "a tuple or list".into(),
        Value::Expr(e) => {
            let short: String = e.chars().take(60).collect();
            format!("the expression `{short}`")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_order_is_files_before_subfolders() {
        let mut v = vec!["a/x.py", "b.py", "a.py", "a/b/c.py", "a/z.py"];
        v.sort_by(|a, b| alembic_load_order(a, b));
        assert_eq!(v, ["a.py", "b.py", "a/x.py", "a/z.py", "a/b/c.py"]);
    }

    #[test]
    fn bad_files_never_panic() {
        assert!(parse_alembic_file("v/x.py", b"").unwrap().is_none());
        assert_eq!(
            parse_alembic_file("v/x.py", b"\x00\x01\x02revision = 'a'")
                .unwrap_err()
                .code,
            "C005"
        );
        let f = parse_alembic_file("v/x.py", b"revision = make_id()\ndown_revision = None\n")
            .unwrap_err();
        assert_eq!((f.code.as_str(), f.line), ("C005", Some(1)));
        let f = parse_alembic_file(
            "v/x.py",
            b"\"\"\"doc\"\"\"\nrevision = 'a'\ndown_revision = foo.BAR\n",
        )
        .unwrap_err();
        assert_eq!(f.line, Some(3));
        // Latin-1 bytes in a Python 2 file: the revision is still read.
        let r = parse_alembic_file(
            "v/x.py",
            b"# -*- coding: latin-1 -*-\n# caf\xe9\nrevision = 'abc'\ndown_revision = None\nprint 'x'\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.id, "abc");
        let r = parse_alembic_file(
            "v/x.py",
            b"revision = 'm'\ndown_revision = ('a', 'b')\nbranch_labels = 'None'\ndepends_on = ['x', cfg.Y]\n",
        )
        .unwrap()
        .unwrap();
        assert!(r.is_merge() && r.branch_labels.is_empty());
        assert_eq!(r.depends_on, ["x"]);
        assert_eq!(r.depends_on_symbolic, ["cfg.Y"]);
    }

    #[test]
    fn ten_megabyte_file() {
        let mut src = String::from("revision = 'big'\ndown_revision = None\n");
        while src.len() < 10 * 1024 * 1024 {
            src.push_str("op.execute(\"insert into t values (1, 'x')\")  # filler\n");
        }
        let r = parse_alembic_file("v/big.py", src.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(r.id, "big");
    }
}
