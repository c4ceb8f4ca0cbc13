//! `migrations.lock`: the released migrations, one line each in chain order, with a hash
//! chained over all earlier lines and a header hash over the whole file (after Atlas's
//! `atlas.sum`). The format is specified in the crate README.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use gate_policy::Policy;
use gate_report::{Code, Finding};
use sha2::{Digest, Sha256};

use crate::graph::{ChainKind, Revision, RevisionGraph};
use crate::{ChainError, discover_from};

mod amend;

pub use amend::{Amendment, LockDiff, amend, diff, read_record};

/// One line of the lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    pub id: String,
    pub path: String,
    /// sha256 (hex) of the normalised content.
    pub content: String,
    /// sha256 (hex) of the previous line's chained hash followed by this content hash.
    pub chained: String,
    /// 1-based line in the lockfile.
    pub line: u32,
}

/// A parsed, verified lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
    /// `alembic`, `sql:golang-migrate`, ...
    pub kind: String,
    pub entries: Vec<LockEntry>,
    /// `amend` records after the entries, oldest first: approved edits of released
    /// migrations (`gate-replay lock --amend`).
    pub amendments: Vec<Amendment>,
}

/// Normalise content before hashing: a leading UTF-8 BOM is dropped and CRLF becomes LF,
/// so a Windows checkout is not an edit. Every other byte counts.
pub fn normalize(bytes: &[u8]) -> Vec<u8> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

use gate_policy::sha256_hex as sha_hex;

/// The content hash of a migration: its file, plus its separate down/undo file if it has one.
fn content_hash(r: &Revision, files: &BTreeMap<String, Vec<u8>>) -> Option<String> {
    let up = files.get(&r.path)?;
    let mut data = normalize(up);
    if let Some(down) = r.sql.as_ref().and_then(|s| s.down.as_ref())
        && *down != r.path
    {
        data.push(0);
        data.extend(normalize(files.get(down).map_or(&[][..], Vec::as_slice)));
    }
    Some(sha_hex(&data))
}

fn chain_hash(prev: Option<&str>, content: &str) -> String {
    let mut h = Sha256::new();
    if let Some(p) = prev {
        h.update(p.as_bytes());
    }
    h.update(content.as_bytes());
    hex::encode(h.finalize())
}

// Ids and paths are single fields: escape the characters that would split a line.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => o.push_str("%25"),
            ' ' => o.push_str("%20"),
            '\t' => o.push_str("%09"),
            '\n' => o.push_str("%0A"),
            '\r' => o.push_str("%0D"),
            c => o.push(c),
        }
    }
    o
}

fn unescape(s: &str) -> String {
    s.replace("%20", " ")
        .replace("%09", "\t")
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

/// The lockfile text for the current chain (all migrations, in `order()`), without
/// amendment records: a new baseline.
pub fn render_lock(graph: &RevisionGraph, files: &BTreeMap<String, Vec<u8>>) -> String {
    render_lock_keeping(graph, files, &[])
}

/// The lockfile text for the current chain, keeping the amendment records of the lockfile it
/// replaces (those of revisions it still pins): a new release does not erase the record of
/// an approved amendment.
pub fn render_lock_keeping(
    graph: &RevisionGraph,
    files: &BTreeMap<String, Vec<u8>>,
    amendments: &[Amendment],
) -> String {
    let pins: Vec<Pin> = graph
        .order()
        .into_iter()
        .map(|r| {
            let content = content_hash(r, files).unwrap_or_else(|| sha_hex(b""));
            (r.id.clone(), r.path.clone(), content)
        })
        .collect();
    // A revision's records stay only while its last one pins what the new entry pins, so
    // the new lockfile always verifies.
    let last_new = |id: &str| {
        amendments
            .iter()
            .rev()
            .find(|a| a.revision == id)
            .map(|a| a.new_content.as_str())
    };
    let kept: Vec<Amendment> = amendments
        .iter()
        .filter(|a| {
            let pin = pins.iter().find(|p| p.0 == a.revision);
            pin.is_some_and(|p| last_new(&a.revision) == Some(p.2.as_str()))
        })
        .cloned()
        .collect();
    render_pins(graph.kind.lock_name(), &pins, &kept)
}

/// One entry before its chained hash: `(revision, path, content-sha256)`.
type Pin = (String, String, String);

/// The lockfile text from its parts: `(revision, path, content-sha256)` in chain order (the
/// chained hashes follow from them) and the amendment records of pinned revisions.
fn render_pins(kind: &str, pins: &[Pin], amendments: &[Amendment]) -> String {
    let mut body = format!("kind={kind}\n");
    let mut prev: Option<String> = None;
    for (id, path, content) in pins {
        let chained = chain_hash(prev.as_deref(), content);
        body.push_str(&format!(
            "{} {} {} {}\n",
            escape(id),
            escape(path),
            content,
            chained
        ));
        prev = Some(chained);
    }
    for a in amendments {
        body.push_str(&a.line_text());
        body.push('\n');
    }
    format!("h1:{}\n{}", sha_hex(body.as_bytes()), body)
}

/// Write the lockfile atomically (a temporary file in the same folder, then rename), so a
/// crash never leaves half a lockfile.
pub fn write_lock(path: &Path, text: &str) -> Result<(), ChainError> {
    let err = |source: std::io::Error| ChainError::Read {
        path: path.display().to_string(),
        source,
    };
    gate_policy::atomic::write_atomically(path, text.as_bytes()).map_err(err)
}

/// Parse and verify a lockfile: header hash, kind line, entry syntax and the hash chain.
/// `path` is only used in errors.
pub fn parse_lock(path: &str, bytes: &[u8]) -> Result<Lockfile, ChainError> {
    let bad = |line: u32, message: String| ChainError::Lockfile {
        path: path.to_string(),
        line,
        message,
    };
    let norm = normalize(bytes);
    let text = String::from_utf8(norm).map_err(|_| {
        bad(
            1,
            "not UTF-8 text; regenerate it with `gate-replay lock`".into(),
        )
    })?;
    let (header, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let Some(sum) = header.strip_prefix("h1:") else {
        return Err(bad(
            1,
            "first line must be `h1:<sha256>`; this is not a migrations.lock written by `gate-replay lock`".into(),
        ));
    };
    if sum.trim() != sha_hex(body.as_bytes()) {
        return Err(bad(
            1,
            "header hash does not match the file: it was edited by hand or a merge combined two versions; regenerate it with `gate-replay lock` from the reviewed chain".into(),
        ));
    }
    let mut lines = body.lines();
    let kind = match lines.next().and_then(|l| l.strip_prefix("kind=")) {
        Some(k) if !k.is_empty() => k.to_string(),
        _ => return Err(bad(2, "second line must be `kind=<kind>`".into())),
    };
    let mut entries = Vec::new();
    let mut amendments: Vec<Amendment> = Vec::new();
    let mut prev: Option<String> = None;
    for (i, l) in lines.enumerate() {
        let line = u32::try_from(i + 3).unwrap_or(u32::MAX);
        if l.is_empty() {
            continue;
        }
        if amend::is_record(l) {
            let a = amend::parse_record(l, line, &entries).map_err(|m| bad(line, m))?;
            amendments.push(a);
            continue;
        }
        if !amendments.is_empty() {
            return Err(bad(
                line,
                "an entry after the `amend` records: entries come first; regenerate with `gate-replay lock`".into(),
            ));
        }
        let entry = parse_entry(l, line, prev.as_deref()).map_err(|m| bad(line, m))?;
        prev = Some(entry.chained.clone());
        entries.push(entry);
    }
    amend::verify_records(&amendments, &entries).map_err(|(line, m)| bad(line, m))?;
    Ok(Lockfile {
        kind,
        entries,
        amendments,
    })
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One `<revision> <path> <sha256> <chained-sha256>` line, its chained hash checked against
/// the line before (`prev`).
fn parse_entry(l: &str, line: u32, prev: Option<&str>) -> Result<LockEntry, String> {
    let f: Vec<&str> = l.split(' ').collect();
    if f.len() != 4 || !is_hex64(f[2]) || !is_hex64(f[3]) {
        return Err("expected `<revision> <path> <sha256> <chained-sha256>`".into());
    }
    if f[3] != chain_hash(prev, f[2]) {
        return Err(
            "chained hash does not follow from the lines above; regenerate with `gate-replay lock`"
                .into(),
        );
    }
    Ok(LockEntry {
        id: unescape(f[0]),
        path: unescape(f[1]),
        content: f[2].to_string(),
        chained: f[3].to_string(),
        line,
    })
}

/// Lockfile checks G003 (released migration edited or deleted) and G004 (new migration
/// ordered before the last released one).
///
/// `lock_text` is the content of `policy.migrations.lockfile` (None when there is no lockfile:
/// nothing is released yet, so no findings). `files` maps every repository-relative path under
/// `policy.migrations.path` to its content — staged content for gate-precommit, the working
/// tree for gate-replay.
pub fn lock_findings(
    policy: &Policy,
    lock_text: Option<&[u8]>,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<Finding>, ChainError> {
    let Some(lock_text) = lock_text else {
        return Ok(Vec::new());
    };
    let lock_path = policy.migrations.lockfile.as_str();
    let lock = parse_lock(lock_path, lock_text)?;
    let graph = discover_from(files, policy);
    let want = graph.kind.lock_name();
    if lock.kind != want {
        return Err(ChainError::Lockfile {
            path: lock_path.to_string(),
            line: 2,
            message: format!(
                "the lockfile is for kind `{}` but the policy's migrations are `{want}`; regenerate it with `gate-replay lock` after switching",
                lock.kind
            ),
        });
    }
    Ok(compare(&graph, &lock, files, lock_path))
}

fn compare(
    graph: &RevisionGraph,
    lock: &Lockfile,
    files: &BTreeMap<String, Vec<u8>>,
    lock_path: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let restore = "Restore the released migration exactly as locked (e.g. `git checkout <released-commit> -- <path>`) and put the change in a new migration";
    for e in &lock.entries {
        match graph.get(&e.id) {
            None => {
                let msg = if files.contains_key(&e.path) {
                    format!(
                        "released migration {} at {} no longer declares that revision ({lock_path}:{})",
                        e.id, e.path, e.line
                    )
                } else {
                    format!(
                        "released migration {} ({}) was deleted ({lock_path}:{})",
                        e.id, e.path, e.line
                    )
                };
                out.push(
                    Finding::new(Code::G003, msg)
                        .at(e.path.clone())
                        .help(restore),
                );
            }
            Some(r) => {
                if r.path != e.path {
                    out.push(
                        Finding::new(
                            Code::G003,
                            format!(
                                "released migration {} moved from {} to {} ({lock_path}:{})",
                                e.id, e.path, r.path, e.line
                            ),
                        )
                        .at(r.path.clone())
                        .line(r.line)
                        .help(format!("Move it back to {}", e.path)),
                    );
                }
                if content_hash(r, files).as_deref() != Some(e.content.as_str()) {
                    out.push(
                        Finding::new(
                            Code::G003,
                            format!(
                                "released migration {} ({}) was edited after release ({lock_path}:{} pins its content)",
                                e.id, r.path, e.line
                            ),
                        )
                        .at(r.path.clone())
                        .line(1)
                        .help(restore),
                    );
                }
            }
        }
    }
    out.extend(g004(graph, lock));
    out
}

fn g004(graph: &RevisionGraph, lock: &Lockfile) -> Vec<Finding> {
    let locked: HashSet<&str> = lock.entries.iter().map(|e| e.id.as_str()).collect();
    if locked.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if graph.kind == ChainKind::Alembic {
        // Released heads: locked revisions no other locked revision builds on.
        let mut has_locked_child: HashSet<&str> = HashSet::new();
        for e in &lock.entries {
            if let Some(r) = graph.get(&e.id) {
                for p in &r.parents {
                    has_locked_child.insert(p.as_str());
                }
            }
        }
        let released_heads: Vec<&str> = lock
            .entries
            .iter()
            .map(|e| e.id.as_str())
            .filter(|id| !has_locked_child.contains(id))
            .collect();
        for r in graph.unique() {
            if locked.contains(r.id.as_str()) {
                continue;
            }
            for p in &r.parents {
                if locked.contains(p.as_str()) && !released_heads.contains(&p.as_str()) {
                    out.push(
                        Finding::new(
                            Code::G004,
                            format!(
                                "new migration {} follows {p}, but {p} was already followed by released migrations (released head: {}); databases past {p} will never run it",
                                r.id,
                                released_heads.join(", ")
                            ),
                        )
                        .at(r.path.clone())
                        .line(r.parents_at())
                        .help(format!(
                            "Rebase it: set down_revision = \"{}\" in {}",
                            released_heads.last().copied().unwrap_or(""),
                            r.path
                        )),
                    );
                }
            }
        }
    } else {
        let order = graph.order();
        let pos: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let last = lock
            .entries
            .iter()
            .filter_map(|e| pos.get(e.id.as_str()).map(|&p| (p, e.id.as_str())))
            .max();
        if let Some((last_pos, last_id)) = last {
            for (i, r) in order.iter().enumerate() {
                if i < last_pos && !locked.contains(r.id.as_str()) {
                    out.push(
                        Finding::new(
                            Code::G004,
                            format!(
                                "new migration {} ({}) sorts before the released migration {last_id}; databases already past {last_id} will skip it",
                                r.id, r.path
                            ),
                        )
                        .at(r.path.clone())
                        .line(1)
                        .help(format!("Renumber it to a version after {last_id}")),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_bom_and_crlf_only() {
        assert_eq!(normalize(b"\xef\xbb\xbfa\r\nb\rc\n"), b"a\nb\rc\n");
    }

    #[test]
    fn escape_roundtrip() {
        let s = "a b%c\td";
        assert_eq!(unescape(&escape(s)), s);
        assert!(!escape(s).contains(' '));
    }

    #[test]
    fn hand_edits_are_lockfile_errors() {
        let ok = {
            let body = format!(
                "kind=alembic\na v/a.py {} {}\n",
                "0".repeat(64),
                chain_hash(None, &"0".repeat(64))
            );
            format!("h1:{}\n{body}", sha_hex(body.as_bytes()))
        };
        let l = parse_lock("migrations.lock", ok.as_bytes()).unwrap();
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].line, 3);
        // CRLF checkout of the lockfile itself is fine.
        assert!(parse_lock("m", ok.replace('\n', "\r\n").as_bytes()).is_ok());
        let edited = ok.replace("v/a.py", "v/b.py");
        match parse_lock("migrations.lock", edited.as_bytes()) {
            Err(ChainError::Lockfile { line, path, .. }) => {
                assert_eq!((line, path.as_str()), (1, "migrations.lock"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_lock("m", b"garbage"),
            Err(ChainError::Lockfile { line: 1, .. })
        ));
        assert!(matches!(
            parse_lock("m", b"\x00\xff"),
            Err(ChainError::Lockfile { line: 1, .. })
        ));
    }
}
