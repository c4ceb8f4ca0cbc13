//! A read-only reader of git's index file (format versions 2, 3 and 4).
//!
//! Why not `git2::Index`: libgit2 verifies the trailing SHA-1 (collision-detecting, slow)
//! and builds a path hash map on every load; on a 100,000-file repository that is ~80 ms of
//! CPU, while git itself skips both and needs ~10 ms. A hook must be instant, so the common
//! case is parsed here in one pass into one path arena. Anything unusual (split index, an
//! unknown version, a malformed file) falls back to libgit2, so correctness never depends on
//! this fast path.

use std::ops::Range;
use std::path::Path;

use git2::Oid;

use crate::ScanError;

/// One index entry, as much as the gate needs.
#[derive(Debug, Clone)]
pub struct Entry {
    path: Range<usize>,
    pub mode: u32,
    pub id: Oid,
    /// 0 normally; 1-3 during a merge conflict.
    pub stage: u8,
    /// `git add -N` placeholder.
    pub intent_to_add: bool,
}

/// The entries of one index file, sorted by path (then stage) as git stores them.
#[derive(Debug, Default)]
pub struct StagedIndex {
    arena: Vec<u8>,
    entries: Vec<Entry>,
}

const HEADER: usize = 12;
const FIXED: usize = 62; // stat data (40) + oid (20) + flags (2)
const FLAG_EXTENDED: u16 = 0x4000;
const EXT_INTENT_TO_ADD: u16 = 1 << 13;

impl StagedIndex {
    /// Read the index at `path`; a missing file is an empty index (a fresh repository).
    pub fn open(path: &Path) -> Result<Self, ScanError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ScanError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        match Self::parse(&data) {
            Some(idx) => Ok(idx),
            None => Self::via_libgit2(path),
        }
    }

    /// The slow, general path: whatever libgit2 can read.
    fn via_libgit2(path: &Path) -> Result<Self, ScanError> {
        let index = git2::Index::open(path).map_err(|source| ScanError::Git {
            what: format!("cannot read the git index {}", path.display()),
            source,
        })?;
        let mut out = StagedIndex::default();
        for e in index.iter() {
            let start = out.arena.len();
            out.arena.extend_from_slice(&e.path);
            out.entries.push(Entry {
                path: start..out.arena.len(),
                mode: e.mode,
                id: e.id,
                stage: ((e.flags >> 12) & 3) as u8,
                intent_to_add: e.flags_extended & EXT_INTENT_TO_ADD != 0,
            });
        }
        Ok(out)
    }

    /// Parse the common formats; `None` means "let libgit2 handle it".
    pub fn parse(data: &[u8]) -> Option<Self> {
        if data.len() < HEADER + 20 || &data[..4] != b"DIRC" {
            return None;
        }
        let be32 = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
        };
        let version = be32(4)?;
        if !(2..=4).contains(&version) {
            return None;
        }
        let count = be32(8)? as usize;
        let end = data.len() - 20; // trailing checksum (not verified, as git does)
        let mut out = StagedIndex {
            arena: Vec::with_capacity(count.saturating_mul(32).min(end)),
            entries: Vec::with_capacity(count.min(end / FIXED)),
        };
        let mut at = HEADER;
        let mut prev: Range<usize> = 0..0;
        for _ in 0..count {
            let fixed = data.get(at..at + FIXED)?;
            let mode = u32::from_be_bytes(fixed[24..28].try_into().ok()?);
            let id = Oid::from_bytes(&fixed[40..60]).ok()?;
            let flags = u16::from_be_bytes(fixed[60..62].try_into().ok()?);
            let mut name_at = at + FIXED;
            let mut intent_to_add = false;
            if flags & FLAG_EXTENDED != 0 {
                if version < 3 {
                    return None;
                }
                let ext = u16::from_be_bytes(data.get(name_at..name_at + 2)?.try_into().ok()?);
                intent_to_add = ext & EXT_INTENT_TO_ADD != 0;
                name_at += 2;
            }
            let start = out.arena.len();
            if version == 4 {
                // Prefix compression: drop `strip` bytes from the previous path, add a suffix.
                let (strip, used) = varint(data.get(name_at..end)?)?;
                name_at += used;
                let keep = prev.len().checked_sub(strip)?;
                let nul = memchr0(data.get(name_at..end)?)?;
                out.arena.extend_from_within(prev.start..prev.start + keep);
                out.arena.extend_from_slice(&data[name_at..name_at + nul]);
                at = name_at + nul + 1;
            } else {
                let nul = memchr0(data.get(name_at..end)?)?;
                out.arena.extend_from_slice(&data[name_at..name_at + nul]);
                // Entries are NUL-padded to a multiple of 8 bytes.
                let len = name_at - at + nul;
                at += (len + 8) & !7;
            }
            prev = start..out.arena.len();
            out.entries.push(Entry {
                path: prev.clone(),
                mode,
                id,
                stage: ((flags >> 12) & 3) as u8,
                intent_to_add,
            });
        }
        // Extensions: a split index ("link") keeps entries elsewhere; let libgit2 decide.
        while at + 8 <= end {
            let sig = &data[at..at + 4];
            let size = be32(at + 4)? as usize;
            if sig == b"link" {
                return None;
            }
            at = at.checked_add(8 + size)?;
        }
        Some(out)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn path(&self, e: &Entry) -> &[u8] {
        &self.arena[e.path.clone()]
    }

    /// The stage-0 entry at `path`.
    pub fn get(&self, path: &[u8]) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| self.path(e) < path);
        self.entries[i..]
            .iter()
            .take_while(|e| self.path(e) == path)
            .find(|e| e.stage == 0)
    }

    /// Stage-0 entries whose path starts with `prefix`, in order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a Entry> + 'a {
        let i = self.entries.partition_point(|e| self.path(e) < prefix);
        self.entries[i..]
            .iter()
            .take_while(move |e| self.path(e).starts_with(prefix))
            .filter(|e| e.stage == 0)
    }
}

fn memchr0(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == 0)
}

/// git's offset varint (used by index v4 and pack files).
fn varint(s: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    let mut b = *s.first()?;
    let mut v = usize::from(b & 0x7f);
    while b & 0x80 != 0 {
        i += 1;
        b = *s.get(i)?;
        v = v.checked_add(1)?.checked_shl(7)? | usize::from(b & 0x7f);
    }
    Some((v, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same entries as libgit2 sees, for index versions 2, 3 (with intent-to-add) and 4.
    #[test]
    fn matches_libgit2_for_every_version() {
        for version in ["2", "3", "4"] {
            let tmp = tempfile::tempdir().unwrap();
            let git = |args: &[&str]| {
                let st = std::process::Command::new("git")
                    .current_dir(tmp.path())
                    .env_remove("GIT_INDEX_FILE")
                    .env_remove("GIT_DIR")
                    .args(args)
                    .status()
                    .unwrap();
                assert!(st.success(), "git {args:?}");
            };
            git(&["init", "-q"]);
            for p in ["a.py", "dir/b.py", "dir/sub/c.py", "dir/sub/cc.py", "z z.txt"] {
                let f = tmp.path().join(p);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(&f, p).unwrap();
            }
            let long = "l".repeat(5000);
            std::fs::write(tmp.path().join(&long), "x").unwrap();
            git(&["add", "."]);
            std::fs::write(tmp.path().join("later.py"), "x").unwrap();
            git(&["add", "-N", "later.py"]);
            git(&["update-index", "--index-version", version]);

            let path = tmp.path().join(".git/index");
            let data = std::fs::read(&path).unwrap();
            let ours = StagedIndex::parse(&data).expect("fast path handles it");
            let theirs = git2::Index::open(&path).unwrap();
            assert_eq!(ours.entries().len(), theirs.len(), "v{version}");
            for (a, b) in ours.entries().iter().zip(theirs.iter()) {
                assert_eq!(ours.path(a), &b.path[..], "v{version}");
                assert_eq!(a.id, b.id);
                assert_eq!(a.mode, b.mode);
                assert_eq!(
                    a.intent_to_add,
                    b.flags_extended & EXT_INTENT_TO_ADD != 0,
                    "v{version}"
                );
            }
            assert!(ours.get(b"dir/sub/c.py").is_some());
            assert!(ours.get(b"dir/sub").is_none());
            assert!(ours.get(long.as_bytes()).is_some());
            assert_eq!(ours.with_prefix(b"dir/sub/").count(), 2);
        }
    }

    #[test]
    fn garbage_is_left_to_libgit2() {
        assert!(StagedIndex::parse(b"not an index at all, clearly not").is_none());
        let mut truncated = b"DIRC\0\0\0\x02\0\0\0\x05".to_vec();
        truncated.extend_from_slice(&[0u8; 30]);
        assert!(StagedIndex::parse(&truncated).is_none());
    }
}
