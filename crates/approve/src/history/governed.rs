//! Governed keys (A012) of one policy.toml text and the approval settings of a version.

use std::collections::BTreeMap;

use super::normalize;
use super::window::{changed_window, has_multiline_strings};

/// Governed keys of one policy.toml version and their canonical values: every key of
/// `[emergency]` but the registry, every key of `[governance]`, the paths of `[migrations]`,
/// and each registry entry as a whole (`ENTRY` + its path).
pub type Governed = BTreeMap<String, String>;

/// Key prefix of a registry entry in [`Governed`].
pub const ENTRY: &str = "[[emergency.script]] ";

/// The `[migrations]` keys that say where the chain and its lockfile are.
pub(super) const MIGRATION_KEYS: [&str; 4] = ["path", "config", "lockfile", "kind"];

/// A value with table keys sorted, so reordering keys is never a change.
pub(super) fn canonical(v: &toml::Value) -> String {
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
pub(super) fn plain_fragment(fragment: &str, at_top: bool) -> bool {
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
/// that differ when that is safe; and whether the version repairs its parent: it parses as a
/// whole and the parent does not (known only when the window did not parse, the only time
/// both are parsed whole; an error the window does not reach is in both versions).
pub(super) fn changed_governed(
    child: &[u8],
    parent: &[u8],
    multiline: bool,
) -> (Vec<String>, bool) {
    if !multiline {
        let (start, end_c, end_p) = changed_window(child, parent);
        let c = String::from_utf8_lossy(&child[start..end_c]);
        let p = String::from_utf8_lossy(&parent[start..end_p]);
        if plain_fragment(&c, start == 0)
            && plain_fragment(&p, start == 0)
            && !header_outside(child, start, end_c)
            && !header_outside(parent, start, end_p)
            && let (Some(c), Some(p)) = (governed_of(&c), governed_of(&p))
        {
            return (differing(&c, &p), false);
        }
    }
    let whole = |t: &[u8]| governed_of(&String::from_utf8_lossy(t));
    let (c, p) = (whole(child), whole(parent));
    let repairs = c.is_some() && p.is_none();
    (
        differing(&c.unwrap_or_default(), &p.unwrap_or_default()),
        repairs,
    )
}

/// A `[table]` header line of `text[start..end]` that opens a table outside it too (a merge
/// that duplicated a table): the window parses while the whole file does not, so both
/// versions are parsed whole. `[[array]]` headers repeat legitimately and are not searched, so
/// the usual window (registry entries) costs nothing here.
fn header_outside(text: &[u8], start: usize, end: usize) -> bool {
    text[start..end]
        .split(|b| *b == b'\n')
        .map(|l| l.trim_ascii_end())
        .filter(|l| l.starts_with(b"[") && !l.starts_with(b"[["))
        .any(|l| {
            let at = |i: usize| i == 0 || text[i - 1] == b'\n';
            let outside = |from: usize, to: usize| {
                text[from..to]
                    .windows(l.len())
                    .enumerate()
                    .any(|(i, w)| w == l && at(from + i))
            };
            outside(0, start) || outside(end, text.len())
        })
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
pub(super) fn governance_text(text: &str) -> Option<&str> {
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
