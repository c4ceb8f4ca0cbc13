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

use crate::Error;

/// One index entry, as much as the gate needs. Fields are decoded when asked for, so
/// loading 100,000 entries writes only these 12 bytes each.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Offset of the fixed-size part in the index file.
    at: u32,
    /// Path: a range of the index file (v2/v3) or of the arena (v4).
    path_start: u32,
    path_len: u32,
}

/// The entries of one index file, sorted by path (then stage) as git stores them.
#[derive(Debug, Default)]
pub struct StagedIndex {
    data: Vec<u8>,
    /// Decompressed paths for index v4 (empty for v2/v3, whose paths are read in place).
    arena: Vec<u8>,
    v4: bool,
    entries: Vec<Entry>,
}

const HEADER: usize = 12;
const FIXED: usize = 62; // stat data (40) + oid (20) + flags (2)
const FLAG_EXTENDED: u16 = 0x4000;
const EXT_INTENT_TO_ADD: u16 = 1 << 13;

impl StagedIndex {
    /// Read the index at `path`; a missing file is an empty index (a fresh repository).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(Error::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        match Self::parse(data) {
            Some(idx) => Ok(idx),
            None => Self::via_libgit2(path),
        }
    }

    /// The slow, general path: whatever libgit2 can read, re-encoded as a v4-style arena.
    fn via_libgit2(path: &Path) -> Result<Self, Error> {
        let index = git2::Index::open(path).map_err(|source| Error::Git {
            what: format!("cannot read the git index {}", path.display()),
            error: source,
        })?;
        let mut out = StagedIndex {
            v4: true,
            ..Self::default()
        };
        for e in index.iter() {
            let at = out.data.len();
            let mut fixed = [0u8; FIXED + 2];
            fixed[24..28].copy_from_slice(&e.mode.to_be_bytes());
            fixed[40..60].copy_from_slice(e.id.as_bytes());
            fixed[60..62].copy_from_slice(&(e.flags | FLAG_EXTENDED).to_be_bytes());
            fixed[62..64].copy_from_slice(&e.flags_extended.to_be_bytes());
            out.data.extend_from_slice(&fixed);
            let start = out.arena.len();
            out.arena.extend_from_slice(&e.path);
            out.entries.push(Entry {
                at: u32::try_from(at).map_err(|_| too_big(path))?,
                path_start: u32::try_from(start).map_err(|_| too_big(path))?,
                path_len: u32::try_from(e.path.len()).map_err(|_| too_big(path))?,
            });
        }
        Ok(out)
    }

    /// Parse the common formats; `None` means "let libgit2 handle it".
    pub fn parse(data: Vec<u8>) -> Option<Self> {
        if data.len() < HEADER + 20 || data.len() > u32::MAX as usize || &data[..4] != b"DIRC" {
            return None;
        }
        let be32 = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
        };
        let version = be32(4)?;
        if !(2..=4).contains(&version) {
            return None;
        }
        let v4 = version == 4;
        let count = be32(8)? as usize;
        let end = data.len() - 20; // trailing checksum (not verified, as git does)
        let mut entries = Vec::with_capacity(count.min(end / FIXED));
        let mut arena = Vec::new();
        let mut at = HEADER;
        let mut prev: Range<usize> = 0..0;
        for _ in 0..count {
            let fixed = data.get(at..at + FIXED)?;
            let flags = u16::from_be_bytes(fixed[60..62].try_into().ok()?);
            let mut name_at = at + FIXED;
            if flags & FLAG_EXTENDED != 0 {
                if version < 3 {
                    return None;
                }
                name_at += 2;
            }
            let path = if v4 {
                // Prefix compression: drop `strip` bytes from the previous path, add a suffix.
                let (strip, used) = varint(data.get(name_at..end)?)?;
                name_at += used;
                let keep = prev.len().checked_sub(strip)?;
                let nul = memchr0(data.get(name_at..end)?)?;
                let start = arena.len();
                arena.extend_from_within(prev.start..prev.start + keep);
                arena.extend_from_slice(&data[name_at..name_at + nul]);
                prev = start..arena.len();
                let entry_at = at;
                at = name_at + nul + 1;
                (entry_at, prev.clone())
            } else {
                let nul = memchr0(data.get(name_at..end)?)?;
                let entry_at = at;
                // Entries are NUL-padded to a multiple of 8 bytes.
                let len = name_at - at + nul;
                at += (len + 8) & !7;
                (entry_at, name_at..name_at + nul)
            };
            entries.push(Entry {
                at: path.0 as u32,
                path_start: u32::try_from(path.1.start).ok()?,
                path_len: u32::try_from(path.1.len()).ok()?,
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
        Some(StagedIndex {
            data,
            arena,
            v4,
            entries,
        })
    }

    fn fixed(&self, e: &Entry) -> &[u8] {
        &self.data[e.at as usize..e.at as usize + FIXED + 2]
    }

    pub fn mode(&self, e: &Entry) -> u32 {
        u32::from_be_bytes(self.fixed(e)[24..28].try_into().expect("4 bytes"))
    }

    pub fn id(&self, e: &Entry) -> Oid {
        Oid::from_bytes(&self.fixed(e)[40..60]).expect("20 bytes")
    }

    fn flags(&self, e: &Entry) -> u16 {
        u16::from_be_bytes(self.fixed(e)[60..62].try_into().expect("2 bytes"))
    }

    /// 0 normally; 1-3 during a merge conflict.
    pub fn stage(&self, e: &Entry) -> u8 {
        ((self.flags(e) >> 12) & 3) as u8
    }

    /// `git add -N` placeholder.
    pub fn intent_to_add(&self, e: &Entry) -> bool {
        self.flags(e) & FLAG_EXTENDED != 0
            && u16::from_be_bytes(self.fixed(e)[62..64].try_into().expect("2 bytes"))
                & EXT_INTENT_TO_ADD
                != 0
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn path(&self, e: &Entry) -> &[u8] {
        let r = e.path_start as usize..(e.path_start + e.path_len) as usize;
        if self.v4 {
            &self.arena[r]
        } else {
            &self.data[r]
        }
    }

    /// The stage-0 entry at `path`.
    pub fn get(&self, path: &[u8]) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| self.path(e) < path);
        self.entries[i..]
            .iter()
            .take_while(|e| self.path(e) == path)
            .find(|e| self.stage(e) == 0)
    }

    /// Stage-0 entries whose path starts with `prefix`, in order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a Entry> + 'a {
        let i = self.entries.partition_point(|e| self.path(e) < prefix);
        self.entries[i..]
            .iter()
            .take_while(move |e| self.path(e).starts_with(prefix))
            .filter(|e| self.stage(e) == 0)
    }
}

fn too_big(path: &Path) -> Error {
    Error::IndexTooLarge {
        path: path.display().to_string(),
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
                let out = std::process::Command::new("git")
                    .current_dir(tmp.path())
                    .env_remove("GIT_INDEX_FILE")
                    .env_remove("GIT_DIR")
                    .args(args)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "git {args:?}");
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            };
            git(&["init", "-q"]);
            for p in [
                "a.py",
                "dir/b.py",
                "dir/sub/c.py",
                "dir/sub/cc.py",
                "z z.txt",
            ] {
                let f = tmp.path().join(p);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(&f, p).unwrap();
            }
            git(&["add", "."]);
            std::fs::write(tmp.path().join("later.py"), "x").unwrap();
            git(&["add", "-N", "later.py"]);
            git(&["update-index", "--index-version", version]);

            let path = tmp.path().join(".git/index");
            let data = std::fs::read(&path).unwrap();
            let ours = StagedIndex::parse(data).expect("fast path handles it");
            let theirs = git2::Index::open(&path).unwrap();
            assert_eq!(ours.entries().len(), theirs.len(), "v{version}");
            for (a, b) in ours.entries().iter().zip(theirs.iter()) {
                assert_eq!(ours.path(a), &b.path[..], "v{version}");
                assert_eq!(ours.id(a), b.id);
                assert_eq!(ours.mode(a), b.mode);
                assert_eq!(ours.stage(a), 0);
                assert_eq!(
                    ours.intent_to_add(a),
                    b.flags_extended & EXT_INTENT_TO_ADD != 0,
                    "v{version}"
                );
            }
            assert!(ours.get(b"dir/sub/c.py").is_some());
            assert!(ours.get(b"dir/sub").is_none());
            assert_eq!(ours.with_prefix(b"dir/sub/").count(), 2);

            // A path longer than the 12-bit length field (0xFFF), added without a file.
            // (libgit2 1.9 rejects such an index; git and this reader do not.)
            let long = vec!["d".repeat(200); 21].join("/");
            let oid = git(&["rev-parse", ":a.py"]);
            git(&[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{oid},{long}"),
            ]);
            let ours = StagedIndex::parse(std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(
                ours.get(long.as_bytes()).map(|e| ours.id(e).to_string()),
                Some(oid)
            );
            assert!(
                ours.get(b"z z.txt").is_some(),
                "entries after the long one still parse"
            );
        }
    }

    #[test]
    fn garbage_is_left_to_libgit2() {
        assert!(StagedIndex::parse(b"not an index at all, clearly not".to_vec()).is_none());
        let mut truncated = b"DIRC\0\0\0\x02\0\0\0\x05".to_vec();
        truncated.extend_from_slice(&[0u8; 30]);
        assert!(StagedIndex::parse(truncated).is_none());
    }
}
