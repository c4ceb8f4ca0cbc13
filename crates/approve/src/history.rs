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

/// Read the registry pins of one policy.toml text. A line scanner handles the usual layout;
/// anything it is not sure about (multi-line strings, escapes, inline tables) goes through
/// the full TOML parser so the comparison stays one of parsed values, never of text lines.
pub fn pins_of(text: &str) -> Pins {
    fast_pins(text).unwrap_or_else(|| toml_pins(text))
}

fn toml_pins(text: &str) -> Pins {
    let mut pins = Pins::new();
    // A version that does not parse registers nothing: an approval cannot come from it.
    let Ok(doc) = text.parse::<toml::Table>() else {
        return pins;
    };
    let scripts = doc
        .get("emergency")
        .and_then(|e| e.get("script"))
        .and_then(|s| s.as_array());
    for t in scripts.into_iter().flatten() {
        let Some(path) = t.get("path").and_then(|v| v.as_str()) else {
            continue;
        };
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
        pins.insert(
            normalize(path),
            Pin {
                sha256: s("sha256"),
                approved_by: s("approved-by"),
            },
        );
    }
    pins
}

/// A string value on one line, with nothing but a comment after it; `None` when unsure.
fn simple_string(v: &str) -> Option<String> {
    let (quote, rest) = match v.as_bytes().first()? {
        b'"' => ('"', &v[1..]),
        b'\'' => ('\'', &v[1..]),
        _ => return None,
    };
    if rest.starts_with(quote) && rest[1..].starts_with(quote) {
        return None; // multi-line string
    }
    let end = rest.find(quote)?;
    let value = &rest[..end];
    if quote == '"' && value.contains('\\') {
        return None;
    }
    let after = rest[end + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    Some(value.to_string())
}

fn fast_pins(text: &str) -> Option<Pins> {
    if text.contains("\"\"\"") || text.contains("'''") {
        return None;
    }
    let mut pins = Pins::new();
    let mut current: Option<(Option<String>, Pin)> = None;
    let mut in_emergency = false;
    let flush = |cur: &mut Option<(Option<String>, Pin)>, pins: &mut Pins| {
        if let Some((Some(path), pin)) = cur.take() {
            pins.insert(normalize(&path), pin);
        }
    };
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            flush(&mut current, &mut pins);
            let header = line.split('#').next().unwrap_or("").trim();
            let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
            in_emergency = false;
            if compact == "[[emergency.script]]" {
                current = Some((None, Pin::default()));
            } else if compact == "[emergency]" {
                in_emergency = true;
            } else if compact.contains("emergency") || compact.contains('"') {
                return None;
            }
            continue;
        }
        if line.starts_with("emergency") && current.is_none() && !in_emergency {
            return None; // dotted keys at the top level
        }
        let Some((key, value)) = line.split_once('=') else {
            if current.is_some() {
                return None;
            }
            continue; // a continuation line of a multi-line value elsewhere
        };
        let key = key.trim();
        let value = value.trim();
        if in_emergency && key.starts_with("script") {
            return None;
        }
        let Some((path, pin)) = current.as_mut() else {
            if value.starts_with('[') && !value.contains(']') {
                // A multi-line array elsewhere: its lines could look like headers.
                return None;
            }
            continue;
        };
        match key {
            "path" => *path = Some(simple_string(value)?),
            "sha256" => pin.sha256 = Some(simple_string(value)?),
            "approved-by" => pin.approved_by = Some(simple_string(value)?),
            k if k.starts_with('"') || k.starts_with('\'') || k.contains('.') => return None,
            _ if value.starts_with('[') || value.starts_with('{') => return None,
            _ => {}
        }
    }
    flush(&mut current, &mut pins);
    Some(pins)
}

/// Governed keys of one policy.toml version and their canonical values: every key of
/// `[emergency]` but the registry, every key of `[governance]`, the paths of `[migrations]`,
/// and each registry entry as a whole (`ENTRY` + its path).
pub type Governed = BTreeMap<String, String>;

/// Key prefix of a registry entry in [`Governed`].
pub const ENTRY: &str = "[[emergency.script]] ";

/// The `[migrations]` keys that say where the chain and its lockfile are.
const MIGRATION_KEYS: [&str; 4] = ["path", "config", "lockfile", "kind"];

/// A value with table keys sorted, so reordering keys is never a change.
fn canonical(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let sorted: BTreeMap<&String, String> =
                t.iter().map(|(k, v)| (k, canonical(v))).collect();
            let inner: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k:?}={v}"))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        toml::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

/// The governed keys of a policy.toml text (or of a whole-table fragment of one); `None` when
/// it does not parse.
pub fn governed_of(text: &str) -> Option<Governed> {
    let doc = text.parse::<toml::Table>().ok()?;
    let mut out = Governed::new();
    if let Some(t) = doc.get("emergency").and_then(|v| v.as_table()) {
        for (k, v) in t {
            if k != "script" {
                out.insert(format!("emergency.{k}"), canonical(v));
                continue;
            }
            for e in v.as_array().into_iter().flatten() {
                let path = e.get("path").and_then(|p| p.as_str()).unwrap_or_default();
                out.insert(format!("{ENTRY}{}", normalize(path)), canonical(e));
            }
        }
    }
    if let Some(t) = doc.get("governance").and_then(|v| v.as_table()) {
        for (k, v) in t {
            out.insert(format!("governance.{k}"), canonical(v));
        }
    }
    if let Some(t) = doc.get("migrations").and_then(|v| v.as_table()) {
        for (k, v) in t {
            if MIGRATION_KEYS.contains(&k.as_str()) {
                out.insert(format!("migrations.{k}"), canonical(v));
            }
        }
    }
    Some(out)
}

/// Keys whose value differs between two governed maps (present in one only included).
pub fn differing(a: &Governed, b: &Governed) -> Vec<String> {
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    keys
}

/// A fragment the window search produced that starts at a plain table header (or at the top
/// of the file): anything else, e.g. a line of a nested array, is parsed whole instead.
fn plain_fragment(fragment: &str, at_top: bool) -> bool {
    static HEADER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^\[\[?\s*[A-Za-z0-9_.-]+\s*\]\]?\s*(#.*)?$").expect("valid regex")
    });
    at_top
        || fragment
            .lines()
            .next()
            .is_some_and(|l| HEADER.is_match(l.trim()))
}

/// The governed keys that differ between a version and its parent, parsing only the tables
/// that differ when that is safe.
fn changed_governed(child: &[u8], parent: &[u8], multiline: bool) -> Vec<String> {
    if !multiline {
        let (start, end_c, end_p) = changed_window(child, parent);
        let c = String::from_utf8_lossy(&child[start..end_c]);
        let p = String::from_utf8_lossy(&parent[start..end_p]);
        if plain_fragment(&c, start == 0)
            && plain_fragment(&p, start == 0)
            && let (Some(c), Some(p)) = (governed_of(&c), governed_of(&p))
        {
            return differing(&c, &p);
        }
    }
    let whole = |t: &[u8]| governed_of(&String::from_utf8_lossy(t)).unwrap_or_default();
    differing(&whole(child), &whole(parent))
}

/// The approval settings of one policy version: who may approve and the trailer naming them.
#[derive(Debug, Clone, Default)]
pub struct Approvers {
    pub approvers: Vec<String>,
    pub trailer: String,
    pub require_signed: bool,
    /// `governance.merge-method`; a value other than `merge` (or none) judges merge commits
    /// by themselves, so an unknown one in an old version fails closed.
    pub merge_method: gate_policy::MergeMethod,
}

/// The text of the `[governance]` table alone (header included), when the layout is plain:
/// no multi-line strings, no top-level `governance` keys. Parsing it instead of the whole
/// file keeps judging many commits cheap when the registry is large.
fn governance_text(text: &str) -> Option<&str> {
    if has_multiline_strings(text.as_bytes()) {
        return None;
    }
    let mut start = None;
    let mut before_headers = true;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            if start.is_some() {
                return start.map(|s| &text[s..offset]);
            }
            before_headers = false;
            let header: String = t
                .split('#')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if header == "[governance]" {
                start = Some(offset);
            } else if header.contains("governance") {
                return None; // a sub-table or a quoted name: parse whole
            }
        } else if before_headers && t.starts_with("governance") {
            return None; // dotted keys at the top level
        }
        offset += line.len();
    }
    start.map(|s| &text[s..])
}

/// [`Approvers`] of a policy.toml text; nobody when it does not parse.
pub fn approvers_of(text: &str) -> Approvers {
    let doc = governance_text(text)
        .and_then(|g| g.parse::<toml::Table>().ok())
        .or_else(|| text.parse::<toml::Table>().ok());
    let gov = doc
        .as_ref()
        .and_then(|d| d.get("governance"))
        .and_then(|g| g.as_table());
    let get = |k: &str| gov.and_then(|g| g.get(k));
    Approvers {
        approvers: get("approvers")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        trailer: get("trailer")
            .and_then(|t| t.as_str())
            .unwrap_or("Approved-by")
            .to_string(),
        require_signed: get("require-signed")
            .and_then(|t| t.as_bool())
            .unwrap_or(false),
        merge_method: match get("merge-method").map(|m| m.as_str()) {
            None | Some(Some("merge")) => gate_policy::MergeMethod::Merge,
            Some(Some("rebase")) => gate_policy::MergeMethod::Rebase,
            _ => gate_policy::MergeMethod::Squash,
        },
    }
}

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
#[derive(Debug, Default)]
pub struct GovernedSetters {
    /// Key -> the newest first-parent commit where its value differs from its first parent's.
    /// Includes keys that HEAD no longer has (their removal is the change).
    pub setters: BTreeMap<String, Oid>,
    pub adoption: Option<Oid>,
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

/// Bytes `[start, end)` of `a` and `[start, end_b)` of `b` hold every difference between the
/// two texts, widened to whole tables: outside them the texts are identical, so every entry
/// outside is the same in both versions and only the entries inside need parsing.
fn changed_window(a: &[u8], b: &[u8]) -> (usize, usize, usize) {
    // Whole chunks first (memcmp), then bytes: versions are hundreds of kilobytes.
    const CHUNK: usize = 256;
    let mut prefix = a
        .chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .take_while(|(x, y)| x == y)
        .count()
        * CHUNK;
    prefix = prefix.min(a.len()).min(b.len());
    prefix += a[prefix..]
        .iter()
        .zip(&b[prefix..])
        .take_while(|(x, y)| x == y)
        .count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let (ra, rb) = (&a[a.len() - max_suffix..], &b[b.len() - max_suffix..]);
    let mut suffix = ra
        .rchunks(CHUNK)
        .zip(rb.rchunks(CHUNK))
        .take_while(|(x, y)| x == y)
        .count()
        * CHUNK;
    suffix = suffix.min(max_suffix);
    suffix += ra[..max_suffix - suffix]
        .iter()
        .rev()
        .zip(rb[..max_suffix - suffix].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // Back to the start of the table header before the first difference ...
    let start = a[..prefix]
        .windows(2)
        .rposition(|w| w == b"\n[")
        .map_or(0, |i| i + 1);
    // ... and on to the next table header after the last one.
    let tail_a = a.len() - suffix;
    let grow = a[tail_a..]
        .windows(2)
        .position(|w| w == b"\n[")
        .map_or(suffix, |i| i + 1);
    let end_a = tail_a + grow;
    let end_b = b.len() - suffix + grow;
    (start, end_a, end_b)
}

fn has_multiline_strings(t: &[u8]) -> bool {
    // The regex engine finds literals with SIMD; a byte loop here dominated the whole walk.
    static RE: std::sync::LazyLock<regex::bytes::Regex> =
        std::sync::LazyLock::new(|| regex::bytes::Regex::new("\"\"\"|'''").expect("valid regex"));
    RE.is_match(t)
}

/// One version of policy.toml, read once.
#[derive(Debug)]
struct Version<'r> {
    blob: git2::Blob<'r>,
    /// Multi-line strings could hide table headers from the window search.
    multiline: bool,
}

/// `multiline`: either version has multi-line strings (then both are parsed whole).
fn changed_pins(child: &[u8], parent: &[u8], multiline: bool) -> (Pins, Pins) {
    if !multiline {
        let (start, end_c, end_p) = changed_window(child, parent);
        let c = String::from_utf8_lossy(&child[start..end_c]);
        let p = String::from_utf8_lossy(&parent[start..end_p]);
        if let (Some(c), Some(p)) = (fast_pins(&c), fast_pins(&p)) {
            return (c, p);
        }
    }
    (
        pins_of(&String::from_utf8_lossy(child)),
        pins_of(&String::from_utf8_lossy(parent)),
    )
}

/// One commit of the walk whose policy.toml differs from every parent's.
#[derive(Debug, Clone)]
struct Change {
    commit: Oid,
    blob: Oid,
    /// The parents' policy.toml blobs (`None`: that parent has no policy.toml).
    parents: Vec<Option<Oid>>,
    /// A parent is missing from this (shallow) clone.
    cut_off: bool,
    /// On HEAD's first-parent line (judged for A012 against its first parent).
    first_parent: bool,
}

/// What pass 2 found in one change.
#[derive(Debug, Default)]
struct Found {
    /// Pending A010 entries whose pin this change sets.
    set: Vec<String>,
    /// A012, first-parent changes only: the governed keys that differ from the first parent,
    /// and whether the first parent has no policy at all (every key is new).
    governed: Option<(Vec<String>, bool)>,
}

/// Commits compared per round; each round is split between the threads and merged in walk
/// order, so the newest setter wins exactly as in a sequential walk.
const ROUND: usize = 512;

/// Find, for every `targets` entry, the commit that set its pin: the newest commit whose
/// policy.toml has the pin while none of its parents has it. `None`: not found in history.
pub fn find_setters(
    repo: &Repository,
    policy_rel: &str,
    targets: &HashMap<String, Pin>,
) -> Result<HashMap<String, Option<Setter>>, HistoryError> {
    Ok(walk(repo, policy_rel, targets, false, None)?.setters)
}

/// One walk of the history of policy.toml for A010 (the setters of `targets`' pins) and,
/// with `governed`, for A012 (the first-parent setter of every governed key, which needs the
/// whole first-parent line down to the adoption). With `extra` (a path), the same walk also
/// records that file's blob on every commit of the first-parent line (G005's lockfile).
pub fn walk(
    repo: &Repository,
    policy_rel: &str,
    targets: &HashMap<String, Pin>,
    governed: bool,
    extra: Option<&str>,
) -> Result<Walk, HistoryError> {
    let git = |source: git2::Error| HistoryError::Git {
        policy: policy_rel.to_string(),
        source,
    };
    let mut result: HashMap<String, Option<Setter>> =
        targets.keys().map(|k| (k.clone(), None)).collect();
    let mut gov = governed.then(GovernedSetters::default);
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(Walk {
            setters: result,
            governed: gov,
            line: None,
        });
    };
    let shallow = shallow_boundary(repo);
    // libgit2 re-hashes every object it reads (SHA-1DC), half the cost of reading 10,000
    // versions of a large policy.toml. The objects come from the local repository and git
    // itself does not re-verify on read either.
    git2::opts::strict_hash_verification(false);

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let mut pending: HashMap<String, Pin> = targets.clone();
    let repo_path = repo.path().to_path_buf();
    let done = |pending: &HashMap<String, Pin>| pending.is_empty() && !governed;
    let mut line = None;
    std::thread::scope(|scope| -> Result<(), HistoryError> {
        // Pass 1 (trees only) runs on its own thread and hands over the changing commits round
        // by round, so pass 2 compares contents while the tree walk goes on.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Change>, git2::Error>>(2);
        let (shallow, head_id) = (&shallow, head.id());
        let pass1 = scope.spawn(move || {
            let sent = Repository::open(&repo_path).and_then(|own| {
                changed_commits(&own, policy_rel, extra, head_id, shallow, |round| {
                    tx.send(Ok(round)).is_ok()
                })
            });
            match sent {
                Ok(line) => Some(line),
                Err(e) => {
                    let _ = tx.send(Err(e)); // the receiver may be gone: nobody to report to
                    None
                }
            }
        });
        // Pass 2: compare contents, newest first, round by round until every entry is found.
        // Returning drops `rx`, which stops pass 1 at its next round.
        for round in rx {
            if done(&pending) {
                break;
            }
            let round = round.map_err(git)?;
            let round = &round[..];
            let per = round.len().div_ceil(threads);
            let found: Vec<Vec<(usize, Found)>> = if threads == 1 || round.len() < 2 * threads {
                vec![candidates(repo, round, 0, &pending, governed).map_err(git)?]
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = round
                        .chunks(per)
                        .enumerate()
                        .map(|(i, part)| {
                            let pending = &pending;
                            let path = repo.path().to_path_buf();
                            s.spawn(move || {
                                // A Repository is not Sync: each thread opens its own.
                                let own = Repository::open(&path)?;
                                candidates(&own, part, i * per, pending, governed)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("history thread panicked"))
                        .collect::<Result<Vec<_>, git2::Error>>()
                })
                .map_err(git)?
            };
            let mut found: Vec<(usize, Found)> = found.into_iter().flatten().collect();
            found.sort_by_key(|(i, _)| *i);
            for (i, f) in found {
                let change = &round[i];
                if let (Some(g), Some((keys, adopts))) = (gov.as_mut(), f.governed) {
                    if change.cut_off {
                        return Err(HistoryError::ShallowGoverned {
                            policy: policy_rel.to_string(),
                            commit: change.commit.to_string()[..12].to_string(),
                        });
                    }
                    for k in keys {
                        g.setters.entry(k).or_insert(change.commit);
                    }
                    if adopts {
                        g.adoption = Some(change.commit); // the oldest one wins
                    }
                }
                for path in f.set {
                    if pending.remove(&path).is_none() {
                        continue; // a newer commit set it again
                    }
                    if change.cut_off {
                        return Err(HistoryError::Shallow {
                            policy: policy_rel.to_string(),
                            commit: change.commit.to_string()[..12].to_string(),
                            entry: path,
                        });
                    }
                    result.insert(
                        path,
                        Some(Setter {
                            commit: change.commit,
                        }),
                    );
                }
            }
            if done(&pending) {
                break; // without waiting for pass 1's next round
            }
        }
        line = pass1.join().ok().flatten();
        Ok(())
    })?;
    Ok(Walk {
        setters: result,
        governed: gov,
        line: line.filter(|_| extra.is_some()),
    })
}

/// Pass 1, trees only (what `git log -- policy.toml` does): the commits that changed it,
/// newest first, handed to `send` in rounds of [`ROUND`]; stops when `send` returns false.
fn changed_commits(
    repo: &Repository,
    policy_rel: &str,
    extra: Option<&str>,
    head: Oid,
    shallow: &HashSet<Oid>,
    mut send: impl FnMut(Vec<Change>) -> bool,
) -> Result<FirstParentLine, git2::Error> {
    let mut line = FirstParentLine::default();
    let policy_path = std::path::Path::new(policy_rel);
    // Each commit is asked twice (as itself, then as the next commit's parent).
    let mut blob_ids: HashMap<Oid, Option<Oid>> = HashMap::new();
    let mut blob_of = |c: &git2::Commit<'_>| -> Option<Oid> {
        *blob_ids
            .entry(c.id())
            .or_insert_with(|| c.tree().ok()?.get_path(policy_path).ok().map(|e| e.id()))
    };
    let mut changes = Vec::with_capacity(ROUND);
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push(head)?;
    // Topological order lists a commit after all its children, so HEAD's first-parent line
    // comes up in order.
    let mut next_first_parent = Some(head);
    for oid in walk {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let first_parent = next_first_parent == Some(oid);
        if first_parent {
            next_first_parent = commit.parent_id(0).ok();
            if let Some(extra) = extra {
                let blob = commit
                    .tree()
                    .ok()
                    .and_then(|t| t.get_path(std::path::Path::new(extra)).ok())
                    .map(|e| e.id());
                line.commits.push((oid, blob));
                line.cut_off = shallow.contains(&oid)
                    || (commit.parent_count() > 0 && commit.parent(0).is_err());
            }
        }
        let Some(blob) = blob_of(&commit) else {
            continue;
        };
        let mut parents = Vec::new();
        let mut cut_off = shallow.contains(&oid);
        for i in 0..commit.parent_count() {
            match commit.parent(i) {
                Ok(p) => parents.push(blob_of(&p)),
                Err(_) => cut_off = true,
            }
        }
        // Same file as a parent: every value came from there, nothing was set here (for A010;
        // A012 judges the first-parent line against the first parent only).
        let first_differs = cut_off || parents.first() != Some(&Some(blob));
        if !parents.contains(&Some(blob)) || (first_parent && first_differs) {
            changes.push(Change {
                commit: oid,
                blob,
                parents,
                cut_off,
                first_parent,
            });
            if changes.len() == ROUND
                && !send(std::mem::replace(&mut changes, Vec::with_capacity(ROUND)))
            {
                return Ok(line);
            }
        }
    }
    if !changes.is_empty() {
        send(changes);
    }
    Ok(line)
}

/// For each change (index offset by `base`), the pending entries whose pin it sets.
fn candidates(
    repo: &Repository,
    part: &[Change],
    base: usize,
    pending: &HashMap<String, Pin>,
    governed: bool,
) -> Result<Vec<(usize, Found)>, git2::Error> {
    // A version is usually needed again right away as the next commit's own version: keep
    // the last few, not the whole history (which can be gigabytes).
    let mut recent: Vec<(Oid, Rc<Version<'_>>)> = Vec::new();
    let mut text_of = |oid: Oid| -> Result<Rc<Version<'_>>, git2::Error> {
        if let Some((_, t)) = recent.iter().find(|(o, _)| *o == oid) {
            return Ok(t.clone());
        }
        let blob = repo.find_blob(oid)?;
        let multiline = has_multiline_strings(blob.content());
        let text = Rc::new(Version { blob, multiline });
        if recent.len() >= 8 {
            recent.remove(0);
        }
        recent.push((oid, text.clone()));
        Ok(text)
    };
    let mut out = Vec::new();
    for (i, change) in part.iter().enumerate() {
        let here = text_of(change.blob)?;
        let mut found = Found::default();
        if governed && change.first_parent {
            found.governed = Some(match change.parents.first() {
                Some(Some(p)) if !change.cut_off => {
                    let parent = text_of(*p)?;
                    let keys = changed_governed(
                        here.blob.content(),
                        parent.blob.content(),
                        here.multiline || parent.multiline,
                    );
                    (keys, false)
                }
                // A cut-off commit is an error of the walk; the keys do not matter.
                _ if change.cut_off => (Vec::new(), false),
                // No first parent, or one without the policy: every key is new here.
                _ => {
                    let all = governed_of(&String::from_utf8_lossy(here.blob.content()))
                        .unwrap_or_default();
                    (all.into_keys().collect(), true)
                }
            });
        }
        let mut diffs = Vec::new();
        for b in change.parents.iter().flatten() {
            let parent = text_of(*b)?;
            diffs.push(changed_pins(
                here.blob.content(),
                parent.blob.content(),
                here.multiline || parent.multiline,
            ));
        }
        let mut set_here = Vec::new();
        if diffs.len() < change.parents.len() || diffs.is_empty() {
            // A root commit, a boundary, or a parent without the file: entries may be new.
            let all = pins_of(&String::from_utf8_lossy(here.blob.content()));
            for (path, pin) in pending {
                let in_parent = diffs.iter().any(|(c, p)| {
                    if c.contains_key(path) {
                        p.get(path) == Some(pin)
                    } else {
                        all.get(path) == Some(pin)
                    }
                });
                if all.get(path) == Some(pin) && !in_parent {
                    set_here.push(path.clone());
                }
            }
        } else {
            // Outside a window the entry equals the parent's: not set by this commit. So only
            // entries inside the first parent's window are candidates.
            for path in diffs[0].0.keys() {
                let Some(pin) = pending.get(path) else {
                    continue;
                };
                if diffs
                    .iter()
                    .all(|(c, p)| c.get(path) == Some(pin) && p.get(path) != Some(pin))
                {
                    set_here.push(path.clone());
                }
            }
        }
        found.set = set_here;
        if !found.set.is_empty() || found.governed.is_some() {
            out.push((base + i, found));
        }
    }
    Ok(out)
}

/// Commits whose parents this (shallow) clone does not have.
fn shallow_boundary(repo: &Repository) -> HashSet<Oid> {
    if !repo.is_shallow() {
        return HashSet::new();
    }
    std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect()
}

/// Trailers of a commit message, the way `git interpret-trailers --parse` finds them: only
/// the last paragraph, never the subject paragraph, and only when every line of it is a
/// `Token: value` line (or an indented continuation). Git also accepts a block that is 25%
/// trailers; this is stricter on purpose, so that prose mentioning "Approved-by:" never counts.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = message
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::trim_end)
        .collect();
    let mut paragraphs: Vec<Vec<&str>> = vec![Vec::new()];
    for l in lines {
        if l.is_empty() {
            if !paragraphs.last().is_some_and(Vec::is_empty) {
                paragraphs.push(Vec::new());
            }
        } else if let Some(p) = paragraphs.last_mut() {
            p.push(l);
        }
    }
    if paragraphs.last().is_some_and(Vec::is_empty) {
        paragraphs.pop();
    }
    if paragraphs.len() < 2 {
        return Vec::new();
    }
    let block = paragraphs.last().cloned().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for l in block {
        if l.starts_with(' ') || l.starts_with('\t') {
            match out.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(l.trim());
                    continue;
                }
                None => return Vec::new(),
            }
        }
        let Some((token, value)) = l.split_once(':') else {
            return Vec::new();
        };
        let token = token.trim_end();
        let valid = !token.is_empty()
            && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !token.starts_with('-');
        if !valid {
            return Vec::new();
        }
        out.push((token.to_string(), value.trim().to_string()));
    }
    out
}

/// The email in a trailer value: `Name <email>` or a bare `email`.
pub fn trailer_email(value: &str) -> String {
    match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].trim().to_string(),
        _ => value.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_only_in_last_paragraph() {
        let m = "Approve fix\n\nApproved-by: lead@example.com\n\nMore prose here.\n";
        assert!(trailers(m).is_empty());
        let m = "Approve fix\n\nBody.\n\nApproved-by: Lead <lead@example.com>\nSigned-off-by: x <x@y>\n";
        let t = trailers(m);
        assert_eq!(t.len(), 2);
        assert_eq!(trailer_email(&t[0].1), "lead@example.com");
    }

    #[test]
    fn prose_mention_is_not_a_trailer() {
        let m = "Approve fix\n\nThe lead said Approved-by: lead@example.com in chat.\n";
        assert!(trailers(m).is_empty());
        // The subject paragraph is never a trailer block.
        assert!(trailers("Approved-by: lead@example.com\n").is_empty());
    }

    #[test]
    fn fast_scan_agrees_with_toml() {
        let text = r#"
version = 1
[emergency]
scope = ["."]
[[emergency.script]]
path = "./a.py"   # comment
sha256 = 'abc'
approved-by = "lead@example.com"
[[emergency.script]]
path = "b.py"
[governance]
approvers = [
  "x@y",
]
"#;
        let fast = fast_pins(text);
        assert!(fast.is_none(), "multi-line array must fall back");
        let pins = pins_of(text);
        assert_eq!(pins, toml_pins(text));
        assert_eq!(pins["a.py"].sha256.as_deref(), Some("abc"));
        let simple = "[[emergency.script]]\npath = \"a.py\"\nsha256 = \"abc\"\n";
        assert_eq!(fast_pins(simple), Some(toml_pins(simple)));
    }

    /// Over several rounds (pass 1 on its own thread, pass 2 in rounds on all threads), the
    /// setters must be exactly the ones a plain newest-first walk of every version finds.
    #[test]
    fn setters_across_rounds_match_a_plain_walk() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let entry = |i: usize, sha: usize| {
            format!("[[emergency.script]]\npath = \"f{i}.py\"\nsha256 = \"{sha}\"\n")
        };
        // 1,300 commits (more than two rounds): entry i is added, re-pinned every 97 commits,
        // and some commits only touch a comment, so setters are spread over every round.
        let mut shas = [0usize; 12];
        let mut parent: Option<Oid> = None;
        for n in 0..1300usize {
            let i = n % 12;
            if n % 97 == 0 || n < 12 {
                shas[i] = n + 1;
            }
            let body: String = (0..12).map(|j| entry(j, shas[j])).collect();
            let text = format!("# rev {}\nversion = 1\n{body}", n % 5);
            let blob = repo.blob(text.as_bytes()).unwrap();
            let mut tb = repo.treebuilder(None).unwrap();
            tb.insert("policy.toml", blob, 0o100644).unwrap();
            let tree = repo.find_tree(tb.write().unwrap()).unwrap();
            let parents: Vec<git2::Commit<'_>> = parent
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
            parent = Some(
                repo.commit(Some("HEAD"), &sig, &sig, &format!("c{n}"), &tree, &refs)
                    .unwrap(),
            );
        }
        let text_at = |c: &git2::Commit<'_>| {
            let id = c
                .tree()
                .unwrap()
                .get_path(std::path::Path::new("policy.toml"))
                .unwrap()
                .id();
            pins_of(std::str::from_utf8(repo.find_blob(id).unwrap().content()).unwrap())
        };
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        let targets = text_at(&head);
        assert_eq!(targets.len(), 12);
        let got = find_setters(&repo, "policy.toml", &targets).unwrap();
        // The plain walk: the newest commit whose version has the pin and whose parent's not.
        let mut c = head;
        let mut expected: HashMap<String, Oid> = HashMap::new();
        loop {
            let here = text_at(&c);
            let before = c.parent(0).ok().map(|p| text_at(&p)).unwrap_or_default();
            for (path, pin) in &targets {
                if !expected.contains_key(path)
                    && here.get(path) == Some(pin)
                    && before.get(path) != Some(pin)
                {
                    expected.insert(path.clone(), c.id());
                }
            }
            match c.parent(0) {
                Ok(p) => c = p,
                Err(_) => break,
            }
        }
        assert_eq!(expected.len(), 12);
        for (path, commit) in &expected {
            let setter = got[path].as_ref().map(|s| s.commit);
            assert_eq!(setter, Some(*commit), "{path}");
        }
    }

    /// The window shortcut must agree with parsing both versions whole: every entry whose pin
    /// differs is inside the window, with the same values.
    #[test]
    fn changed_window_agrees_with_full_parse() {
        let entry = |i: usize, sha: &str, by: Option<&str>| {
            let by = by.map_or(String::new(), |b| format!("approved-by = \"{b}\"\n"));
            format!(
                "\n[[emergency.script]]\npath = \"f{i}.py\"\nsha256 = \"{sha}\"\n{by}reason = \"r{i}\"\n"
            )
        };
        let base: String = (0..20).map(|i| entry(i, "aa", Some("lead@x"))).collect();
        let head = "version = 1\n[emergency]\nscope = [\".\"]\n";
        let tail = "\n[governance]\napprovers = [\"lead@x\"]\n";
        let parent = format!("{head}{base}{tail}");
        let edits: Vec<String> = vec![
            parent.replacen(
                "path = \"f7.py\"\nsha256 = \"aa\"",
                "path = \"f7.py\"\nsha256 = \"bb\"",
                1,
            ),
            parent.replacen(&entry(3, "aa", Some("lead@x")), &entry(3, "aa", None), 1),
            parent.replacen(&entry(0, "aa", Some("lead@x")), "", 1),
            parent.replacen(
                &entry(19, "aa", Some("lead@x")),
                &entry(19, "cc", Some("other@x")),
                1,
            ),
            format!("{head}{base}{}{tail}", entry(20, "dd", Some("lead@x"))),
            parent.replacen("reason = \"r5\"", "reason = \"r5 reworded\"", 1),
            parent.replacen("version = 1", "# comment\nversion = 1", 1),
            format!(
                "{head}{}{tail}",
                (0..20)
                    .rev()
                    .map(|i| entry(i, "aa", Some("lead@x")))
                    .collect::<String>()
            ),
        ];
        for child in &edits {
            assert!(!has_multiline_strings(child.as_bytes()));
            let (wc, wp) = changed_pins(child.as_bytes(), parent.as_bytes(), false);
            let (fc, fp) = (pins_of(child), pins_of(&parent));
            let paths: HashSet<&String> = fc.keys().chain(fp.keys()).collect();
            for path in paths {
                if fc.get(path) != fp.get(path) {
                    assert_eq!(wc.get(path), fc.get(path), "{path} in\n{child}");
                    assert_eq!(wp.get(path), fp.get(path), "{path} in\n{child}");
                }
                if let Some(v) = wc.get(path) {
                    assert_eq!(Some(v), fc.get(path));
                }
            }
        }
    }

    /// A012's window shortcut must name exactly the governed keys a whole parse of both
    /// versions finds different, and nothing that is not governed.
    #[test]
    fn changed_governed_agrees_with_full_parse() {
        let entry = |i: usize, status: &str| {
            format!(
                "\n[[emergency.script]]\npath = \"f{i}.py\"\nsha256 = \"aa\"\nstatus = \"{status}\"\nrun = \"python3 f{i}.py\"\n"
            )
        };
        let entries: String = (0..10).map(|i| entry(i, "active")).collect();
        let parent = format!(
            "version = 1\n[migrations]\npath = \"alembic/versions\"\nmax-heads = 1\n\n[emergency]\nscope = [\".\"]\n\n[governance]\napprovers = [\"lead@x\"]\n\n[replay]\nfixes = true\n{entries}"
        );
        let cases: Vec<(String, Vec<&str>)> = vec![
            (
                parent.replacen(&entry(4, "active"), &entry(4, "legacy"), 1),
                vec!["[[emergency.script]] f4.py"],
            ),
            (
                parent.replacen("run = \"python3 f9.py\"", "run = \"true\"", 1),
                vec!["[[emergency.script]] f9.py"],
            ),
            (
                parent.replacen(
                    "scope = [\".\"]\n",
                    "scope = [\".\"]\nignore = [\"*.py\"]\n",
                    1,
                ),
                vec!["emergency.ignore"],
            ),
            (
                parent.replacen("\"lead@x\"]", "\"lead@x\", \"dev@x\"]", 1),
                vec!["governance.approvers"],
            ),
            (
                parent.replacen("path = \"alembic/versions\"", "path = \"elsewhere\"", 1),
                vec!["migrations.path"],
            ),
            // Not governed: max-heads, replay settings, comments, key order within an entry.
            (parent.replacen("max-heads = 1", "max-heads = 2", 1), vec![]),
            (parent.replacen("fixes = true", "fixes = false", 1), vec![]),
            (
                parent.replacen("version = 1", "# c\nversion = 1", 1),
                vec![],
            ),
            (
                parent.replacen(
                    "sha256 = \"aa\"\nstatus = \"active\"\nrun = \"python3 f2.py\"",
                    "run = \"python3 f2.py\"\nstatus = \"active\"\nsha256 = \"aa\"",
                    1,
                ),
                vec![],
            ),
            (
                parent.replacen(&entry(7, "active"), "", 1),
                vec!["[[emergency.script]] f7.py"],
            ),
        ];
        for (child, expected) in &cases {
            let mut windowed = changed_governed(child.as_bytes(), parent.as_bytes(), false);
            let mut whole = differing(&governed_of(child).unwrap(), &governed_of(&parent).unwrap());
            windowed.sort();
            whole.sort();
            assert_eq!(windowed, whole, "{child}");
            assert_eq!(windowed, *expected, "{child}");
        }
    }

    #[test]
    fn approvers_from_the_governance_table_alone() {
        let text = "version = 1\n[emergency]\nscope = [\".\"]\n\n[governance]  # leads\napprovers = [\n  \"a@x\",\n  \"b@x\",\n]\ntrailer = \"Reviewed-by\"\n\n[[emergency.script]]\npath = \"f.py\"\n";
        assert!(governance_text(text).is_some());
        let a = approvers_of(text);
        assert_eq!(a.approvers, ["a@x", "b@x"]);
        assert_eq!(a.trailer, "Reviewed-by");
        // Dotted keys at the top level fall back to the whole file, with the same answer.
        let dotted = "governance.approvers = [\"c@x\"]\n[emergency]\nscope = [\".\"]\n";
        assert!(governance_text(dotted).is_none());
        assert_eq!(approvers_of(dotted).approvers, ["c@x"]);
        assert_eq!(approvers_of(dotted).trailer, "Approved-by");
        assert!(approvers_of("not toml [").approvers.is_empty());
    }
}
